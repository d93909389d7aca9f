"""Request and response models of the KATO 3.x surface (``/sessions/...``, semantics §12.1).

Requests differ from v2 in one way only: a field 3.x does not know is ignored (logged at
debug level), as 3.x's models do, where v2 refuses it (422). Field types stay as strict as on
v2 (a number where a string is expected is still a 422). Responses have 3.x's shapes.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from kato.api.schemas import CreateSessionRequest, Identifier, ObservationIn

logger = logging.getLogger("kato.api.v3")


class _Lenient(BaseModel):
    """Unknown fields are dropped after a debug log line naming them."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="after")
    def _drop_unknown(self) -> _Lenient:
        extra = self.__pydantic_extra__
        if extra:
            logger.debug("%s: ignored unknown fields %s", type(self).__name__, sorted(extra))
            extra.clear()
        return self


class V3Observation(_Lenient, ObservationIn):
    model_config = ConfigDict(extra="allow")

    metadata: dict[str, Any] | None = Field(
        None, description="Observation metadata (§12.5): string keys, any JSON values"
    )

    @field_validator("metadata")
    @classmethod
    def _metadata_is_text(cls, metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        if metadata:  # a lone surrogate anywhere in it cannot be stored or answered
            try:
                json.dumps(metadata, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("metadata must be valid Unicode (no lone surrogates)") from None
        return metadata


class V3CreateSessionRequest(_Lenient, CreateSessionRequest):
    """``{"node_id", "metadata", "ttl_seconds", "config"}``; 3.x has no ``user_id``."""

    model_config = ConfigDict(extra="allow")

    node_id: Identifier  # type: ignore[assignment]  # required on 3.x

    @model_validator(mode="before")
    @classmethod
    def _no_user_id(cls, data: Any) -> Any:
        # 3.x does not know user_id: it is an unknown field like any other (ignored).
        if isinstance(data, dict) and "user_id" in data:
            data = {key: value for key, value in data.items() if key != "user_id"}
            logger.debug("V3CreateSessionRequest: ignored unknown fields ['user_id']")
        return data


class V3ObserveSequenceRequest(_Lenient):
    observations: list[V3Observation]
    learn_after_each: StrictBool = False
    learn_at_end: StrictBool = False
    clear_stm_between: StrictBool = False


# -- responses --------------------------------------------------------------------------


class V3SessionResponse(BaseModel):
    session_id: str
    node_id: str
    created_at: str
    expires_at: str
    ttl_seconds: int
    metadata: dict[str, Any]
    session_config: dict[str, Any]


class V3ObserveResponse(BaseModel):
    status: str
    session_id: str
    processor_id: str
    stm_length: int
    time: int
    unique_id: str
    auto_learned_pattern: str | None


class V3LearnResponse(BaseModel):
    status: str
    pattern_name: str
    session_id: str
    processor_id: str
    message: str


class V3PredictionsResponse(BaseModel):
    predictions: list[dict[str, Any]]
    future_potentials: list[dict[str, Any]] | None
    session_id: str
    processor_id: str
    count: int
    time: int
    unique_id: str | None


class V3SequenceResponse(BaseModel):
    status: str
    processor_id: str
    observations_processed: int
    initial_stm_length: int
    final_stm_length: int
    results: list[dict[str, Any]]
    auto_learned_patterns: list[str]
    final_learned_pattern: str | None
    isolated: bool


class V3PerceptDataResponse(BaseModel):
    percept_data: dict[str, Any]
    session_id: str
    node_id: str


class V3CognitionDataResponse(BaseModel):
    cognition_data: dict[str, Any]
    session_id: str
    node_id: str


class V3ConfigUpdateResponse(BaseModel):
    status: str
    message: str
    session_id: str


class V3DeletedResponse(BaseModel):
    status: str
    session_id: str


class V3ExtendedResponse(BaseModel):
    status: str
    session_id: str
    ttl_seconds: int


class V3ClearedAllResponse(BaseModel):
    status: str
    session_id: str
    scope: str


class V3PatternResponse(BaseModel):
    pattern: dict[str, Any]
    node_id: str
