"""The archive's modules compiled by the Python that runs it, kept in the
user's cache folder (build.py stores this file as __cache__.py, beside
__main__.py and __start__.py, which reads the cache).

The archive carries compiled files (.pyc) for the Python that built it
only; any other Python compiles each module it imports, at every start:
several times Python's own start-up for a `status`. So the first start of
an archive on a Python compiles all its modules into one file:

- $XDG_CACHE_HOME/cooperate/ (else ~/.cache/cooperate/), one file per
  archive and Python, CACHE_TAG-HASH.bytecode (cpython-313-1a2b3c4d...). It
  starts with the archive's central directory (every entry's name, size,
  time and CRC-32) and is used only when that matches the archive's byte
  for byte: an archive rebuilt, replaced or edited is compiled anew;
- the folder is made with mode 0700, and the cache is read and written
  only through a descriptor of the folder found to be this user's with no
  right for anyone else (so nobody else can put or replace a file in it,
  whatever the folders above it), and only files of this user's. Never on
  AFS, whose rights are not in the mode bits. Where that fails nothing is
  cached and the toolkit runs as before, only slower: whoever could write
  the cache could make this user run their code;
- `python -B` or PYTHONDONTWRITEBYTECODE reads the cache but writes none;
  at most KEEP files per Python are kept (the oldest go).

The file holds that head (the archive's central directory, as said
above), the sizes of an index and of the code, the index ({module: (is
package, start, end)}) and every module's code, marshalled one after the
other: a start reads the head and the index, and the code of the modules
it imports only, from a descriptor of the file kept open.

The Python that built the archive needs no cache: it reads the archive's
own .pyc files (Own), more cheaply than zipimport does.

Modules loaded from the cache keep the names and paths they have in the
archive (__file__, __path__, tracebacks and their source lines), and their
code comes from memory: a worker whose archive is replaced under it goes
on with the code it started with.
"""

import marshal
import os
import sys

KEEP = 8


def build(archive, folder, name, head):
    """Compile the archive into the cache file `name` in `folder` and give
    its modules as __start__.cached does; None when the folder is not this user's alone or takes no
    file (read-only, full). Written under another name and renamed: readers
    see the old file or the whole new one."""
    try:
        os.makedirs(folder, 0o700)
    except OSError:
        pass
    try:
        folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        st = os.fstat(folder_fd)
        if st.st_uid != os.getuid() or st.st_mode & 0o077 or os.path.realpath(
                folder).startswith("/afs/"):
            return None
        tmp = ".%s.%d.tmp" % (name, os.getpid())
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600,
                         dir_fd=folder_fd)
        except OSError:
            return None
        try:
            try:
                data = pack(head, compile_archive(archive))
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.replace(tmp, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
        except OSError:
            os.unlink(tmp, dir_fd=folder_fd)
            return None
        prune(folder_fd, name)
        size = int.from_bytes(data[len(head):len(head) + 4], "little")
        base = len(head) + 8
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=folder_fd)
        except OSError:
            return None
        return marshal.loads(data[base:base + size]), fd, base + size
    finally:
        os.close(folder_fd)


def pack(head, codes):
    """The cache file's bytes: head, then the modules of `codes` ({module:
    (is package, marshalled code)}) behind their index."""
    index, parts, at = {}, [], 0
    for module, (package, code) in sorted(codes.items()):
        index[module] = (package, at, at + len(code))
        parts.append(code)
        at += len(code)
    index = marshal.dumps(index)
    return b"".join([head, len(index).to_bytes(4, "little"), at.to_bytes(4, "little"), index]
                    + parts)


def prune(folder_fd, kept):
    """Remove this Python's oldest cache files beyond KEEP."""
    prefix = sys.implementation.cache_tag + "-"
    found = []
    for other in os.listdir(folder_fd):
        if other.startswith(prefix) and other.endswith(".bytecode") and other != kept:
            try:
                found.append((os.stat(other, dir_fd=folder_fd, follow_symlinks=False).st_mtime,
                              other))
            except OSError:
                pass
    for _, other in sorted(found)[:max(0, len(found) + 1 - KEEP)]:
        try:
            os.unlink(other, dir_fd=folder_fd)
        except OSError:
            pass


def compile_archive(archive):
    """{module: (is package, marshalled code)} of every module of the
    archive, compiled by this Python under the name it has in the archive
    (as build.py compiles the archive's own .pyc files). A module this
    Python cannot compile is left out: importing it fails as it would."""
    import warnings
    import zipfile

    codes = {}
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
        for name in sorted(names):
            if not name.endswith(".py") or name in ("__main__.py", "__start__.py"):
                continue
            parts = name[:-3].split("/")
            package = parts[-1] == "__init__"
            if package:
                parts.pop()
            if not all("/".join(parts[:i]) + "/__init__.py" in names
                       for i in range(1, len(parts))):
                continue  # not inside a package: never imported by this name
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    code = compile(z.read(name), name, "exec", dont_inherit=True)
                except (SyntaxError, ValueError):
                    continue
            codes[".".join(parts)] = (package, marshal.dumps(code))
    return codes


