"""The KATO 3.x session surface: ``/sessions/...`` (semantics §12.1, §12.3, §12.4).

Same service, same session store and same knowledge bases as ``/v2/sessions``: a session
created on either surface is usable on both. The surface decides the shapes (3.x's:
``"status": "okay"``, ``ttl_seconds``, ``session_config``, learn's ``"status": "learned"``);
the session's configuration decides the semantics. Sessions created here start from the 3.x
defaults (``kato.service.v3_config``). Errors use the service's envelope, like every route.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from kato.api.auth import (
    READER,
    WRITER,
    CurrentPrincipal,
    SessionAdmin,
    SessionReader,
    SessionReaderCheck,
    SessionWriter,
    SessionWriterCheck,
)
from kato.api.deps import LimitsDep, ServiceDep, service_of, v1_session_id
from kato.api.idempotency import IdempotencyKey
from kato.api.limits import check_metadata, check_observation, check_sequence
from kato.api.routes_sessions import NOTHING_LEARNED, count_sessions, get_stm, session_exists
from kato.api.schemas import (
    ConfigResponse,
    SessionCountResponse,
    SessionExistsResponse,
    STMResponse,
    error_responses,
)
from kato.api.schemas_v3 import (
    V3ClearedAllResponse,
    V3CognitionDataResponse,
    V3ConfigUpdateResponse,
    V3CreateSessionRequest,
    V3DeletedResponse,
    V3ExtendedResponse,
    V3LearnResponse,
    V3Observation,
    V3ObserveResponse,
    V3ObserveSequenceRequest,
    V3PerceptDataResponse,
    V3PredictionsResponse,
    V3SequenceResponse,
    V3SessionResponse,
)
from kato.config import LimitsSettings
from kato.core.errors import LimitExceededError, PatternNotFoundError
from kato.core.observation import Observation
from kato.core.random_ids import uuid4_hex
from kato.security.layer import annotate_audit
from kato.security.ownership import check_may_create_on_node, session_owner_for
from kato.service.kato_service import KatoService
from kato.service.v3_config import from_v3, to_v3, v3_defaults
from kato.sessions.models import Session

router = APIRouter(
    prefix="/sessions", tags=["sessions (3.x)"], responses=error_responses(404, 422, 500, 503)
)


def with_metadata(
    observation: Observation, metadata: dict[str, Any] | None, limits: LimitsSettings
) -> Observation:
    """The observation with its §12.5 metadata, bounded by ``limits.max_metadata_bytes``
    (422 ``KATO_LIMIT_EXCEEDED``, nothing stored)."""
    if not metadata:
        return observation
    size = len(json.dumps(metadata, ensure_ascii=False).encode("utf-8"))
    limit = limits.max_metadata_bytes
    if size > limit:
        raise LimitExceededError(
            f"observation metadata bytes: {size} exceeds max_metadata_bytes = {limit}",
            limit="max_metadata_bytes",
            maximum=limit,
            actual=size,
        )
    return replace(observation, metadata=metadata)


def iso_utc(epoch_seconds: float) -> str:
    """3.x timestamps: ISO-8601 UTC with a ``Z`` (how its models render aware datetimes)."""
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _session_response(session: Session, config: dict[str, Any], ttl_seconds: int) -> Any:
    return V3SessionResponse(
        session_id=session.session_id,
        node_id=session.node_id,
        created_at=iso_utc(session.created_at),
        expires_at=iso_utc(session.expires_at),
        ttl_seconds=ttl_seconds,
        metadata=session.metadata,
        session_config=config,
    )


@router.post(
    "/{session_id}/observe",
    response_model=V3ObserveResponse,
    responses=error_responses(400, 409, 413),
)
async def observe(
    session_id: str, body: V3Observation, request: Request, visible: SessionWriterCheck
) -> V3ObserveResponse:
    service = service_of(request)
    limits = service.settings.limits
    observation = with_metadata(check_observation(body, limits), body.metadata, limits)
    unique_id = body.unique_id or f"obs-{uuid4_hex()}"
    session, outcome = await service.observe(
        session_id,
        observation,
        unique_id,
        check=visible,
        named_by_client=body.unique_id is not None,
    )
    return V3ObserveResponse(
        status="okay",
        session_id=session_id,
        processor_id=session.node_id,
        stm_length=outcome.stm_length,
        time=outcome.time,
        unique_id=unique_id,
        auto_learned_pattern=outcome.auto_learned_pattern,
    )


@router.post(
    "", response_model=V3SessionResponse, responses=error_responses(400, 409), dependencies=[WRITER]
)
async def create_session(
    body: V3CreateSessionRequest,
    service: ServiceDep,
    limits: LimitsDep,
    principal: CurrentPrincipal,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> V3SessionResponse:
    check_metadata(body.metadata, limits)
    check_may_create_on_node(principal, body.node_id)
    config = {**v3_defaults(service.settings.genes), **from_v3(body.config or {})}
    session = await service.create_session(
        body.node_id,
        body.metadata,
        body.ttl_seconds or None,
        config,
        owner=session_owner_for(principal),
        idempotency_key=idempotency_key,
    )
    annotate_audit(request, session_id=session.session_id, node_id=session.node_id)
    return _session_response(session, to_v3(service.genes_for(session)), session.ttl_seconds)


# Same shape as v2; registered before "/{session_id}" so that "count" is not taken for an id.
router.add_api_route(
    "/count",
    count_sessions,
    methods=["GET"],
    response_model=SessionCountResponse,
    dependencies=[READER],
)


@router.get("/{session_id}", response_model=V3SessionResponse, dependencies=[SessionReader])
async def get_session(session_id: str, service: ServiceDep) -> V3SessionResponse:
    session = await service.get_session(session_id)
    remaining = max(0, int(session.expires_at - time.time()))  # 3.x: the time left
    return _session_response(session, to_v3(service.genes_for(session)), remaining)


@router.delete("/{session_id}", response_model=V3DeletedResponse, dependencies=[SessionWriter])
async def delete_session(session_id: str, service: ServiceDep) -> V3DeletedResponse:
    await service.delete_session(session_id)
    return V3DeletedResponse(status="deleted", session_id=session_id)


# Same rule and shape as v2 (ownership-aware, does not touch the session's expiry).
router.add_api_route(
    "/{session_id}/exists",
    session_exists,
    methods=["GET"],
    response_model=SessionExistsResponse,
    dependencies=[READER],
)


@router.post(
    "/{session_id}/extend", response_model=V3ExtendedResponse, dependencies=[SessionWriter]
)
async def extend_session(
    session_id: str,
    service: ServiceDep,
    ttl_seconds: Annotated[int, Query(ge=1, le=30 * 86400)] = 3600,
) -> V3ExtendedResponse:
    await service.extend_session(session_id, ttl_seconds)
    return V3ExtendedResponse(status="extended", session_id=session_id, ttl_seconds=ttl_seconds)


router.add_api_route(  # same shape as v2
    "/{session_id}/stm",
    get_stm,
    methods=["GET"],
    response_model=STMResponse,
    dependencies=[SessionReader],
)


@router.post(
    "/{session_id}/learn",
    response_model=V3LearnResponse,
    responses=error_responses(400, 409),
    dependencies=[SessionWriter],
)
async def learn(
    session_id: str, service: ServiceDep, idempotency_key: IdempotencyKey = None
) -> V3LearnResponse:
    session, name = await service.learn(session_id, idempotency_key)
    return V3LearnResponse(
        status="learned",
        pattern_name=name,
        session_id=session_id,
        processor_id=session.node_id,
        message=(
            f"Learned pattern {name} from {len(session.state.stm)} events"
            if name
            else NOTHING_LEARNED
        ),
    )


@router.post(
    "/{session_id}/clear-stm",
    response_model=V3DeletedResponse,
    responses=error_responses(409),
    dependencies=[SessionWriter],
)
async def clear_stm(
    session_id: str, service: ServiceDep, idempotency_key: IdempotencyKey = None
) -> V3DeletedResponse:
    await service.clear_stm(session_id, idempotency_key)
    return V3DeletedResponse(status="cleared", session_id=session_id)


@router.post(
    "/{session_id}/clear-all",
    response_model=V3ClearedAllResponse,
    responses=error_responses(409),
    dependencies=[SessionAdmin],
)
async def clear_all(
    session_id: str, service: ServiceDep, idempotency_key: IdempotencyKey = None
) -> V3ClearedAllResponse:
    await service.clear_all(session_id, idempotency_key)
    return V3ClearedAllResponse(status="cleared", session_id=session_id, scope="all")


class FinalizeTrainingResponse(BaseModel):
    """§12.7's answer to ``POST /sessions/{id}/finalize-training``."""

    status: str
    patterns_processed: int
    time_ms: float
    session_id: str
    node_id: str
    message: str


