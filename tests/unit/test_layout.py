"""The services' folders show their layers (README, "The shape"), and the layers keep their rules.

- `domain/` is pure: no database, broker, web framework or file/network I/O, nor the service's other
  layers (only its own domain and shared's pure modules);
- only entrypoints (`http/`) touch Flask's request-bound objects;
- no service imports another service, and `shared/` imports no service;
- every service has the same top: `app.py`, `bootstrap.py`, `worker.py`, `domain/`, `http/`;
- every package's `__init__.py` opens with one line saying what lives there.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.parent.name for p in (ROOT / "services").glob("*/app.py"))
# Packages whose import means I/O or the web framework.
IMPURE_PACKAGES = {"pymongo", "bson", "gridfs", "kombu", "amqp", "flask", "flask_smorest", "flask_login",
                   "flask_babel", "flask_wtf", "werkzeug", "smtplib", "socket", "urllib", "requests",
                   "subprocess", "reportlab"}  # fmt: skip
# Flask's objects bound to a request: only entrypoints may reach for them.
REQUEST_BOUND = {("flask", "request"), ("flask", "session"), ("flask", "g"), ("flask_login", "current_user")}


def imports_of(path: Path) -> Iterator[tuple[str, str | None, int]]:
    """(module, imported name or None, line) for every import in a file, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            for alias in node.names:
                yield module, alias.name, node.lineno


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def impure_shared_modules() -> set[str]:
    """shared's modules that import an impure package themselves (a domain module may not use them)."""
    impure = set()
    for path in python_files(ROOT / "shared"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if any(name.split(".")[0] in IMPURE_PACKAGES for name, _, _ in imports_of(path)):
            impure.add(module)
    return impure


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_the_same_top(service: str) -> None:
    folder = ROOT / "services" / service
    for name in ("app.py", "bootstrap.py", "worker.py", "domain/__init__.py", "http/__init__.py"):
        assert (folder / name).is_file(), f"services/{service}/{name} is missing"


@pytest.mark.parametrize("service", SERVICES)
def test_domain_is_pure(service: str) -> None:
    impure_shared = impure_shared_modules()
    own_domain = f"services.{service}.domain"
    problems = []
    for path in python_files(ROOT / "services" / service / "domain"):
        for module, name, line in imports_of(path):
            full = f"{module}.{name}" if name else module
            where = f"{path.relative_to(ROOT)}:{line} imports {full}"
            if (
                module.split(".")[0] in IMPURE_PACKAGES
                or (
                    module.startswith("services.")
                    and not (module == own_domain or module.startswith(own_domain + "."))
                )
                or module in impure_shared
                or full in impure_shared
            ):
                problems.append(where)
    assert problems == []


@pytest.mark.parametrize("service", SERVICES)
def test_only_entrypoints_touch_request_bound_objects(service: str) -> None:
    folder = ROOT / "services" / service
    problems = [
        f"{path.relative_to(ROOT)}:{line} imports {module}.{name}"
        for path in python_files(folder)
        if "http" not in path.relative_to(folder).parts
        for module, name, line in imports_of(path)
        if (module, name) in REQUEST_BOUND
    ]
    assert problems == []


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_imports_another(service: str) -> None:
    others = [s for s in SERVICES if s != service]
    problems = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in python_files(ROOT / "services" / service)
        for module, name, line in imports_of(path)
        if any(module == f"services.{o}" or module.startswith(f"services.{o}.") for o in others)
        or (module == "services" and name in others)
    ]
    assert problems == []


def test_shared_imports_no_service() -> None:
    problems = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in python_files(ROOT / "shared")
        for module, _, line in imports_of(path)
        if module == "services" or module.startswith("services.")
    ]
    assert problems == []


def test_every_package_says_what_lives_in_it() -> None:
    missing = []
    for init in sorted((ROOT / "services").rglob("__init__.py")):
        tree = ast.parse(init.read_text())
        doc = ast.get_docstring(tree)
        if not doc or not doc.splitlines()[0].strip() or "TODO" in doc:
            missing.append(str(init.relative_to(ROOT)))
    assert missing == []


def test_the_checks_see_a_violation(tmp_path: Path) -> None:
    """The import reader finds what the rules look for (so an empty list above means something)."""
    sample = ROOT / "services" / SERVICES[0] / "http"
    found = {(m, n) for path in python_files(sample) for m, n, _ in imports_of(path)}
    assert ("flask", "request") in found or ("flask_smorest", "Blueprint") in found
    assert "shared.db" in impure_shared_modules()
