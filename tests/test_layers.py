"""The architecture, checked: imports run one way (stream → monitors → models, and in each top-level package from
the sub-packages listed later to those listed earlier), no module imports another in a cycle, a sub-package is
used through the modules its `__all__` names, and models/ never touches Kafka or Faust."""

import ast
import importlib.util
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOPS = ("models", "monitors", "stream")
KAFKA = ("faust", "kafka", "aiokafka", "mode", "confluent_kafka")
FORBIDDEN = {
    "models": KAFKA + ("recstream.stream", "recstream.monitors"),
    "monitors": KAFKA + ("recstream.stream",),
}
#: Within each top-level package, a unit (sub-package or top module) imports only units listed before it.
ORDER = {
    "models": ["errors", "stats", "memory", "data", "catalogue", "store", "artefacts", "online", "deep", "retrain", "serving", "evaluation"],
    "monitors": ["metrics", "drift", "schedule"],
    "stream": ["settings", "kafka", "ingest", "worker", "web", "client", "app", "cli"],
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["recstream", *parts])


def sources() -> dict[str, Path]:
    return {module_name(p): p for top in TOPS for p in (ROOT / top).rglob("*.py")}


def imports(path: Path, type_checking: bool = False) -> set[str]:
    """Modules `path` imports, anywhere in it (lazy imports too), less `if TYPE_CHECKING:` blocks."""
    tree = ast.parse(path.read_text())
    skipped = set()
    if not type_checking:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
                skipped.update(id(n) for b in node.body for n in ast.walk(b))
    names = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)  # `from pkg import module`
    return names


def unit(module: str) -> tuple[str, str] | None:
    parts = module.split(".")
    return (parts[1], parts[2]) if len(parts) > 2 and parts[0] == "recstream" and parts[1] in ORDER else None


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers(package):
    offenders = []
    for path in (ROOT / package).rglob("*.py"):
        for name in imports(path, type_checking=True):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[package]):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, offenders


def test_sub_packages_import_only_those_below_them():
    offenders = []
    for module, path in sources().items():
        mine = unit(module)
        if mine is None or mine[1] not in ORDER[mine[0]]:
            continue
        rank = ORDER[mine[0]].index(mine[1])
        for name in imports(path):
            theirs = unit(name)
            if theirs and theirs[0] == mine[0] and theirs[1] in ORDER[mine[0]] \
                    and ORDER[mine[0]].index(theirs[1]) > rank:
                offenders.append(f"{module} imports {name}")
    assert not offenders, offenders


def test_every_unit_has_a_place_in_the_order():
    for top in TOPS:
        found = {p.stem if p.is_file() else p.name for p in (ROOT / top).iterdir()
                 if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
        assert found == set(ORDER[top]), f"{top}/: add new units to ORDER in tests/test_layers.py"


def test_no_import_cycles():
    known = sources()
    # annotations count too: a cycle hidden under TYPE_CHECKING is still two modules that need each other
    graph = {m: {n for n in imports(p, type_checking=True) if n in known and n != m} for m, p in known.items()}
    # importing recstream.a.b.c runs recstream.a.b's __init__ too; not an edge of the cycle check
    graph = {m: {n for n in edges if not m.startswith(n + ".")} for m, edges in graph.items()}
    done: set[str] = set()

    def visit(m: str, path: list[str]) -> None:
        if m in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(m):] + [m]))
        if m in done:
            return
        for n in sorted(graph[m]):
            visit(n, path + [m])
        done.add(m)

    for m in sorted(graph):
        visit(m, [])


def test_sub_packages_are_used_through_the_modules_they_publish():
    known = sources()
    offenders = []
    for module, path in known.items():
        for name in imports(path):
            parts = name.split(".")
            if name not in known or len(parts) < 4:
                continue
            package = ".".join(parts[:3])
            if package == ".".join(module.split(".")[:3]):
                continue  # inside its own sub-package
            init = known.get(package)
            published = ast.literal_eval(next(
                n.value for n in ast.parse(init.read_text()).body
                if isinstance(n, ast.Assign) and n.targets[0].id == "__all__")) if init else []
            if parts[3] not in published:
                offenders.append(f"{module} imports {name}, which {package}.__all__ does not publish")
    assert not offenders, offenders


def test_no_module_imports_a_private_name_of_another():
    offenders = []
    for module, path in sources().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("recstream"):
                offenders += [f"{module}: {node.module}.{a.name}" for a in node.names
                              if a.name.startswith("_") and node.module != module]
    assert not offenders, offenders


def test_every_package_is_installed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {module_name(p) for top in TOPS for p in (ROOT / top).rglob("__init__.py")}
    assert found <= listed, f"add to pyproject.toml's packages: {sorted(found - listed)}"


def test_top_level_packages_refuse_to_load_twice():
    spec = importlib.util.spec_from_file_location("models", ROOT / "models" / "__init__.py")
    with pytest.raises(ImportError, match="recstream.models"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


#: Longer on purpose, with the reason: compiled kernels keep each loop whole so numba can compile it as one.
LONG_ALLOWED = {"recstream.models.online.kernels"}


def test_functions_fit_on_a_screen_and_modules_hold_one_idea():
    long = []
    for module, path in sources().items():
        if module in LONG_ALLOWED:
            continue
        text = path.read_text()
        if len(text.splitlines()) > 400:
            long.append(f"{module}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                long.append(f"{module}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not long, long
