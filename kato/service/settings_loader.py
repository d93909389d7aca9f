"""Load ``Settings``: defaults ← YAML file ← environment, validated once at start-up.

* The YAML file (``--config`` or ``KATO_CONFIG_FILE``) has the architecture spec's shape —
  ``database`` / ``session`` / ``resilience`` / ``monitoring`` sections plus our own
  (``service``, ``limits``, ``genes``, ``security``).
* ``${VAR}`` and ``${VAR:-default}`` are interpolated in every string of the file. A value
  that is exactly one reference to an unset variable without default becomes null, so the
  spec's ``url: ${MONGO_URL}`` means "not configured" when the variable is absent.
* Environment overrides: the well-known variables of ``ENVIRONMENT_VARIABLES`` and the
  generic ``KATO_<SECTION>__<KEY>[__<SUBKEY>]`` form (``KATO_SESSION__MAX_STM_SIZE=500``).
* Text from the environment or from interpolation is read as a YAML scalar only where the
  setting is not a string (``"5"`` → 5 for ``genes.persistence``, ``"false"`` → False),
  so a password of digits stays a string.
* Any error raises ``ConfigError`` naming the bad key and where its value came from, including
  what the session store is built from (Redis sessions without a Redis URL, a malformed Redis
  URL, an encryption key that is not a Fernet key).
"""

from __future__ import annotations

import os
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pydantic
import yaml
from pydantic import BaseModel, SecretStr

from kato.config import Settings
from kato.sessions.factory import session_backend

Path_ = tuple[str, ...]

# Variable → setting path. Several variables may name one setting; the later one wins.
ENVIRONMENT_VARIABLES: dict[str, Path_] = {
    "KATO_HOST": ("service", "host"),
    "KATO_PORT": ("service", "port"),
    "KATO_WORKERS": ("service", "workers"),
    "KATO_DATA_DIR": ("service", "data_dir"),
    "PROCESSOR_ID": ("service", "base_node_id"),
    "MONGO_BASE_URL": ("database", "mongodb", "url"),
    "MONGO_URL": ("database", "mongodb", "url"),
    "QDRANT_HOST": ("database", "qdrant", "host"),
    "QDRANT_PORT": ("database", "qdrant", "port"),
    "QDRANT_URL": ("database", "qdrant", "url"),
    "REDIS_URL": ("database", "redis", "url"),
    "SESSION_TTL": ("session", "ttl_seconds"),
    "LOG_LEVEL": ("monitoring", "log_level"),
    # Genes of semantics §6.2 (+ STM_MODE of §12.2).
    "MAX_PATTERN_LENGTH": ("genes", "max_pattern_length"),
    "PERSISTENCE": ("genes", "persistence"),
    "RECALL_THRESHOLD": ("genes", "recall_threshold"),
    "MAX_PREDICTIONS": ("genes", "max_predictions"),
    "SORT_SYMBOLS": ("genes", "sort"),
    "SORT": ("genes", "sort"),
    "STM_MODE": ("genes", "stm_mode"),
    "INDEXER_TYPE": ("genes", "indexer_type"),
    "SMOOTHNESS": ("genes", "smoothness"),
    "QUIESCENCE": ("genes", "quiescence"),
    "SEARCH_DEPTH": ("genes", "search_depth"),
    "AUTO_ACT_METHOD": ("genes", "auto_act_method"),
    "AUTO_ACT_THRESHOLD": ("genes", "auto_act_threshold"),
    "ALWAYS_UPDATE_FREQUENCIES": ("genes", "always_update_frequencies"),
    "PROCESS_PREDICTIONS": ("genes", "process_predictions"),
    "AUTO_LEARN_ENABLED": ("genes", "auto_learn_enabled"),
    "AUTO_LEARN_THRESHOLD": ("genes", "auto_learn_threshold"),
}

_GENERIC_PREFIX = "KATO_"
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")
_WHOLE_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_UPPERCASE = {("monitoring", "log_level"), ("genes", "stm_mode")}


class ConfigError(ValueError):
    """Invalid configuration; the message names every bad key and its source."""


