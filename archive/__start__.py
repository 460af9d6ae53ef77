# The start of the archive on a Python other than the one that built it
# (__main__.py compiles and runs this file, once, in its own namespace,
# whose __loader__ is the archive's): it loads the archive's modules
# compiled by this Python from the user's cache folder, or has __cache__.py
# compile them there once (see there: what is cached where, and why it is
# safe).
import sys

FORMAT = b"cooperate bytecode 2\n"


def cached(archive):
    """(the cached modules: their index and code, or None; where they go,
    or None when nowhere)."""
    import marshal
    import os

    magic = sys.modules["_frozen_importlib_external"].MAGIC_NUMBER
    if not sys.implementation.cache_tag:
        return None, None
    fd = os.open(archive, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        tail = os.pread(fd, min(size, 65536), max(0, size - 65536))
        if tail[-22:-18] != b"PK\x05\x06":
            return None, None
        n = int.from_bytes(tail[-10:-6], "little") + 22
        if n > len(tail):
            tail = os.pread(fd, n, size - n)
    finally:
        os.close(fd)
    base = os.environ.get("XDG_CACHE_HOME", "")
    folder = (base if base.startswith("/") else os.path.expanduser("~/.cache")) + "/cooperate"
    # named after the central directory (by a remainder: zlib's crc32 costs
    # loading a library); the head holds it whole and is what is checked
    name = "%s-%08x.bytecode" % (sys.implementation.cache_tag,
                                 int.from_bytes(tail[-n:], "little") % 4294967291)
    head = FORMAT + magic + n.to_bytes(4, "little") + tail[-n:]
    try:
        folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None, (folder, name, head)
    try:
        st = os.fstat(folder_fd)
        if st.st_uid != os.getuid() or st.st_mode & 0o077 or os.path.realpath(
                folder).startswith("/afs/"):
            return None, None
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=folder_fd)
        try:
            st = os.fstat(fd)
            data = os.read(fd, st.st_size + 1)
        finally:
            os.close(fd)
        if st.st_uid == os.getuid() and data.startswith(head) and len(data) == st.st_size:
            # the sizes of the index and of the code, the index, the code
            view = memoryview(data)[len(head):]
            size = int.from_bytes(view[:4], "little") + 8
            if len(view) == size + int.from_bytes(view[4:8], "little"):
                return (marshal.loads(view[8:size]), view[size:]), None
    except (OSError, EOFError, ValueError, TypeError):
        pass
    finally:
        os.close(folder_fd)
    return None, (folder, name, head)


def start(archive):
    try:
        codes, where = cached(archive)
    except OSError:
        return
    if codes is None and where and not sys.dont_write_bytecode:
        import __cache__

        codes = __cache__.build(archive, *where)
    if codes:
        import marshal

        index, code = codes
        space = {"__name__": "__cache__"}
        exec(marshal.loads(code[index["__cache__"][1]:index["__cache__"][2]]), space)
        space["install"](archive, index, code)


start(__loader__.archive)