class Bytecode:
    """Finds and loads the archive's modules from their compiled code, read
    from `fd` (the cache file's code starts at `base`); each looks as if
    zipimport had loaded it from the archive."""

    def __init__(self, archive, index, fd, base):
        self.archive = archive
        self.index = index
        self.fd = above_standard(fd)
        self.base = base
        self.sources = None

    def find_spec(self, name, path=None, target=None):
        entry = self.entry(name)
        if entry is None:
            return None
        from importlib.machinery import ModuleSpec

        folder = self.archive + "/" + name.replace(".", "/")
        spec = ModuleSpec(name, self, origin=folder + ("/__init__.py" if entry[0] else ".py"),
                          is_package=entry[0])
        spec.has_location = True
        if entry[0]:
            spec.submodule_search_locations = [folder]
        return spec

    def invalidate_caches(self):
        pass

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(self.get_code(module.__spec__.name), module.__dict__)

    def entry(self, name):
        """(is package, where its code is), or None if not the archive's."""
        return self.index.get(name)

    def get_code(self, name):
        _, start, end = self.index[name]
        data = os.pread(self.fd, end - start, self.base + start)
        if len(data) != end - start:
            raise ImportError("%s: cut short in the cache of %s" % (name, self.archive),
                              name=name)
        return marshal.loads(data)

    def is_package(self, name):
        return self.entry(name)[0]

    def get_source(self, name):
        if self.sources is None:
            import zipimport

            self.sources = zipimport.zipimporter(self.archive)
        return self.sources.get_source(name)


class Own(Bytecode):
    """On the Python that built the archive: its modules from their .pyc
    files in the archive, each found by name in the archive's central
    directory when it is imported (nothing is parsed ahead) and read from a
    descriptor of the archive kept open: zipimport opens the archive again
    for each module, by name, and an archive replaced under a running
    worker would be read at the old one's offsets."""

    def __init__(self, archive, fd, directory, shift):
        super().__init__(archive, None, fd, 0)
        self.directory = directory
        # where the zip starts in the file (after the #! line), as zipimport finds it
        self.shift = shift

    def entry(self, name):
        path = name.replace(".", "/")
        for package, suffix in ((True, "/__init__.pyc"), (False, ".pyc")):
            found = self.find((path + suffix).encode())
            if found is not None:
                return (package,) + found
        return None

    def find(self, path):
        """(compression method, size, offset of the local header) of an
        entry, or None."""
        directory = self.directory
        at = directory.find(path)
        while at >= 0:
            header = at - 46
            if (header >= 0 and directory[header:header + 4] == b"PK\x01\x02"
                    and int.from_bytes(directory[header + 28:header + 30], "little") == len(path)):
                return (int.from_bytes(directory[header + 10:header + 12], "little"),
                        int.from_bytes(directory[header + 20:header + 24], "little"),
                        self.shift + int.from_bytes(directory[header + 42:header + 46], "little"))
            at = directory.find(path, at + 1)
        return None

    def get_code(self, name):
        _, method, size, offset = self.entry(name)
        local = os.pread(self.fd, 30, offset)
        start = offset + 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(
            local[28:30], "little")
        data = os.pread(self.fd, size, start)
        damaged = ImportError("%s: damaged in %s" % (name, self.archive), name=name)
        if local[:4] != b"PK\x03\x04" or len(data) != size or method not in (0, 8):
            raise damaged
        if method == 8:  # build.py --compression deflated
            import zlib

            data = zlib.decompress(data, -15)
        if data[:4] != sys.modules["_frozen_importlib_external"].MAGIC_NUMBER:
            raise damaged
        return marshal.loads(memoryview(data)[16:])


def install_own(archive):
    """Import the archive's modules from its own .pyc files (see Own) from
    now on, as install does."""
    fd = os.open(archive, os.O_RDONLY | os.O_CLOEXEC)
    size = os.fstat(fd).st_size
    tail = os.pread(fd, min(size, 65536), max(0, size - 65536))
    n = int.from_bytes(tail[-10:-6], "little")
    if tail[-22:-18] != b"PK\x05\x06" or n + 22 > len(tail):
        os.close(fd)
        return
    shift = size - 22 - n - int.from_bytes(tail[-6:-2], "little")
    activate(archive, Own(archive, fd, tail[-22 - n:-22], shift))


def install(archive, index, fd, base):
    """Import the archive's modules from the cache file open on `fd` from
    now on: ahead of the path finder on sys.meta_path, and as the archive's
    own entry of sys.path (which spares Python reading the archive's
    directory when it looks there for modules of the standard library)."""
    activate(archive, Bytecode(archive, index, fd, base))


def above_standard(fd):
    """`fd`, moved above 0, 1 and 2 if it is one of them: a standard stream
    closed at start is opened on /dev/null later (cli/stdio.py), and must
    not become a file this process reads its code from."""
    low = []
    while fd < 3:
        low.append(fd)
        fd = os.dup(fd)
    for other in low:
        os.close(other)
    return fd


def activate(archive, finder):
    from importlib.machinery import PathFinder

    finders = sys.meta_path
    finders.insert(finders.index(PathFinder) if PathFinder in finders else 0, finder)
    sys.path_importer_cache[archive] = finder