def load_settings(
    config_file: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    sources: dict[Path_, str] = {}
    file_name = config_file or env.get("KATO_CONFIG_FILE") or None
    if file_name:
        data = _read_file(Path(file_name), env)
        _note_sources(data, (), f"config file {file_name}", sources)
    for variable, path in ENVIRONMENT_VARIABLES.items():
        if variable in env:
            _set(data, path, _typed(path, env[variable]), sources, variable)
    for variable, value in env.items():
        generic = _generic_path(variable)
        if generic is not None:
            _set(data, generic, _typed(generic, value), sources, variable)
    try:
        settings = Settings.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ConfigError(_describe(exc, sources)) from None
    _check_sessions(settings, sources)
    return settings


def _check_sessions(settings: Settings, sources: dict[Path_, str]) -> None:
    """What the session store is built from, checked now rather than when a worker opens it:
    settings valid one by one but not together (the spec's production example asks for Redis
    sessions and leaves the URL to ``REDIS_URL``), the Redis URL, the encryption keys."""
    redis_url = settings.database.redis.url
    keys = settings.session.encryption_keys
    checks: dict[Path_, Callable[[], object]] = {
        ("session", "store_type"): lambda: session_backend(settings),
        ("database", "redis", "url"): lambda: redis_url and _parse_redis_url(redis_url),
        ("session", "encryption_keys"): lambda: keys and _session_cipher(keys),
    }
    for path, check in checks.items():
        try:
            check()
        except ValueError as exc:
            key = ".".join(path)
            problem = str(exc) if str(exc).startswith(key) else f"{key}: {exc}"
            source = sources.get(path, "defaults")
            raise ConfigError(f"Invalid configuration: {problem} (from {source})") from None


# redis and cryptography are imported only when a Redis URL or encryption keys are set: an
# embedded data command (kato learn) loads the settings and needs neither (a tenth of a
# second of its start-up).
def _parse_redis_url(url: str) -> object:
    from redis.connection import parse_url

    return parse_url(url)


def _session_cipher(keys: Sequence[SecretStr]) -> object:
    from kato.sessions.crypto import SessionCipher

    return SessionCipher(keys)


# -- file -------------------------------------------------------------------------------


def _read_file(path: Path, env: Mapping[str, str]) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections")
    interpolated = _interpolate(loaded, (), env)
    assert isinstance(interpolated, dict)
    return interpolated


def _interpolate(value: Any, path: Path_, env: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: _interpolate(item, (*path, str(key)), env) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(item, path, env) for item in value]
    if not isinstance(value, str) or "${" not in value:
        return value
    whole = _WHOLE_REFERENCE.match(value)
    if whole and whole.group(1) not in env:
        return None
    text = _REFERENCE.sub(lambda m: env.get(m.group(1), m.group(2) or ""), value)
    return _typed(path, text)


# -- environment ------------------------------------------------------------------------


def _generic_path(variable: str) -> Path_ | None:
    if not variable.startswith(_GENERIC_PREFIX) or "__" not in variable:
        return None
    parts = variable[len(_GENERIC_PREFIX) :].lower().split("__")
    if any(not part for part in parts) or parts[0] not in Settings.model_fields:
        return None
    return tuple(parts)


def _set(
    data: dict[str, Any], path: Path_, value: Any, sources: dict[Path_, str], source: str
) -> None:
    node = data
    for position, key in enumerate(path[:-1]):
        child = node.get(key)
        if not isinstance(child, dict):
            if child is not None:
                where = ".".join(path[: position + 1])
                raise ConfigError(f"{where}: is a value, cannot set {'.'.join(path)} ({source})")
            child = node[key] = {}
        node = child
    node[path[-1]] = value
    sources[path] = f"environment variable {source}"


def _note_sources(value: Any, path: Path_, source: str, sources: dict[Path_, str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _note_sources(item, (*path, str(key)), source, sources)
    else:
        sources[path] = source


# -- typing of text values --------------------------------------------------------------


def _typed(path: Path_, text: str) -> Any:
    """Text as the setting expects it: kept for strings, a YAML scalar otherwise."""
    if path in _UPPERCASE:
        return text.upper()
    if _expects_text(path):
        return text
    try:
        return yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        return text


def _expects_text(path: Path_) -> bool:
    model: type[BaseModel] = Settings
    annotation: Any = None
    for key in path:
        field = model.model_fields.get(key)
        if field is None:
            return True  # unknown key: validation will name it
        annotation = field.annotation
        nested = _model_in(annotation)
        if nested is None:
            break
        model = nested
    return _is_text(annotation)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _is_text(annotation: Any) -> bool:
    if annotation in (str, pydantic.SecretStr):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return bool(members) and all(_is_text(member) for member in members)
    return False


def _describe(exc: pydantic.ValidationError, sources: dict[Path_, str]) -> str:
    problems = []
    for error in exc.errors():
        path = tuple(str(part) for part in error["loc"])
        key = ".".join(path)
        source = next(
            (sources[path[:n]] for n in range(len(path), 0, -1) if path[:n] in sources),
            "defaults",
        )
        message = "unknown setting" if error["type"] == "extra_forbidden" else error["msg"]
        problems.append(f"{key}: {message} (from {source})")
    return "Invalid configuration: " + "; ".join(problems)
