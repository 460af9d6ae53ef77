# The start of the archive on a Python other than the one that built it
# (__main__.py compiles and runs this file, once, in its own namespace,
# whose __loader__ is the archive's): it loads the archive's modules
# compiled by this Python from the user's cache folder, or has __cache__.py
# compile them there once (see there: what is cached where, and why it is
# safe).
import sys

FORMAT = b"cooperate bytecode 2\n"


def cached(archive):
    """(the cached modules: their index, a descriptor of the cache file and
    where their code starts in it, or None; where they go, or None when
    nowhere)."""
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
            # the head, the sizes of the index and of the code, the index;
            # a module's code is read when it is imported
            data = os.pread(fd, len(head) + 8, 0)
            size = int.from_bytes(data[-8:-4], "little")
            if (st.st_uid == os.getuid() and data[:-8] == head
                    and st.st_size == len(data) + size + int.from_bytes(data[-4:], "little")):
                index = marshal.loads(os.pread(fd, size, len(data)))
                fd, kept = -1, fd
                return (index, kept, len(data) + size), None
        finally:
            if fd >= 0:
                os.close(fd)
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
        import os

        index, fd, base = codes
        _, begin, end = index["__cache__"]
        space = {"__name__": "__cache__"}
        exec(marshal.loads(os.pread(fd, end - begin, base + begin)), space)
        space["install"](archive, index, fd, base)


start(__loader__.archive)
