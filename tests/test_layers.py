"""Imports run one way: stream → monitors → models. models/ never touches Kafka or Faust."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KAFKA = ("faust", "kafka", "aiokafka", "mode", "confluent_kafka")
FORBIDDEN = {
    "models": KAFKA + ("recstream.stream", "recstream.monitors"),
    "monitors": KAFKA + ("recstream.stream",),
}


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers(package):
    offenders = []
    for path in (ROOT / package).rglob("*.py"):
        for name in imports(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[package]):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, offenders


def test_top_level_packages_refuse_to_load_twice():
    import importlib.util

    spec = importlib.util.spec_from_file_location("models", ROOT / "models" / "__init__.py")
    with pytest.raises(ImportError, match="recstream.models"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
