"""The archive's modules compiled by other Pythons, cached in the user's cache
folder (archive/__cache__.py): made on the first start, used on the next,
only from a folder that is the user's alone, never for another archive, and
not written under `python -B`. Tried with an archive built without .pyc
files (so that every Python, this one included, uses the cache) and with
the archive `make` builds, under every Python found here."""

import marshal
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from test_archive import PYTHON_PARAMS
from util import TOP

BUILD = os.path.join(TOP, "build.py")
FORMAT = b"cooperate bytecode 2\n"
SAY = "\nimport sys as _s; _s.stderr.write('from the cache: %s\\n' % __file__)\n"


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """An archive with no .pyc files of its own."""
    path = str(tmp_path_factory.mktemp("nopyc") / "cooperate.pyz")
    subprocess.run([sys.executable, BUILD, "--no-pyc", "-o", path], cwd=TOP, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    return path


@pytest.fixture
def box(tmp_path):
    """(a folder with a 2-entry list, the environment of a start whose
    cache folder is in tmp_path, that cache folder)."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "l.json").write_text('[["true"], ["false"]]\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    return str(work), env, str(tmp_path / "cache" / "cooperate")


def status(python, archive, cwd, env, *flags):
    result = subprocess.run([python] + list(flags) + [archive, "status", "l.json"], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("l.json: 2 entries: 2 pending"), result.stdout
    assert "Traceback" not in result.stderr
    return result


def cache_files(folder):
    return sorted(n for n in os.listdir(folder)) if os.path.isdir(folder) else []


def plant(folder, name):
    """Rewrite the cache file so that cooperate.cli.stdio, when loaded from
    it, says so (as someone who could write the folder could make it run
    anything)."""
    path = os.path.join(folder, name)
    with open(path, "rb") as f:
        data = f.read()
    start = len(FORMAT) + 4
    end = start + 4 + int.from_bytes(data[start:start + 4], "little")
    size = end + 8 + int.from_bytes(data[end:end + 4], "little")
    index = marshal.loads(data[end + 8:size])
    codes = {module: (package, data[size + a:size + b])
             for module, (package, a, b) in index.items()}
    source = open(os.path.join(TOP, "lib", "cooperate", "cli", "stdio.py")).read() + SAY
    codes["cooperate.cli.stdio"] = (False, marshal.dumps(
        compile(source, "cooperate/cli/stdio.py", "exec", dont_inherit=True)))
    with open(path, "wb") as f:
        f.write(cache_module().pack(data[:end], codes))


def cache_module():
    """archive/__cache__.py, which writes the cache files."""
    sys.path.insert(0, os.path.join(TOP, "archive"))
    try:
        import __cache__
    finally:
        sys.path.pop(0)
    return __cache__


def test_the_first_start_writes_the_cache_and_the_next_one_uses_it(archive, box):
    cwd, env, folder = box
    status(sys.executable, archive, cwd, env)
    (name,) = cache_files(folder)
    assert name.startswith(sys.implementation.cache_tag + "-") and name.endswith(".bytecode")
    assert os.stat(folder).st_mode & 0o777 == 0o700
    assert os.stat(os.path.join(folder, name)).st_mode & 0o777 == 0o600
    plant(folder, name)
    said = status(sys.executable, archive, cwd, env).stderr
    # loaded from the cache, named as in the archive
    assert said == "from the cache: %s/cooperate/cli/stdio.py\n" % archive
    assert cache_files(folder) == [name]


def test_a_folder_others_could_write_is_neither_read_nor_written(archive, box):
    cwd, env, folder = box
    status(sys.executable, archive, cwd, env)
    (name,) = cache_files(folder)
    plant(folder, name)
    os.chmod(folder, 0o770)
    assert status(sys.executable, archive, cwd, env).stderr == ""
    os.chmod(folder, 0o755)
    assert status(sys.executable, archive, cwd, env).stderr == ""
    os.remove(os.path.join(folder, name))
    status(sys.executable, archive, cwd, env)
    assert cache_files(folder) == []


@pytest.mark.skipif(os.getuid() != 0, reason="giving a folder to another user needs root")
def test_a_folder_or_file_of_another_users_is_not_read(archive, box):
    cwd, env, folder = box
    status(sys.executable, archive, cwd, env)
    (name,) = cache_files(folder)
    plant(folder, name)
    os.chown(os.path.join(folder, name), 65534, 65534)
    assert status(sys.executable, archive, cwd, env).stderr == ""
    os.chown(os.path.join(folder, name), 0, 0)
    os.chown(folder, 65534, 65534)
    assert status(sys.executable, archive, cwd, env).stderr == ""


def test_another_archive_is_compiled_anew_and_a_damaged_cache_is_replaced(archive, box, tmp_path):
    cwd, env, folder = box
    status(sys.executable, archive, cwd, env)
    (first,) = cache_files(folder)
    plant(folder, first)
    # the same sources at another date: every entry's time differs
    other = str(tmp_path / "other.pyz")
    subprocess.run([sys.executable, BUILD, "--no-pyc", "-o", other], cwd=TOP, check=True,
                   env=dict(os.environ, SOURCE_DATE_EPOCH="1700000000"),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    assert status(sys.executable, other, cwd, env).stderr == ""
    second = (set(cache_files(folder)) - {first}).pop()
    with open(os.path.join(folder, second), "r+b") as f:
        f.truncate(os.path.getsize(os.path.join(folder, second)) // 2)
    assert status(sys.executable, other, cwd, env).stderr == ""
    assert os.path.getsize(os.path.join(folder, second)) > os.path.getsize(
        os.path.join(folder, first)) // 2
    # the first archive still finds its own
    assert status(sys.executable, archive, cwd, env).stderr.startswith("from the cache")


def test_python_B_reads_the_cache_but_writes_none(archive, box):
    cwd, env, folder = box
    status(sys.executable, archive, cwd, env, "-B")
    assert cache_files(folder) == []
    status(sys.executable, archive, cwd, dict(env, PYTHONDONTWRITEBYTECODE="1"))
    assert cache_files(folder) == []
    status(sys.executable, archive, cwd, env)
    (name,) = cache_files(folder)
    plant(folder, name)
    assert status(sys.executable, archive, cwd, env, "-B").stderr.startswith("from the cache")


@pytest.mark.parametrize("python", PYTHON_PARAMS)
def test_every_python_gets_a_cache_of_its_own(python, box):
    """With the archive make builds: the Python that built it uses the
    archive's own .pyc files and writes nothing; any other one its cache."""
    cwd, env, folder = box
    built = os.path.join(TOP, "dist", "cooperate.pyz")
    archive = os.path.join(cwd, "cooperate.pyz")
    shutil.copy(built, archive)
    for _ in range(2):
        status(python, archive, cwd, env, "-I", "-S")
    tag, magic = subprocess.run(
        [python, "-I", "-S", "-c", "import sys, importlib.util as u; "
         "print(sys.implementation.cache_tag, u.MAGIC_NUMBER.hex())"],
        stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.split()
    with zipfile.ZipFile(built) as z:
        own = ("ARCHIVE_MAGIC = %r" % bytes.fromhex(magic)).encode() in z.read("__main__.py")
    names = cache_files(folder)
    if own:
        assert names == []
    else:
        assert len(names) == 1 and names[0].startswith(tag + "-"), names


def test_the_building_python_reads_the_archive_it_started_from(tmp_path, box):
    """Its own .pyc files are read from the archive it started with: a
    module imported after the archive was replaced (here by a file that is
    no archive at all) comes from the old one."""
    cwd, env, folder = box
    archive = str(tmp_path / "cooperate.pyz")
    subprocess.run([sys.executable, BUILD, "-o", archive], cwd=TOP, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    proc = subprocess.Popen([sys.executable, "-u", "-i", archive, "--version"], cwd=cwd,
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True)
    try:
        # printed: it runs, and waits at the prompt -i gives
        assert proc.stdout.readline().startswith("cooperate ")
        replacement = str(tmp_path / "new.pyz")
        with open(replacement, "w") as f:
            f.write("not an archive\n")
        os.replace(replacement, archive)
        out, err = proc.communicate("import cooperate.grid.hello as h; print(h.__file__)\n",
                                    timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert out == archive + "/cooperate/grid/hello.py\n", err
    assert cache_files(folder) == []


def test_closed_standard_streams_do_not_take_the_files_code_is_read_from(archive, box):
    """With stdin and stdout closed at start, the descriptor the modules are
    read from (the cache file's, or the building Python's archive's) is not
    0 or 1: those are opened on /dev/null (printing to a file open for
    reading would fail), and an error still reaches stderr."""
    cwd, env, folder = box
    for path in (archive, os.path.join(TOP, "dist", "cooperate.pyz")):
        status(sys.executable, path, cwd, env)
        for target, code, said in (("l.json", 0, ""), ("missing.json", 2, (
                "cooperate status: error: missing.json: no such list file\n"))):
            result = subprocess.run([sys.executable, path, "status", target], cwd=cwd, env=env,
                                    stderr=subprocess.PIPE, universal_newlines=True,
                                    preexec_fn=lambda: (os.close(0), os.close(1)), timeout=120)
            assert (result.returncode, result.stderr) == (code, said)
