"""The council's domain/ stays pure: its modules import only the standard library and each other
(no pymongo, kombu, flask, shared/ or other council layers), and every module opens with a docstring."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[2] / "services" / "council" / "domain"
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
            allowed = allowed or name.startswith("services.council.domain")
            assert allowed, f"{path.name} imports {name}"
