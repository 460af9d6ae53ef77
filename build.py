#!/usr/bin/env python3
"""Build cooperate: fetch and vendor the run-time dependencies, write the zipapp.

    python3 build.py              build/vendor/ and dist/cooperate.pyz
    python3 build.py --vendor     only build/vendor/ (what bin/cooperate and the tests use)
    python3 build.py --links      the program names `make install` links to the archive
    python3 build.py --sources    the archive's inputs, for the Makefile

The two dependencies are pinned by version and sha256 and fetched once with
`pip download` into build/downloads/; later builds reuse the verified files and
need no network. Only their pure-Python sources go into the archive (zipimport
cannot load C extensions), with their licences.

The archive is reproducible: the same sources and the same building interpreter
give the same bytes (sorted entries, fixed timestamps from SOURCE_DATE_EPOCH or
a constant, fixed permissions, each .pyc compiled in a fresh interpreter with a
fixed hash seed). Standard library only; runs on Python 3.6 and later (3.6
writes no .pycs: its zipimport knows no hash-based ones).
"""

import argparse
import concurrent.futures
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.abspath(__file__))
LIB = os.path.join(ROOT, "lib")
BUILD = os.path.join(ROOT, "build")
VENDOR = os.path.join(BUILD, "vendor")
DOWNLOADS = os.path.join(BUILD, "downloads")
OUTPUT = os.path.join(ROOT, "dist", "cooperate.pyz")
STAMP = "VENDORED.txt"  # in build/vendor: what is there, and the Makefile's stamp

# What `pip download` is asked for, the file it must give, and that file's
# sha256; per interpreter where the registry gives it different files.
if sys.version_info >= (3, 8):
    PYYAML = {
        "name": "PyYAML",
        "pip": ["--no-binary", "pyyaml", "pyyaml==6.0.3"],
        "file": "pyyaml-6.0.3.tar.gz",
        "sha256": "d76623373421df22fb4cf8817020cbb7ef15c725b9d5e45f17e189bfc384190f",
    }
else:
    # PyYAML 6.0.2 and later declare Python >= 3.8, so pip on 3.6 and 3.7
    # finds nothing newer than 6.0.1 (the same pure-Python library). pip 18
    # (Python 3.6) prepares an sdist in an isolated environment it cannot
    # build (Cython < 3 from the registry): it uses this Python's setuptools.
    PYYAML = {
        "name": "PyYAML",
        "pip": ["--no-build-isolation", "--no-binary", "pyyaml", "pyyaml==6.0.1"],
        "file": "PyYAML-6.0.1.tar.gz",
        "sha256": "bfdf460b1736c775f2ba9f6a92bca30bc2095067b8a9d77876d1fad6cc3b4a43",
    }
DEPENDENCIES = [
    PYYAML,
    {
        "name": "portalocker",
        # the last release that runs on Python 3.6 (2.8 and later need 3.8)
        "pip": ["--only-binary", ":all:", "portalocker==2.7.0"],
        "file": "portalocker-2.7.0-py2.py3-none-any.whl",
        "sha256": "a07c5b4f3985c3cf4798369631fb7011adb498e2a46d8440efc75a8f29a0f983",
    },
]

SHEBANG = b"#!/usr/bin/env python3\n"
# What the archive holds at its top besides the packages: the entry point,
# the start on other Pythons than the building one, and what keeps the
# modules they compiled in the user's cache folder. The entry point's line
# naming the magic number of the archive's own .pyc files is filled in by
# the build.
TOP_FILES = {name: os.path.join(ROOT, "archive", name)
             for name in ("__main__.py", "__start__.py", "__cache__.py")}
MAIN_MAGIC = b'ARCHIVE_MAGIC = b""'
DEFAULT_DATE = (2020, 1, 1, 0, 0, 0)  # zip times have no zone; used without SOURCE_DATE_EPOCH
FILE_MODE = 0o644
DIR_MODE = 0o755

# Measured with /usr/bin/python3 3.11, median of 150 (python3 -c pass: 10 ms):
# `cooperate.pyz --help` 15.6 ms with pycs, 17.4 ms without; importing PyYAML
# and portalocker from the archive 50 ms with pycs, 100 ms without. Stored
# entries were 0.3 ms (--help) to 2 ms (imports) faster than deflated ones,
# for an archive three times larger (about 0.8 MB), and do not depend on the
# zlib version.
COMPRESSION = {"stored": zipfile.ZIP_STORED, "deflated": zipfile.ZIP_DEFLATED}
DEFAULT_COMPRESSION = "stored"

