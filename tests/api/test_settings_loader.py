"""load_settings: YAML shape, ${VAR} interpolation, environment overrides, readable errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kato.service.settings_loader import ConfigError, load_settings
from tests.spec_examples import production_yaml

SPEC_SHAPE = """
database:
  mongodb:
    url: ${MONGO_URL}
    pool_size: 50
    write_concern: majority
  qdrant:
    host: ${QDRANT_HOST}
    port: 6333
    pool_size: 20
  redis:
    url: ${REDIS_URL}
    pool_size: 30
session:
  store_type: memory
  ttl_seconds: 3600
  max_stm_size: 1000
  cleanup_interval: 300
resilience:
  circuit_breaker:
    failure_threshold: 5
    recovery_timeout: 30
  retry:
    max_attempts: 3
    backoff_factor: 2
    max_delay: 10
monitoring:
  metrics_enabled: true
  tracing_enabled: false
  log_level: INFO
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kato.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file_or_environment() -> None:
    settings = load_settings(env={})
    assert settings.service.port == 8000 and settings.service.host == "127.0.0.1"
    assert settings.service.data_dir == "./kato-data"
    assert settings.session.max_stm_size == 1000 and settings.session.stm_overflow == "trim"


def test_spec_shaped_file_with_unset_variables_means_not_configured(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, SPEC_SHAPE), env={})
    assert settings.database.mongodb.url is None and settings.database.redis.url is None
    assert settings.database.mongodb.pool_size == 50
    assert settings.resilience.retry.backoff_factor == 2.0


def test_interpolation_with_values_and_defaults(tmp_path: Path) -> None:
    text = (
        "database:\n  redis:\n    url: redis://${REDIS_HOST:-localhost}:${REDIS_PORT:-6379}/0\n"
        "session:\n  ttl_seconds: ${TTL:-120}\ngenes:\n  persistence: ${P}\n  sort: ${S}\n"
        "security:\n  jwt_secret: ${SECRET}\n"
    )
    env = {"REDIS_HOST": "cache", "P": "7", "S": "false", "SECRET": "123456"}
    settings = load_settings(_write(tmp_path, text), env=env)
    assert settings.database.redis.url == "redis://cache:6379/0"
    assert settings.session.ttl_seconds == 120
    assert settings.genes.persistence == 7 and settings.genes.sort is False
    assert settings.security.jwt_secret is not None
    assert settings.security.jwt_secret.get_secret_value() == "123456"  # digits stay text


def test_config_file_from_environment_variable(tmp_path: Path) -> None:
    path = _write(tmp_path, "service:\n  port: 9100\n")
    assert load_settings(env={"KATO_CONFIG_FILE": str(path)}).service.port == 9100


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "service:\n  port: 9100\nsession:\n  max_stm_size: 10\n")
    env = {
        "KATO_PORT": "9200",
        "KATO_HOST": "0.0.0.0",
        "KATO_DATA_DIR": "/srv/kato",
        "REDIS_URL": "redis://r:6379",
        "MONGO_BASE_URL": "mongodb://m:27017",
        "QDRANT_HOST": "q",
        "QDRANT_PORT": "7000",
        "LOG_LEVEL": "debug",
        "SESSION_TTL": "60",
        "MAX_PATTERN_LENGTH": "3",
        "PERSISTENCE": "9",
        "RECALL_THRESHOLD": "0.3",
        "MAX_PREDICTIONS": "7",
        "SORT": "false",
        "STM_MODE": "rolling",
        "KATO_SESSION__MAX_STM_SIZE": "20",
        "KATO_DATABASE__REDIS__POOL_SIZE": "5",
    }
    settings = load_settings(path, env=env)
    assert settings.service.port == 9200 and settings.service.host == "0.0.0.0"
    assert settings.service.data_dir == "/srv/kato"
    assert settings.database.redis.url == "redis://r:6379"
    assert settings.database.mongodb.url == "mongodb://m:27017"
    assert settings.database.qdrant.host == "q" and settings.database.qdrant.port == 7000
    assert settings.monitoring.log_level == "DEBUG" and settings.session.ttl_seconds == 60
    genes = settings.genes
    assert (genes.max_pattern_length, genes.persistence, genes.max_predictions) == (3, 9, 7)
    assert genes.recall_threshold == 0.3 and genes.sort is False
    assert genes.stm_mode.value == "ROLLING"
    assert settings.session.max_stm_size == 20 and settings.database.redis.pool_size == 5


def test_mongo_url_and_sort_symbols_aliases() -> None:
    settings = load_settings(env={"MONGO_URL": "mongodb://x", "SORT_SYMBOLS": "false"})
    assert settings.database.mongodb.url == "mongodb://x" and settings.genes.sort is False


@pytest.mark.parametrize(
    ("text", "env", "named", "source"),
    [
        ("session:\n  max_stm_size: 0\n", {}, "session.max_stm_size", "config file"),
        ("session:\n  max_stm_sise: 1\n", {}, "session.max_stm_sise: unknown", "config file"),
        ("", {"RECALL_THRESHOLD": "1.5"}, "genes.recall_threshold", "RECALL_THRESHOLD"),
        ("", {"KATO_PORT": "http"}, "service.port", "KATO_PORT"),
        ("", {"KATO_LIMITS__MAX_BODY_BYTES": "10"}, "limits.max_body_bytes", "KATO_LIMITS"),
        ("", {"KATO_SESSION__NOPE": "1"}, "session.nope: unknown setting", "KATO_SESSION"),
        ("database:\n  mongodb:\n    pool_size: ${P}\n", {"P": "-1"}, "pool_size", "file"),
    ],
)
def test_invalid_values_name_the_key_and_the_source(
    tmp_path: Path, text: str, env: dict[str, str], named: str, source: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(_write(tmp_path, text), env=env)
    assert named in str(raised.value) and source in str(raised.value)


def test_unreadable_or_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.yaml", env={})
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(_write(tmp_path, "session: [unclosed\n"), env={})
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(_write(tmp_path, "- a\n- b\n"), env={})


def test_the_specs_production_example_needs_redis_url(tmp_path: Path) -> None:
    path = _write(tmp_path, production_yaml())
    with pytest.raises(ConfigError) as raised:
        load_settings(path, env={})
    message = str(raised.value)
    assert "session.store_type" in message and "REDIS_URL" in message and str(path) in message
    settings = load_settings(path, env={"REDIS_URL": "redis://cache:6379/0"})
    assert settings.session.store_type == "redis" and settings.monitoring.tracing_enabled


@pytest.mark.parametrize("blank", ["", "  "])
def test_an_empty_data_dir_is_an_error_not_the_current_directory(blank: str) -> None:
    with pytest.raises(ConfigError, match=r"service\.data_dir.*KATO_DATA_DIR"):
        load_settings(env={"KATO_DATA_DIR": blank})


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"REDIS_URL": "cache:6379"}, "database.redis.url"),
        ({"KATO_SESSION__ENCRYPTION_KEYS": "[not-a-key]"}, "session.encryption_keys[1]"),
    ],
)
def test_the_session_store_settings_are_checked_at_load(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(env=env)
    assert named in str(raised.value) and next(iter(env)) in str(raised.value)
