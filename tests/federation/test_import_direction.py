"""federation never imports moderation (moderation may import federation): they talk through
outbox events (`ourvoice/events.py`). An AST scan of every module of the package."""

from __future__ import annotations

import ast
from pathlib import Path

import federation

ROOT = Path(federation.__file__).resolve().parent


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_federation_never_imports_moderation():
    offenders = {
        str(path.relative_to(ROOT.parent)): sorted(
            name for name in imported_modules(path) if name.split(".")[0] == "moderation"
        )
        for path in ROOT.rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_scan_sees_imports():
    assert "federation.inbound" in imported_modules(ROOT / "inbound" / "dispatch.py")