# Compiles one source in a fresh interpreter: marshal output may depend on
# the state of the process (reference counts decide FLAG_REF, on 3.8 at least)
# and, before 3.11, on the hash seed (order of frozenset constants).
COMPILER = r"""
import importlib.util, marshal, sys
name = sys.argv[1]
source = sys.stdin.buffer.read()
code = compile(source, name, "exec", dont_inherit=True, optimize=0)
flags = (1).to_bytes(4, "little")  # hash-based, unchecked: zipimport never stats the source
sys.stdout.buffer.write(importlib.util.MAGIC_NUMBER + flags
                        + importlib.util.source_hash(source) + marshal.dumps(code))
"""


class BuildError(Exception):
    """A failure with a one-line explanation; build.py prints it and exits 1."""


def say(message):
    print("build.py: " + message, file=sys.stderr, flush=True)


def relative(path):
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


# -- fetching ----------------------------------------------------------------


def fetch(downloads):
    """Path of each pinned file, downloaded if missing; every hash verified."""
    os.makedirs(downloads, exist_ok=True)
    paths = {}
    for dep in DEPENDENCIES:
        path = os.path.join(downloads, dep["file"])
        if not os.path.exists(path):
            download(dep, downloads)
        actual = sha256_of(path)
        if actual != dep["sha256"]:
            raise BuildError("%s: sha256 %s, expected %s; delete it to fetch it again"
                             % (relative(path), actual, dep["sha256"]))
        paths[dep["name"]] = path
    return paths


def download(dep, downloads):
    """pip download into a fresh folder; only a file with the pinned hash is
    moved into downloads/, so what lies there was verified once."""
    say("fetching %s" % dep["file"])
    scratch = tempfile.mkdtemp(prefix=".fetch-", dir=downloads)
    try:
        env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
        env.pop("PIP_REQUIRE_VIRTUALENV", None)
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                   "-d", scratch] + dep["pip"]
        result = subprocess.run(command, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            sys.stderr.write(result.stdout.decode("utf-8", "replace"))
            raise BuildError("pip download %s failed (exit %d)"
                             % (" ".join(dep["pip"]), result.returncode))
        found = os.listdir(scratch)
        match = [f for f in found if f.lower() == dep["file"].lower()]
        if not match:
            raise BuildError("pip download %s gave %s, expected %s"
                             % (" ".join(dep["pip"]), ", ".join(found) or "nothing",
                                dep["file"]))
        got = os.path.join(scratch, match[0])
        actual = sha256_of(got)
        if actual != dep["sha256"]:
            raise BuildError("downloaded %s has sha256 %s, expected %s"
                             % (dep["file"], actual, dep["sha256"]))
        os.replace(got, os.path.join(downloads, dep["file"]))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# -- the vendored sources ----------------------------------------------------


def vendored_files(paths):
    """{path relative to build/vendor: bytes} from the verified downloads.

    Read member by member, nothing is extracted, so no member name can write
    outside build/vendor."""
    files = {}
    with tarfile.open(paths["PyYAML"], "r:gz") as sdist:
        for member in sdist.getmembers():
            parts = member.name.split("/")
            if not member.isfile():
                continue
            if parts[1:] == ["LICENSE"]:
                files["LICENSES/PyYAML.txt"] = sdist.extractfile(member).read()
            elif (len(parts) == 4 and parts[1:3] == ["lib", "yaml"]
                  and parts[3].endswith(".py")):
                files["yaml/" + parts[3]] = sdist.extractfile(member).read()
    with zipfile.ZipFile(paths["portalocker"]) as wheel:
        for name in wheel.namelist():
            parts = name.split("/")
            if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "LICENSE":
                files["LICENSES/portalocker.txt"] = wheel.read(name)
            elif len(parts) == 2 and parts[0] == "portalocker" and (
                    parts[1].endswith(".py") or parts[1] == "py.typed"):
                # redis.py is left out: we never use Redis locks, and with the
                # redis package installed it would import it at every start.
                # Without it `from .redis import RedisLock` fails and
                # portalocker sets RedisLock = None, as it does without redis.
                if parts[1] != "redis.py":
                    files[name] = wheel.read(name)
    for needed in ("yaml/__init__.py", "portalocker/__init__.py",
                   "LICENSES/PyYAML.txt", "LICENSES/portalocker.txt"):
        if needed not in files:
            raise BuildError("%s not found in the downloaded files" % needed)
    return files


def stamp_text():
    return "".join("%s %s sha256=%s\n" % (dep["name"], dep["file"], dep["sha256"])
                   for dep in DEPENDENCIES)


def write_vendor(files, vendor):
    """Make build/vendor hold exactly `files` (plus the stamp); leave it alone,
    stamp and all, when it already does."""
    stamp = os.path.join(vendor, STAMP)
    wanted = dict(files)
    wanted[STAMP] = stamp_text().encode()
    if current_vendor(vendor) == wanted:
        say("%s is up to date" % relative(vendor))
        return
    for top in sorted({name.split("/")[0] for name in files}):
        shutil.rmtree(os.path.join(vendor, top), ignore_errors=True)
    if os.path.exists(stamp):
        os.remove(stamp)
    for name, data in sorted(files.items()):
        path = os.path.join(vendor, *name.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    with open(stamp, "w") as f:  # last: a complete tree is one with a stamp
        f.write(stamp_text())
    say("wrote %s (%s)" % (relative(vendor), ", ".join(
        "%s %s" % (d["name"], d["file"]) for d in DEPENDENCIES)))


def current_vendor(vendor):
    found = {}
    for folder, dirs, names in os.walk(vendor):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, vendor).replace(os.sep, "/")] = f.read()
    return found


