"""Configuration model: the architecture spec's YAML shape, one section per concern.

These are plain validated models. Loading (YAML file, ``${VAR}`` interpolation, environment
overrides) lives in ``kato.service.settings_loader``. Every section forbids unknown keys so a
typo is a start-up error naming the key.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from kato.core.genes import Genes


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MongoSettings(_Section):
    url: str | None = None
    pool_size: int = Field(50, ge=1, le=1000)
    min_pool_size: int = Field(10, ge=0, le=1000)
    max_idle_time_ms: int = Field(30000, ge=0)
    wait_queue_timeout_ms: int = Field(5000, ge=1)
    server_selection_timeout_ms: int = Field(5000, ge=1)
    socket_timeout_ms: int = Field(10000, ge=1)
    write_concern: str = "majority"
    read_preference: str = "primaryPreferred"
    tls: bool = False
    tls_ca_file: str | None = None
    tls_certificate_key_file: str | None = None


class QdrantSettings(_Section):
    url: str | None = None
    host: str | None = None
    port: int = Field(6333, ge=1, le=65535)
    api_key: SecretStr | None = None
    pool_size: int = Field(20, ge=1, le=1000)
    timeout: float = Field(10.0, gt=0)
    keepalive_time_ms: int = Field(10000, ge=0)
    keepalive_timeout_ms: int = Field(5000, ge=0)
    # Where vectors go when neither url nor host is set: qdrant-client local mode under
    # <data_dir>/qdrant (one process only), or the data directory's SQLite file (any number
    # of processes on one host).
    local_store: Literal["qdrant", "sqlite"] = "qdrant"


class SQLiteSettings(_Section):
    busy_timeout_seconds: float = Field(30.0, gt=0)  # how long a writer waits for the lock


class RedisSettings(_Section):
    url: str | None = None
    cluster: bool = False  # url names one seed node of a Redis Cluster (docs/SESSIONS.md)
    pool_size: int = Field(30, ge=1, le=10000)
    socket_timeout: float = Field(5.0, gt=0)
    socket_connect_timeout: float = Field(2.0, gt=0)
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None


class DatabaseSettings(_Section):
    mongodb: MongoSettings = MongoSettings()
    qdrant: QdrantSettings = QdrantSettings()
    redis: RedisSettings = RedisSettings()
    sqlite: SQLiteSettings = SQLiteSettings()


class SessionSettings(_Section):
    store_type: Literal["memory", "redis"] | None = None  # None: redis when a URL is set
    ttl_seconds: int = Field(3600, ge=1, le=30 * 86400)
    max_stm_size: int = Field(1000, ge=1, le=1_000_000)
    stm_overflow: Literal["trim", "reject"] = "trim"
    max_session_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    cleanup_interval: int = Field(300, ge=1)
    lock_timeout_seconds: float = Field(10.0, gt=0)
    lock_acquire_timeout_seconds: float = Field(30.0, gt=0)  # wait for a busy session
    encryption_keys: list[SecretStr] = []  # first encrypts, all decrypt (rotation)
    # Retried writes (docs/API.md "Retries"): how many client-keyed writes each session
    # remembers, and for how long (also the life of a session-create Idempotency-Key).
    idempotency_window: int = Field(16, ge=1, le=1000)
    idempotency_window_seconds: int = Field(600, ge=1, le=86400)
    # An expired session answers KATO_SESSION_EXPIRED (not _NOT_FOUND) for this long after its
    # expiry (0: never); the memory store remembers at most expired_retention_max_sessions.
    expired_retention_seconds: int = Field(3600, ge=0, le=30 * 86400)
    expired_retention_max_sessions: int = Field(10_000, ge=1, le=10_000_000)


class LimitsSettings(_Section):
    max_symbols_per_observation: int = Field(1000, ge=1)
    max_symbol_length: int = Field(1024, ge=1)
    max_vectors_per_observation: int = Field(16, ge=1)
    max_vector_dimension: int = Field(4096, ge=1)
    max_emotives_per_observation: int = Field(64, ge=0)
    max_emotive_name_length: int = Field(1024, ge=1)  # as max_symbol_length
    max_observations_per_sequence: int = Field(1000, ge=1)
    # Issue 11: sequences of one learn-batch, contexts of one batch predict.
    max_sequences_per_batch: int = Field(1000, ge=1)
    max_contexts_per_batch: int = Field(1000, ge=1)
    max_metadata_bytes: int = Field(16 * 1024, ge=0)
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    # Slow clients: a connection whose request headers (kato serve's protocol) or body (the
    # app) take longer than this is closed, so it holds no worker capacity for long.
    header_read_timeout_seconds: float = Field(10.0, gt=0)
    body_read_timeout_seconds: float = Field(30.0, gt=0)


class RedisBreakerSettings(_Section):
    failure_threshold: int = Field(5, ge=1)
    recovery_timeout: float = Field(30.0, gt=0)


class MongoBreakerSettings(_Section):  # the architecture spec's MongoDB breaker
    failure_threshold: int = Field(5, ge=1)
    recovery_timeout: float = Field(30.0, gt=0)


class QdrantBreakerSettings(_Section):  # the architecture spec's Qdrant breaker
    failure_threshold: int = Field(3, ge=1)
    recovery_timeout: float = Field(20.0, gt=0)


class CircuitBreakerSettings(_Section):
    # Set here (the spec's YAML shape), a value applies to every dependency whose own section
    # does not set it; unset, each dependency keeps its own default.
    failure_threshold: int | None = Field(None, ge=1)
    recovery_timeout: float | None = Field(None, gt=0)
    redis: RedisBreakerSettings = RedisBreakerSettings()
    mongodb: MongoBreakerSettings = MongoBreakerSettings()
    qdrant: QdrantBreakerSettings = QdrantBreakerSettings()

    def thresholds(self, dependency: str) -> tuple[int, float]:
        """``(failure_threshold, recovery_timeout)`` of one dependency's breaker."""
        own = getattr(self, dependency)

        def value(key: str) -> Any:
            shared = getattr(self, key)
            if key in own.model_fields_set or shared is None:
                return getattr(own, key)
            return shared

        return value("failure_threshold"), value("recovery_timeout")


