"""The council's domain/ stays pure: its modules import only the standard library and each other
(no pymongo, kombu, flask, shared/ or other council layers), and every module opens with a docstring.
The one exception is `shared/moj_table.py`: pure data (the MoJ table's categories and sources, which
mediation's reports count by too), itself importing only the standard library (checked here)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "services" / "council" / "domain"
PURE_SHARED = {"shared.moj_table"}
MODULES = sorted(DOMAIN.glob("*.py"))


def test_the_eight_modules_are_there():
    names = {p.stem for p in MODULES}
    assert {
        "votes",
        "questions",
        "tallies",
        "consultation_states",
        "suppression",
        "plan",
        "accounts",
        "mediation_stats",
    } <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_domain_imports_only_the_standard_library_and_itself(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"{path.name} has no docstring"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "use absolute imports"
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            allowed = top in sys.stdlib_module_names or top == "__future__"
            allowed = allowed or name.startswith("services.council.domain") or name in PURE_SHARED
            assert allowed, f"{path.name} imports {name}"


@pytest.mark.parametrize("module", sorted(PURE_SHARED))
def test_the_shared_modules_allowed_are_pure(module):
    path = ROOT / (module.replace(".", "/") + ".py")
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top == "__future__", f"{module} imports {name}"
