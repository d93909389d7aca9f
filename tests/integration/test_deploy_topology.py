"""deploy/: the docker-compose topology and its nginx configuration are complete and valid.

No Docker engine runs here, so the compose file is checked by parsing it; the nginx
configuration is checked by the real ``nginx -t`` with the container host names replaced by
loopback addresses.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.cluster import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def kato_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if re.fullmatch(r"kato-\d+", name)}


def nginx_upstream_servers() -> list[str]:
    return re.findall(
        r"^[ \t]*server[ \t]+([\w.-]+:\d+)", (DEPLOY / "nginx.conf").read_text(), re.M
    )


def test_compose_has_the_whole_topology(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"nginx", "redis", "qdrant", "mongo-init"} <= set(services)
    assert len(kato_services(compose)) >= 2
    members = [s for name, s in services.items() if re.fullmatch(r"mongo-\d+", name)]
    assert len(members) == 3
    assert all("--replSet" in member["command"] for member in members)
    assert "--appendonly" in services["redis"]["command"]


def test_every_instance_shares_the_same_backends(compose: dict[str, Any]) -> None:
    environments = [service["environment"] for service in kato_services(compose).values()]
    assert all(env == environments[0] for env in environments)
    env = environments[0]
    assert env["REDIS_URL"].startswith("redis://redis:")
    assert env["MONGO_URL"].startswith("mongodb://") and "replicaSet=rs0" in env["MONGO_URL"]
    assert env["QDRANT_URL"] == "http://qdrant:6333"
    assert env["KATO_SECURITY__AUTH_MODE"] != "none"  # instances listen on the network


def test_docker_waits_longer_than_the_drain_and_grace(compose: dict[str, Any]) -> None:
    for service in kato_services(compose).values():
        env = service["environment"]
        budget = float(env["KATO_SERVICE__SHUTDOWN_DRAIN_SECONDS"]) + float(
            env["KATO_SERVICE__SHUTDOWN_GRACE_SECONDS"]
        )
        assert float(service["stop_grace_period"].removesuffix("s")) > budget


def test_nginx_balances_exactly_the_compose_instances(compose: dict[str, Any]) -> None:
    expected = sorted(f"{name}:8000" for name in kato_services(compose))
    assert sorted(nginx_upstream_servers()) == expected
    mounts = compose["services"]["nginx"]["volumes"]
    for mount in mounts:
        source = mount.split(":", 1)[0]
        assert (DEPLOY / source).is_file(), mount
    assert any(m.endswith(":/etc/nginx/kato-locations.conf:ro") for m in mounts)


def test_nginx_accepts_the_shipped_configuration(tmp_path: Path) -> None:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    text = (DEPLOY / "nginx.conf").read_text()
    for index, server in enumerate(nginx_upstream_servers()):
        text = text.replace(server, f"127.0.0.1:{18001 + index}")
    text = text.replace("/etc/nginx/kato-locations.conf", str(DEPLOY / "nginx-kato-locations.conf"))
    text = text.replace("listen 80;", "listen 127.0.0.1:18000;")
    text = text.replace("pid /tmp/nginx.pid;", f"pid {tmp_path}/nginx.pid;")
    text = text.replace("error_log /dev/stderr warn;", f"error_log {tmp_path}/error.log warn;")
    config = tmp_path / "nginx.conf"
    config.write_text(text)
    (tmp_path / "logs").mkdir()

    result = subprocess.run(
        [binary, "-t", "-p", str(tmp_path), "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr
