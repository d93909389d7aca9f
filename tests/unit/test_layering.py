"""The layering of DESIGN.md §2: a layer imports only from the layers above it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "kato"
# Each layer may import itself and the layers listed for it (config is shared by all).
ALLOWED = {
    "core": {"core"},
    "engine": {"core", "engine"},
    "storage": {"core", "engine", "storage", "config"},
    "sessions": {"core", "engine", "sessions", "config"},
    "observability": {"core", "observability", "config"},
    "resilience": {"core", "engine", "sessions", "observability", "resilience", "config"},
    "security": {"core", "sessions", "security", "config"},
    "service": {
        "core",
        "engine",
        "storage",
        "sessions",
        "observability",
        "resilience",
        "service",
        "config",
    },
    "api": {
        "core",
        "engine",
        "storage",
        "sessions",
        "observability",
        "resilience",
        "security",
        "service",
        "api",
        "config",
        "ui",  # the Explorer's static files (no code)
    },
    "client": {"client"},
}
# Layers of one module: the settings model beside the core, every layer may read it; the
# command line on top, the only module that may use every layer (and its data commands).
MODULES = {
    "config.py": {"core"},
    "cli.py": {*ALLOWED, "config", "cli_data"} - {"client"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kato."):
            names.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[1] for a in node.names if a.name.startswith("kato."))
    return names


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_from_layers_above(layer: str) -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(imported_packages(path) - ALLOWED[layer])
        for path in (PACKAGE / layer).rglob("*.py")
    }
    assert {path: bad for path, bad in offenders.items() if bad} == {}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_imports_only_from_layers_above(module: str) -> None:
    assert sorted(imported_packages(PACKAGE / module) - MODULES[module]) == []


def test_no_layer_imports_the_command_line() -> None:
    importers = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if imported_packages(path) & {"cli", "cli_data"}
    }
    assert importers <= {"cli.py", "cli_data.py"}


def test_core_is_free_of_io_libraries() -> None:
    forbidden = {"redis", "pymongo", "qdrant_client", "sqlite3", "fastapi", "httpx"}
    for path in (PACKAGE / "core").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                modules = (
                    [node.module]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                )
                assert not {str(m).split(".")[0] for m in modules} & forbidden, path