@router.post(
    "/{session_id}/finalize-training",
    response_model=FinalizeTrainingResponse,
    dependencies=[SessionWriter],
)
async def finalize_training(session_id: str, service: ServiceDep) -> FinalizeTrainingResponse:
    """Precompute every pattern's whole-pattern entropies and TF vector (§12.7), under the
    session's ``statistics_rules``, into the node's knowledge base."""
    session = await service.get_session(session_id)
    node = service.nodes.get(session.node_id)
    genes = service.genes_for(session)
    started = time.perf_counter()
    # CPU-bound over the whole node: it takes a prediction slot, in the threadpool.
    with service.prediction_slots.slot():
        processed = await run_in_threadpool(node.finalize_training, genes)
    return FinalizeTrainingResponse(
        status="completed",
        patterns_processed=processed,
        time_ms=(time.perf_counter() - started) * 1000.0,
        session_id=session_id,
        node_id=session.node_id,
        message=f"Precomputed training figures for {processed} patterns",
    )


@router.get("/{session_id}/predictions", response_model=V3PredictionsResponse)
async def predictions(
    session_id: str, service: ServiceDep, visible: SessionReaderCheck
) -> V3PredictionsResponse:
    session, (ranked, futures) = await service.prediction_result(session_id, check=visible)
    return V3PredictionsResponse(
        predictions=ranked,
        future_potentials=futures,
        session_id=session_id,
        processor_id=session.node_id,
        count=len(ranked),
        time=session.state.time,
        unique_id=None,
    )