# -- the project's own sources -----------------------------------------------


def skipped(name):
    return (name.startswith(".") or name == "__pycache__" or name.endswith("~")
            or name.endswith((".pyc", ".pyo")))


def source_files(lib=LIB):
    """{archive name: path} of every package under lib/ (each folder with an
    __init__.py: its modules and data files, recursively) and of the modules
    at the top of lib/."""
    files = {}
    for top in sorted(os.listdir(lib)):
        path = os.path.join(lib, top)
        if skipped(top):
            continue
        if os.path.isfile(path):
            if top.endswith(".py"):
                files[top] = path
            continue
        if not os.path.isfile(os.path.join(path, "__init__.py")):
            say("skipping lib/%s: not a package (no __init__.py)" % top)
            continue
        for folder, dirs, names in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not skipped(d))
            for name in sorted(names):
                if not skipped(name):
                    full = os.path.join(folder, name)
                    files[os.path.relpath(full, lib).replace(os.sep, "/")] = full
    return files


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write_source_list(paths):
    """build/sources.list: rewritten only when the set of inputs changes, so
    that make rebuilds the archive when a file is removed or added."""
    text = "".join(p + "\n" for p in paths)
    path = os.path.join(BUILD, "sources.list")
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except OSError:
        pass
    os.makedirs(BUILD, exist_ok=True)
    tmp = "%s.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# -- the archive -------------------------------------------------------------


def build_date():
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        return DEFAULT_DATE
    try:
        seconds = int(epoch)
    except ValueError:
        raise BuildError("SOURCE_DATE_EPOCH=%r is not a whole number of seconds" % epoch)
    # the zip format counts from 1980 to 2107, in two-second steps
    seconds = min(max(seconds, 315532800), 4354819198)
    return time.gmtime(seconds)[:6]


