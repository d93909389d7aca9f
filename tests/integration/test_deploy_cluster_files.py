"""deploy/: the clustered topology (docker-compose.cluster.yml) and its nginx variants
(round robin, node affinity) are complete and valid (issue 14 req 5).

As for the single-Redis topology (test_deploy_topology.py): no Docker engine runs here, so
the compose file is checked by parsing it; both nginx variants by the real ``nginx -t``.
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
NGINX_VARIANTS = ["nginx-cluster.conf", "nginx-affinity.conf"]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "docker-compose.cluster.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def services_named(compose: dict[str, Any], pattern: str) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if re.fullmatch(pattern, name)}


def upstream_servers(variant: str) -> list[str]:
    return re.findall(r"^[ \t]*server[ \t]+([\w.-]+:\d+)", (DEPLOY / variant).read_text(), re.M)


def test_six_cluster_nodes_joined_as_three_primaries_with_a_replica_each(
    compose: dict[str, Any],
) -> None:
    nodes = services_named(compose, r"redis-\d+")
    assert len(nodes) == 6
    for node in nodes.values():
        assert node["command"][node["command"].index("--cluster-enabled") + 1] == "yes"
        assert "--appendonly" in node["command"]
    init = compose["services"]["redis-cluster-init"]
    script = " ".join(init["command"])
    assert "--cluster create" in script and "--cluster-replicas 1" in script
    assert all(f"{name}:6379" in script for name in nodes)
    assert set(init["depends_on"]) == set(nodes)


def test_every_instance_uses_the_cluster_and_the_sharded_mongodb(compose: dict[str, Any]) -> None:
    instances = services_named(compose, r"kato-\d+")
    assert len(instances) >= 3
    environments = [service["environment"] for service in instances.values()]
    assert all(env == environments[0] for env in environments)
    env = environments[0]
    assert env["KATO_DATABASE__REDIS__CLUSTER"] == "true"
    assert env["REDIS_URL"].startswith("redis://redis-1:")
    assert env["MONGO_URL"].startswith("mongodb://mongos:")
    assert env["KATO_SECURITY__AUTH_MODE"] != "none"
    depends = instances["kato-1"]["depends_on"]
    assert depends["redis-cluster-init"]["condition"] == "service_completed_successfully"
    assert depends["mongo-init"]["condition"] == "service_completed_successfully"


def test_mongodb_is_a_sharded_cluster(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "--configsvr" in services["mongo-config"]["command"]
    shards = services_named(compose, r"mongo-shard-\d+")
    assert len(shards) >= 2 and all("--shardsvr" in s["command"] for s in shards.values())
    assert services["mongos"]["command"][0] == "mongos"
    script = " ".join(services["mongo-init"]["command"])
    assert all(f"mongo-{name.split('-', 1)[1]}" in script for name in shards)
    assert script.count("sh.addShard") == len(shards)


@pytest.mark.parametrize("variant", NGINX_VARIANTS)
def test_nginx_balances_exactly_the_compose_instances(
    compose: dict[str, Any], variant: str
) -> None:
    expected = sorted(f"{name}:8000" for name in services_named(compose, r"kato-\d+"))
    assert sorted(upstream_servers(variant)) == expected
    mounts = compose["services"]["nginx"]["volumes"]
    assert all((DEPLOY / mount.split(":", 1)[0]).is_file() for mount in mounts)


def test_the_affinity_variant_hashes_the_node_header_consistently() -> None:
    text = (DEPLOY / "nginx-affinity.conf").read_text()
    assert "hash $kato_affinity consistent;" in text
    assert re.search(r"map \$http_x_kato_node \$kato_affinity", text)


@pytest.mark.parametrize("variant", NGINX_VARIANTS)
def test_nginx_accepts_the_variant(tmp_path: Path, variant: str) -> None:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    text = (DEPLOY / variant).read_text()
    for index, server in enumerate(upstream_servers(variant)):
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