@router.post(
    "/{session_id}/observe-sequence",
    response_model=V3SequenceResponse,
    responses=error_responses(400, 409, 413),
    dependencies=[SessionWriter],
)
async def observe_sequence(
    session_id: str, body: V3ObserveSequenceRequest, service: ServiceDep, limits: LimitsDep
) -> V3SequenceResponse:
    observations = [
        with_metadata(observation, sent.metadata, limits)
        for observation, sent in zip(
            check_sequence(body.observations, limits), body.observations, strict=True
        )
    ]
    summary = await service.observe_sequence(
        session_id,
        observations,
        [sent.unique_id or f"seq-obs-{uuid4_hex()}" for sent in body.observations],
        learn_after_each=body.learn_after_each,
        learn_at_end=body.learn_at_end,
        clear_stm_between=body.clear_stm_between,
        named_by_client=[sent.unique_id is not None for sent in body.observations],
    )
    return V3SequenceResponse(**summary)


@router.get(
    "/{session_id}/percept-data",
    response_model=V3PerceptDataResponse,
    dependencies=[SessionReader],
)
async def percept_data(session_id: str, service: ServiceDep) -> V3PerceptDataResponse:
    session = await service.get_session(session_id)
    return V3PerceptDataResponse(
        percept_data=session.state.percept_data, session_id=session_id, node_id=session.node_id
    )


@router.get(
    "/{session_id}/cognition-data",
    response_model=V3CognitionDataResponse,
    dependencies=[SessionReader],
)
async def cognition_data(session_id: str, service: ServiceDep) -> V3CognitionDataResponse:
    session = await service.get_session(session_id)
    data = await service.cognition_data(session_id)
    return V3CognitionDataResponse(
        cognition_data=data, session_id=session_id, node_id=session.node_id
    )


@router.get("/{session_id}/config", response_model=ConfigResponse, dependencies=[SessionReader])
async def get_config(session_id: str, service: ServiceDep) -> ConfigResponse:
    genes = service.genes_for(await service.get_session(session_id))
    return ConfigResponse(session_id=session_id, config=to_v3(genes))


@router.post(
    "/{session_id}/config",
    response_model=V3ConfigUpdateResponse,
    responses=error_responses(400),
    dependencies=[SessionWriter],
)
async def update_config(
    session_id: str,
    service: ServiceDep,
    body: Annotated[
        dict[str, Any],
        Body(description='{"config": {key: value}} or the bare {key: value} map'),
    ],
) -> V3ConfigUpdateResponse:
    # 3.x reads body.get("config", body): a "config" object wins over the bare map.
    changes = body["config"] if isinstance(body.get("config"), dict) else body
    await service.update_config(session_id, from_v3(changes))
    return V3ConfigUpdateResponse(
        status="okay", message="Configuration updated", session_id=session_id
    )


# -- /pattern/{id}?node_id= (3.x) on the v1 route --------------------------------------------


@dataclass(frozen=True, slots=True)
class PatternSource:
    """Where ``GET /pattern/{id}`` reads: a node named by 3.x's ``?node_id=`` (no session
    involved), else the v1 session (``X-Session-ID`` or the caller's default session)."""

    node_id: str | None
    session_id: str | None


async def pattern_source(
    connection: HTTPConnection,
    principal: CurrentPrincipal,
    response: Response,
    node_id: Annotated[
        str | None,
        Query(min_length=1, max_length=256, description="3.x: read this node's pattern"),
    ] = None,
    x_session_id: Annotated[
        str | None, Header(description="Route to this session; default session when absent")
    ] = None,
) -> PatternSource:
    if node_id is None:
        return PatternSource(
            None, await v1_session_id(connection, principal, response, x_session_id)
        )
    check_may_create_on_node(principal, node_id)  # 403 outside the principal's node scope
    annotate_audit(connection, node_id=node_id)
    return PatternSource(node_id, None)


PatternSourceDep = Annotated[PatternSource, Depends(pattern_source)]


async def node_pattern(
    connection: HTTPConnection, service: KatoService, node_id: str, name: str
) -> dict[str, Any]:
    """3.x's ``{"pattern", "node_id"}``; the pattern record includes its ``metadata``. A node
    without a knowledge base has no pattern (404, and nothing is created)."""
    if not await run_in_threadpool(connection.app.state.storage.has_node, node_id):
        raise PatternNotFoundError(name)
    node = await run_in_threadpool(service.nodes.get, node_id)
    record = await run_in_threadpool(node.get_pattern, name)
    return {"pattern": record.to_record(), "node_id": node_id}
