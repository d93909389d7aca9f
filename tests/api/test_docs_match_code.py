"""The reference docs cover the code: every setting and gene in docs/CONFIGURATION.md (with
its variables and its current default), every route (HTTP method + path, and the WebSocket
path) in docs/API_EXAMPLES.md."""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from kato.api.app import create_app
from kato.config import Settings
from kato.core.genes import Genes
from kato.security.roles import effective_routes
from kato.service.settings_loader import ENVIRONMENT_VARIABLES
from tests.api.conftest import make_settings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def setting_defaults(model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    """Dotted YAML key → default of every leaf setting; sections (genes included) are walked."""
    defaults: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            defaults |= setting_defaults(annotation, f"{key}.")
        else:
            defaults[key] = field.default
    return defaults


def setting_keys(model: type[BaseModel]) -> list[str]:
    return list(setting_defaults(model))


def rendered(default: Any) -> str:
    """How the tables write a default: `true`, `"text"`, `3600`, `['HS256']`, or null."""
    if isinstance(default, Enum):
        default = default.value
    if default is None:
        return "null"
    if isinstance(default, bool):
        return "`true`" if default else "`false`"
    if isinstance(default, str):
        return f'`"{default}"`'
    return f"`{default}`"


def generic_variable(key: str) -> str:
    return "KATO_" + key.upper().replace(".", "__")


def documented_code_spans(name: str) -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", (DOCS / name).read_text(encoding="utf-8")))


def test_walk_reaches_every_section_and_gene() -> None:
    keys = setting_keys(Settings)
    assert "database.mongodb.url" in keys and "service.port" in keys
    assert {f"genes.{gene}" for gene in Genes.model_fields} <= set(keys)


def test_every_setting_and_gene_is_documented_with_its_variables() -> None:
    spans = documented_code_spans("CONFIGURATION.md")
    missing = [key for key in setting_keys(Settings) if key not in spans]
    assert missing == [], f"settings missing from docs/CONFIGURATION.md: {missing}"
    variables = [generic_variable(key) for key in setting_keys(Settings)]
    variables += list(ENVIRONMENT_VARIABLES)
    undocumented = [variable for variable in variables if variable not in spans]
    assert undocumented == [], f"variables missing from docs/CONFIGURATION.md: {undocumented}"


def test_documented_defaults_match_the_model() -> None:
    text = (DOCS / "CONFIGURATION.md").read_text(encoding="utf-8")
    wrong = []
    for key, default in setting_defaults(Settings).items():
        row = re.search(rf"^\| `{re.escape(key)}` \|(.*)$", text, re.MULTILINE)
        if row is None or rendered(default) not in row.group(1):
            wrong.append(f"{key} (default {rendered(default)})")
    assert wrong == [], f"rows of docs/CONFIGURATION.md without the model's default: {wrong}"


def test_every_route_has_an_example(tmp_path: Path) -> None:
    text = (DOCS / "API_EXAMPLES.md").read_text(encoding="utf-8")
    routes = effective_routes(create_app(make_settings(tmp_path)).routes)
    expected = []
    for route in routes:
        methods = sorted(set(getattr(route, "methods", None) or ()) - {"HEAD"})
        expected += [f"{method} {route.path}" for method in methods] or [f"WEBSOCKET {route.path}"]
    assert "WEBSOCKET /ws" in expected and "POST /v2/sessions/{session_id}/observe" in expected
    missing = [entry for entry in expected if entry not in text]
    assert missing == [], f"routes missing from docs/API_EXAMPLES.md: {missing}"
