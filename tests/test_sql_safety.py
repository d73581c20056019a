"""SQL only through bound parameters: no runtime module builds SQL text from strings (issue 5, operator security)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Calls whose first argument is raw SQL.
SQL_CALLS = {"text", "exec_driver_sql", "execute"}


def composed(node: ast.expr) -> bool:
    """psycopg's `sql.SQL("...").format(sql.Identifier(name))`: composition that quotes what it inserts, the
    driver's own way to name a database or table (those cannot be bound parameters)."""
    return isinstance(node, ast.Call) and (getattr(node.func, "attr", None) or getattr(node.func, "id", None)) == "SQL"


def built_sql(path: Path, root: Path = ROOT) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        first = node.args[0]
        formatted = isinstance(first, (ast.JoinedStr, ast.BinOp)) or (
            isinstance(first, ast.Call) and isinstance(first.func, ast.Attribute) and first.func.attr == "format"
            and not composed(first.func.value))
        if name in SQL_CALLS and formatted:
            found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_runtime_code_never_formats_sql():
    offenders = [hit for pkg in ("models", "stream", "monitors") for p in (ROOT / pkg).rglob("*.py")
                 for hit in built_sql(p)]
    assert not offenders, offenders


def test_the_check_would_catch_formatted_sql(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('from sqlalchemy import text\nq = text(f"SELECT * FROM t WHERE id = {user_input}")\n')
    assert built_sql(bad, tmp_path) == ["bad.py:2"]
    quoted = tmp_path / "quoted.py"
    quoted.write_text('from psycopg import sql\nconn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(n)))\n'
                      'conn.execute("DROP TABLE {}".format(n))\n')
    assert built_sql(quoted, tmp_path) == ["quoted.py:3"]
