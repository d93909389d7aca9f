"""Request and response models of the HTTP API.

Write bodies forbid unknown fields and use strict types (a number where a string is
expected, or a string where a number is expected, is a 422). The *configurable* bounds of
``LimitsSettings`` (symbols per observation, symbol length, vectors, dimension, emotives,
sequence length) are checked by ``kato.api.limits`` right after parsing, because they are
per-deployment values, not constants of the models; ``kato.api.openapi`` declares them in the
OpenAPI document of each app.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    field_validator,
    model_validator,
)

from kato.core.genes import integral_float_to_int
from kato.core.observation import EMOTIVE_MAGNITUDE_LIMIT

FiniteNumber = Annotated[float, Field(strict=True, allow_inf_nan=False)]
EmotiveValue = Annotated[
    float,
    Field(
        strict=True, allow_inf_nan=False, ge=-EMOTIVE_MAGNITUDE_LIMIT, le=EMOTIVE_MAGNITUDE_LIMIT
    ),
]


def _encodable(text: str) -> str:
    # JSON may escape a lone surrogate ("\ud800"); stored, it would fail every later UTF-8
    # encoding (hashing, responses) and turn each request of the session into a 500.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return text


Text = Annotated[StrictStr, AfterValidator(_encodable)]
Identifier = Annotated[str, Field(strict=True, min_length=1, max_length=256)]


class _Write(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- requests ---------------------------------------------------------------------------


class ObservationIn(_Write):
    strings: list[Text] | None = None
    vectors: list[list[FiniteNumber]] | None = None
    emotives: dict[Text, EmotiveValue] | None = None
    unique_id: Identifier | None = None


class CreateSessionRequest(_Write):
    node_id: Identifier | None = None
    user_id: Identifier | None = Field(None, description="Alias of node_id (baseline clients)")
    metadata: dict[str, Any] | None = None
    ttl_seconds: Annotated[int, Field(strict=True, ge=0, le=30 * 86400)] | None = Field(
        None, description="Session lifetime; null or 0 means the configured default"
    )
    config: dict[str, Any] | None = Field(None, description="Per-session gene overrides")

    @field_validator("ttl_seconds", mode="before")
    @classmethod
    def _integral_ttl(cls, ttl_seconds: Any) -> Any:
        return integral_float_to_int(ttl_seconds)

    @field_validator("metadata")
    @classmethod
    def _metadata_is_text(cls, metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        if metadata:  # a lone surrogate anywhere in it cannot be stored or answered
            _encodable(json.dumps(metadata, ensure_ascii=False))
        return metadata

    @model_validator(mode="after")
    def _one_node(self) -> CreateSessionRequest:
        if self.node_id is None and self.user_id is None:
            raise ValueError("node_id (or its alias user_id) is required")
        if self.node_id is not None and self.user_id is not None and self.node_id != self.user_id:
            raise ValueError("node_id and user_id name different nodes")
        return self

    @property
    def node(self) -> str:
        return self.node_id or self.user_id or ""


class ObserveSequenceRequest(_Write):
    observations: list[ObservationIn]
    learn_after_each: StrictBool = False
    learn_at_end: StrictBool = False
    clear_stm_between: StrictBool = False


class GenesUpdateRequest(_Write):
    genes: dict[str, Any]


# -- responses --------------------------------------------------------------------------


class SessionResponse(BaseModel):
    session_id: str
    node_id: str
    user_id: str
    created_at: str
    expires_at: str
    last_accessed: str
    ttl_seconds: int
    access_count: int
    metadata: dict[str, Any]
    session_config: dict[str, Any]


class StatusResponse(BaseModel):
    status: str
    session_id: str
    ttl_seconds: int | None = None
    scope: str | None = None


class ObserveResponse(BaseModel):
    status: Literal["ok"]
    session_id: str
    processor_id: str
    stm_length: int
    time: int
    unique_id: str
    auto_learned_pattern: str | None


class STMResponse(BaseModel):
    stm: list[list[str]]
    session_id: str
    length: int


class LearnResponse(BaseModel):
    status: Literal["learned"]
    pattern_name: str
    session_id: str
    message: str


class PredictionsResponse(BaseModel):
    predictions: list[dict[str, Any]]
    session_id: str
    count: int


class SequenceResponse(BaseModel):
    status: str
    session_id: str
    node_id: str
    processor_id: str
    observations_processed: int
    initial_stm_length: int
    final_stm_length: int
    results: list[dict[str, Any]]
    auto_learned_patterns: list[str]
    final_learned_pattern: str | None
    isolated: bool = Field(description="clear_stm_between: each observation on an empty STM")


class PerceptDataResponse(BaseModel):
    percept_data: dict[str, Any]
    session_id: str


class CognitionDataResponse(BaseModel):
    cognition_data: dict[str, Any]
    session_id: str


class ConfigResponse(BaseModel):
    session_id: str
    config: dict[str, Any]


class ConfigUpdateResponse(BaseModel):
    status: Literal["okay"]
    message: str
    session_id: str
    config: dict[str, Any]


class SessionCountResponse(BaseModel):
    active_session_count: int


class SessionExistsResponse(BaseModel):
    exists: bool
    expired: bool
    session_id: str


# -- v1 responses (semantics §8.1 shapes plus session_id) ---------------------------------


class _V1(BaseModel):
    processor_id: str = Field(description="The session's node id")
    session_id: str


class V1ObserveResponse(_V1):
    status: Literal["okay"]
    auto_learned_pattern: str | None
    time: int
    unique_id: str
    stm_length: int


class V1STMResponse(_V1):
    stm: list[list[str]]


class V1LearnResponse(_V1):
    pattern_name: str
    message: str


class V1StatusResponse(_V1):
    status: Literal["okay"]
    message: str


class V1PredictionsResponse(_V1):
    predictions: list[dict[str, Any]]


class V1PatternResponse(_V1):
    pattern: dict[str, Any]


class V1GeneResponse(_V1):
    gene_name: str
    gene_value: Any


class V1PerceptDataResponse(_V1):
    percept_data: dict[str, Any]


class V1CognitionDataResponse(_V1):
    cognition_data: dict[str, Any]


class V1SequenceResponse(_V1):
    status: Literal["okay"]
    observations_processed: int
    patterns_learned: list[str]
    individual_results: list[dict[str, Any]]
    final_predictions: list[dict[str, Any]] | None


# -- system responses (semantics §7.6) ----------------------------------------------------


class HealthResponse(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy"]
    processor_status: str
    base_processor_id: str
    uptime_seconds: float
    issues: list[str]
    metrics_collected: int
    last_collection: float
    active_sessions: int
    timestamp: str


class ServiceStatusResponse(BaseModel):
    status: str
    base_processor_id: str
    uptime_seconds: float
    sessions: dict[str, Any]
    processors: dict[str, Any]
    backends: dict[str, Any]
    version: str
    prediction_core: Literal["compiled", "python"]


# -- error envelope (documentation of every error response) -------------------------------


class ErrorDetail(BaseModel):
    code: str = Field(examples=["KATO_SESSION_NOT_FOUND"])
    message: str
    details: dict[str, Any] = Field(description="Context of the error, always with trace_id")
    timestamp: str


class ErrorResponse(BaseModel):
    error: ErrorDetail
    status: int


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting the envelope for the given statuses."""
    return {status: {"model": ErrorResponse} for status in statuses}
