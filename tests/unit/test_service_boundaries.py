"""Services depend on shared/ only, never on each other, and product code never imports the dev tooling."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every absolute import in one file, as (line, module)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def foreign_imports(package_dir: Path, root: Path = ROOT) -> list[str]:
    """Each import in a service that reaches another service (or devtools), as 'file:line module'."""
    found = []
    for path in sorted(package_dir.rglob("*.py")):
        for line, name in imported_modules(path):
            parts = name.split(".")
            if parts[0] == "devtools" or (parts[0] == "services" and len(parts) > 1 and parts[1] != package_dir.name):
                found.append(f"{path.relative_to(root)}:{line} {name}")
    return found


def shared_imports_of_services(root: Path = ROOT) -> list[str]:
    return [
        f"{path.relative_to(root)}:{line} {name}"
        for path in sorted((root / "shared").rglob("*.py"))
        for line, name in imported_modules(path)
        if name.split(".")[0] in ("services", "devtools")
    ]


SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "__init__.py").exists())


@pytest.mark.parametrize(
    "service", sorted(p.name for p in (ROOT / "services").iterdir() if (p / "__init__.py").exists())
)
def test_service_imports_only_itself_and_shared(service: str) -> None:
    assert foreign_imports(ROOT / "services" / service) == []


def test_shared_never_imports_services_or_devtools() -> None:
    assert shared_imports_of_services() == []


def test_the_check_catches_a_planted_cross_service_import(tmp_path: Path) -> None:
    planted = tmp_path / "services" / "ops"
    planted.mkdir(parents=True)
    (planted / "__init__.py").write_text("")
    (planted / "sneaky.py").write_text("import json\nfrom services.notifier.webhook import post_webhook\n")
    (planted / "dev.py").write_text("import devtools.infra.ports\n")
    assert foreign_imports(planted, tmp_path) == [
        "services/ops/dev.py:1 devtools.infra.ports",
        "services/ops/sneaky.py:2 services.notifier.webhook",
    ]
