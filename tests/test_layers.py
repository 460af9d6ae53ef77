"""The house as drawn (docs/internals.md, Layout): which part of lib/cooperate may import
which, read from the source with ast (imports inside functions included).

- cooperate/queue/   the shared queue: imports nothing of the toolkit but itself
                     and the shared top-level modules (errors, fmt, limits, metrics);
- cooperate/run/     workers and their processes: the queue;
- cooperate/grid/    liftoff's side (grids, experiment folders): the queue;
- cooperate/results/ collect, report, the summary: the queue and the grid;
- cooperate/remote/  ssh and Slurm: the queue;
- cooperate/search/  early stopping's rules (ASHA): the queue;
- cooperate/api/     the Python API: the queue, run, grid, results and search;
- cooperate/cli/     the commands: anything;
- nothing imports cooperate.cli but the entry points, and no module of
  cooperate takes another's private (_underscored) name.
"""

import ast
import os

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(TOP, "lib")
SHARED = {"cooperate", "cooperate.errors", "cooperate.fmt", "cooperate.limits",
          "cooperate.metrics"}
ALLOWED = {
    "queue": {"queue"},
    "run": {"run", "queue"},
    "grid": {"grid", "queue"},
    "results": {"results", "grid", "queue"},
    "remote": {"remote", "queue"},
    # early stopping's rules (ASHA): they reach the worker through run/'s interface
    "search": {"search", "queue"},
    # the Python API for notebooks and driver scripts
    "api": {"api", "queue", "run", "grid", "results", "search"},
    "cli": {"cli", "queue", "run", "grid", "results", "remote", "search", "api"},
    # the shared modules themselves
    "top": set(),
}
# the one way in from outside (python -m cooperate, the archive's __main__)
ENTRY = {"cooperate.__main__"}


def modules():
    """{dotted name: path} of every module under lib/ (the toolkit and the
    liftoff shim)."""
    found = {}
    for root, dirs, names in os.walk(LIB):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                parts = os.path.relpath(path, LIB)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts.pop()
                found[".".join(parts)] = path
    return found


MODULES = modules()


def part(name):
    """The part of the house a cooperate module belongs to: its package
    under lib/cooperate, or "top" for the shared modules at the top."""
    pieces = name.split(".")
    if len(pieces) > 1 and os.path.isdir(os.path.join(LIB, "cooperate", pieces[1])):
        return pieces[1]
    return "top"


def imports(name):
    """(line, imported module, name or None) for every import in module
    `name` (relative imports resolved)."""
    path = MODULES[name]
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            for alias in node.names:
                full = "%s.%s" % (base, alias.name)
                if full in MODULES:
                    yield node.lineno, full, None
                else:
                    yield node.lineno, base, alias.name


def test_every_module_is_in_a_part_and_the_top_stays_small():
    top = [n for n in MODULES if n.startswith("cooperate") and n.count(".") == 1
           and not MODULES[n].endswith("__init__.py")]
    assert len(top) <= 12, top
    assert sorted(top) == sorted(SHARED - {"cooperate"} | ENTRY), (
        "a new module at the top of lib/cooperate: put it in the part it belongs to")
    for name, path in MODULES.items():
        if name.startswith("cooperate.") and path.endswith("__init__.py"):
            assert part(name) in ALLOWED, "%s: a package the layer rules do not know" % name


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("cooperate")))
def test_imports_go_one_way(name):
    mine = part(name)
    allowed = {"cli"} if name in ENTRY else ALLOWED[mine] | {mine}
    for line, module, _ in imports(name):
        theirs = part(module) if module.startswith("cooperate") else "top"
        assert theirs == "top" or theirs in allowed, (
            "%s:%d: %s (%s) imports %s (%s): the layers go cli -> results -> grid -> queue, "
            "cli -> run -> queue, cli -> remote -> queue" % (
                os.path.relpath(MODULES[name], TOP), line, name, mine, module, theirs))


def test_the_liftoff_shim_imports_no_command():
    for name, path in MODULES.items():
        if name.startswith("liftoff"):
            for line, module, _ in imports(name):
                assert not module.startswith("cooperate.cli"), "%s:%d" % (path, line)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("cooperate")))
def test_no_module_takes_another_modules_private_name(name):
    path = MODULES[name]
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    aliases = set()
    for line, module, imported in imports(name):
        if module.startswith(("cooperate", "liftoff")) and module != name and not (
                imported or "").startswith("__"):
            assert not (imported or "").startswith("_"), (
                "%s:%d takes %s from %s" % (path, line, imported, module))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cooperate"):
            aliases |= {a.asname or a.name for a in node.names
                        if "%s.%s" % (node.module, a.name) in MODULES}
        elif isinstance(node, ast.Import):
            aliases |= {(a.asname or a.name).split(".")[0] for a in node.names
                        if a.name.startswith("cooperate")}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and node.attr.startswith("_")
                and not node.attr.startswith("__")):
            pytest.fail("%s:%d uses %s.%s" % (path, node.lineno, node.value.id, node.attr))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_part_says_what_it_promises_and_may_import(package):
    if package == "top":
        return
    path = os.path.join(LIB, "cooperate", package, "__init__.py")
    with open(path) as f:
        doc = ast.get_docstring(ast.parse(f.read()))
    assert doc and len(doc.split()) >= 40, "%s: say what the part promises" % path
    assert "import" in doc.lower(), "%s: say what it may import" % path