class RetrySettings(_Section):
    max_attempts: int = Field(3, ge=1, le=20)
    backoff_factor: float = Field(2.0, ge=1.0)
    max_delay: float = Field(10.0, gt=0)
    initial_delay: float = Field(0.1, gt=0)  # first backoff; then x backoff_factor, capped


class ResilienceSettings(_Section):
    circuit_breaker: CircuitBreakerSettings = CircuitBreakerSettings()
    retry: RetrySettings = RetrySettings()
    max_in_flight: int = Field(512, ge=1)
    max_concurrent_predictions: int = Field(8, ge=1)
    dependency_timeout: float = Field(5.0, gt=0)


class MonitoringSettings(_Section):
    metrics_enabled: bool = True
    tracing_enabled: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # KATO 3.x time series (/stats, /metrics/{name}): one sample of every series per interval.
    history_interval_seconds: float = Field(10.0, gt=0, le=3600)


class SecuritySettings(_Section):
    auth_mode: Literal["none", "api_key", "jwt", "api_key+jwt"] = "none"
    insecure: bool = False
    api_keys_file: str | None = None  # default: <data_dir>/api_keys.json
    jwt_secret: SecretStr | None = None
    jwt_public_key_file: str | None = None
    jwt_jwks_file: str | None = None
    jwt_algorithms: list[str] = ["HS256"]
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_clock_skew_seconds: int = Field(30, ge=0, le=3600)
    cors_origins: list[str] = []
    rate_limit_enabled: bool = False
    rate_limit_principal: str = "100/second"
    rate_limit_session: str = "50/second"
    rate_limit_global: str = "5000/second"
    rate_limit_strategy: Literal["moving-window", "fixed-window"] = "moving-window"
    rate_limit_storage_url: str | None = None  # default: database.redis.url, else memory
    rate_limit_adaptive: bool = False
    adaptive_p99_ms: float = Field(200.0, gt=0)
    adaptive_error_rate: float = Field(0.05, gt=0, le=1)
    adaptive_min_factor: float = Field(0.1, gt=0, le=1)  # floor of the lowered global limit
    adaptive_window_seconds: float = Field(10.0, gt=0)  # outcomes considered per decision
    audit_log_file: str | None = None  # default: stderr stream "kato.audit"
    audit_reads: bool = False  # also audit every authenticated read (docs/SECURITY.md: cost)
    # /docs, /redoc and /openapi.json: public (no credentials) when on; off for an exposed
    # service that should not publish its API description.
    docs_enabled: bool = True


class ServiceSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    data_dir: str = "./kato-data"
    base_node_id: str = "kato"  # base id B of the node-id derivation (semantics §1.11)
    default_node_id: str = "default"
    archive_predictions: bool = False  # D1: the v1 unique_id archive
    # SIGTERM: refuse new requests (503, not processed) for shutdown_drain_seconds so load
    # balancers move away, then finish in-flight requests within shutdown_grace_seconds.
    # None: 5 s with Redis sessions (instances behind a balancer), else 0.
    shutdown_drain_seconds: float | None = Field(None, ge=0, le=300)
    shutdown_grace_seconds: float = Field(30.0, ge=0)
    max_nodes_cached: int = Field(100, ge=1)

    @field_validator("data_dir")
    @classmethod
    def _data_dir_is_named(cls, value: str) -> str:
        # An empty path would silently mean the current directory.
        if not value.strip():
            raise ValueError(
                "must name a directory: set --data-dir / KATO_DATA_DIR to a path, or leave "
                "it unset for ./kato-data"
            )
        return value


class Settings(_Section):
    service: ServiceSettings = ServiceSettings()
    database: DatabaseSettings = DatabaseSettings()
    session: SessionSettings = SessionSettings()
    limits: LimitsSettings = LimitsSettings()
    genes: Genes = Genes()
    resilience: ResilienceSettings = ResilienceSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    security: SecuritySettings = SecuritySettings()