def compile_pycs(sources):
    """{archive name of the .py: legacy .pyc bytes}, each compiled with this
    interpreter in a fresh process (PYTHONHASHSEED=0, no site)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONHASHSEED"] = "0"

    def one(item):
        name, data = item
        result = subprocess.run([sys.executable, "-S", "-s", "-c", COMPILER, name],
                                input=data, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        if result.returncode != 0:
            lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
            raise BuildError("cannot compile %s: %s" % (name, lines[-1] if lines else "?"))
        return name, result.stdout

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return dict(pool.map(one, sorted(sources.items())))


def archive_entries(vendor_files, pyc=True):
    """{archive name: bytes}: archive/'s files, lib/'s packages, the vendored
    packages and licences; with pyc, a .pyc beside every .py."""
    import importlib.util

    entries = {name: read(path) for name, path in TOP_FILES.items()}
    if entries["__main__.py"].count(MAIN_MAGIC) != 1:
        raise BuildError("%s has no line %s" % (relative(TOP_FILES["__main__.py"]),
                                                MAIN_MAGIC.decode()))
    if pyc:
        entries["__main__.py"] = entries["__main__.py"].replace(
            MAIN_MAGIC, b"ARCHIVE_MAGIC = %r" % importlib.util.MAGIC_NUMBER)
    for name, path in source_files().items():
        entries[name] = read(path)
    for name, data in vendor_files.items():
        if name in entries:
            raise BuildError("%s is both in lib/ and vendored" % name)
        entries[name] = data
    if pyc:
        sources = {n: d for n, d in entries.items() if n.endswith(".py")}
        for name, data in compile_pycs(sources).items():
            entries[name + "c"] = data
    return entries


def write_archive(entries, output, compression):
    date = build_date()
    folders = set()
    for name in entries:
        parts = name.split("/")[:-1]
        folders.update("/".join(parts[:i]) + "/" for i in range(1, len(parts) + 1))
    buffer = io.BytesIO()
    buffer.write(SHEBANG)
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(set(entries) | folders):
            info = zipfile.ZipInfo(name, date_time=date)
            info.create_system = 3  # unix, so that the modes below mean something
            if name.endswith("/"):
                info.external_attr = (0o040000 | DIR_MODE) << 16 | 0x10
                archive.writestr(info, b"")
            else:
                info.external_attr = (0o100000 | FILE_MODE) << 16
                info.compress_type = compression
                if compression == zipfile.ZIP_DEFLATED and sys.version_info >= (3, 7):
                    archive.writestr(info, entries[name], compresslevel=9)
                else:  # Python 3.6 has no compresslevel: zlib's default
                    archive.writestr(info, entries[name])
    data = buffer.getvalue()
    folder = os.path.dirname(os.path.abspath(output))
    os.makedirs(folder, exist_ok=True)
    # a new file renamed over the old one: running workers keep reading the
    # archive they started with
    fd, tmp = tempfile.mkstemp(prefix=".cooperate-", suffix=".pyz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o755)
        os.replace(tmp, output)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return len(data)


# -- the command line --------------------------------------------------------


def links():
    """The program names: cooperate (`cooperate status ...`) and those of
    cooperate.cli.LINKS, read from lib/ itself."""
    sys.dont_write_bytecode = True
    sys.path.insert(0, LIB)
    from cooperate.cli import LINKS, PROGRAM
    return sorted(set(LINKS) | {PROGRAM})


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="build.py",
        description="Fetch and vendor PyYAML and portalocker into build/vendor/, "
                    "then write the zipapp dist/cooperate.pyz.",
        epilog="Downloads are kept in build/downloads/ and reused once their "
               "sha256 matches; delete a file there to fetch it again.")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--vendor", action="store_true",
                      help="only fetch and write build/vendor/")
    what.add_argument("--links", action="store_true",
                      help="print the program names that `make install` links to the archive")
    what.add_argument("--sources", action="store_true",
                      help="print the archive's inputs under lib/ (for the Makefile) and "
                           "record their list in build/sources.list")
    parser.add_argument("-o", "--output", default=OUTPUT, metavar="PATH",
                        help="where to write the archive (default: dist/cooperate.pyz)")
    parser.add_argument("--downloads", default=DOWNLOADS, metavar="DIR",
                        help="where the pinned downloads are kept (default: build/downloads)")
    parser.add_argument("--vendor-dir", default=VENDOR, metavar="DIR",
                        help="where the vendored sources are written for a checkout "
                             "(default: build/vendor)")
    parser.add_argument("--no-pyc", dest="pyc", action="store_false",
                        help="ship only .py files (default: also .pyc for this Python)")
    parser.add_argument("--compression", choices=sorted(COMPRESSION),
                        default=DEFAULT_COMPRESSION,
                        help="how entries are stored (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.links:
        print("\n".join(links()))
        return 0
    if args.sources:
        paths = sorted([os.path.relpath(p, ROOT) for p in source_files().values()]
                       + [os.path.relpath(p, ROOT) for p in TOP_FILES.values()])
        write_source_list(paths)
        print("\n".join(paths))
        return 0
    try:
        started = time.time()
        vendor_files = vendored_files(fetch(args.downloads))
        write_vendor(vendor_files, args.vendor_dir)
        if args.vendor:
            return 0
        # hash-based pycs (PEP 552) came with 3.7
        pyc = args.pyc and sys.version_info >= (3, 7)
        entries = archive_entries(vendor_files, pyc=pyc)
        size = write_archive(entries, args.output, COMPRESSION[args.compression])
        say("wrote %s (%d entries%s, %s, %d KiB) in %.1f s" % (
            relative(args.output), len(entries), ", with pycs for Python %d.%d"
            % sys.version_info[:2] if pyc else "", args.compression,
            (size + 1023) // 1024, time.time() - started))
        return 0
    except BuildError as error:
        say("error: %s" % error)
        return 1


if __name__ == "__main__":
    sys.exit(main())
