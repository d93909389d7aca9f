"""deploy/: the Prometheus scrape config and the Grafana dashboard match the exported metrics."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import REGISTRY

from kato.observability.metrics import EXPORTED_METRIC_NAMES

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SERIES_SUFFIXES = ("_bucket", "_count", "_sum")
# Labels Prometheus or multiprocess mode add to every KATO series.
IMPLICIT_LABELS = {"le", "pid", "instance", "job", "service"}


def dashboard() -> dict[str, Any]:
    loaded = json.loads((DEPLOY / "grafana" / "kato-dashboard.json").read_text())
    assert isinstance(loaded, dict)
    return loaded


def expressions() -> list[str]:
    return [target["expr"] for panel in dashboard()["panels"] for target in panel["targets"]]


def metric_of(series: str) -> str:
    for suffix in SERIES_SUFFIXES:
        if series.endswith(suffix) and series[: -len(suffix)] in EXPORTED_METRIC_NAMES:
            return series[: -len(suffix)]
    return series


def labels_of(metric: str) -> set[str]:
    """Label names a KATO metric is declared with (read from the live registry)."""
    family_name = metric.removesuffix("_total")
    collector = (
        REGISTRY._names_to_collectors.get(metric) or REGISTRY._names_to_collectors[family_name]
    )
    return set(collector._labelnames)  # type: ignore[attr-defined]


def test_prometheus_config_scrapes_the_metrics_endpoint() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    kato = jobs["kato"]
    assert kato["metrics_path"] == "/metrics"
    targets = [t for group in kato["static_configs"] for t in group["targets"]]
    assert targets and all(re.fullmatch(r"[\w.-]+:\d+", target) for target in targets)


def test_dashboard_is_valid_grafana_json() -> None:
    board = dashboard()
    assert board["title"] and board["uid"]
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
    assert [v["name"] for v in board["templating"]["list"]] == ["datasource"]


def test_dashboard_uses_only_exported_metrics_and_covers_all_of_them() -> None:
    used = {metric_of(name) for expr in expressions() for name in re.findall(r"kato_\w+", expr)}
    assert used <= EXPORTED_METRIC_NAMES, used - EXPORTED_METRIC_NAMES
    assert used == EXPORTED_METRIC_NAMES, EXPORTED_METRIC_NAMES - used


def test_dashboard_groups_and_filters_by_declared_labels_only() -> None:
    for expr in expressions():
        metrics = {metric_of(name) for name in re.findall(r"kato_\w+", expr)}
        allowed = IMPLICIT_LABELS.union(*(labels_of(metric) for metric in metrics))
        grouped = {
            label.strip()
            for group in re.findall(r"by \(([^)]*)\)", expr)
            for label in group.split(",")
        }
        filtered = set(re.findall(r"[{,]\s*(\w+)\s*[=!~]", expr))
        assert grouped | filtered <= allowed, (expr, (grouped | filtered) - allowed)


def test_the_image_and_the_default_install_ship_the_tracing_exporter() -> None:
    """The spec's production config enables tracing: its packages are main dependencies, and
    the image installs the project's wheel (main dependencies, no extra)."""
    project = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=\[ ;]", requirement)[0] for requirement in project["dependencies"]}
    assert {"opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http"} <= names
    assert "tracing" not in project.get("optional-dependencies", {})
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "pip wheel --no-cache-dir --wheel-dir /wheels ." in dockerfile
    assert "pip install --no-cache-dir /wheels/*.whl" in dockerfile
