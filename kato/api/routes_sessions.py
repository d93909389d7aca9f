"""v2 session API (architecture spec table, semantics §7.4 and §12.1–§12.4)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from starlette.types import Scope

from kato.api.auth import (
    READER,
    WRITER,
    CurrentPrincipal,
    SessionAdmin,
    SessionReader,
    SessionReaderCheck,
    SessionWriter,
    SessionWriterCheck,
    session_reader_check,
    session_writer_check,
)
from kato.api.deps import LimitsDep, ServiceDep, iso, service_of
from kato.api.encoding import encoded
from kato.api.idempotency import IdempotencyKey
from kato.api.lean_route import LeanRoute, dependency_response
from kato.api.limits import check_metadata, check_observation, check_sequence
from kato.api.schemas import (
    CognitionDataResponse,
    ConfigResponse,
    ConfigUpdateResponse,
    CreateSessionRequest,
    LearnResponse,
    ObservationIn,
    ObserveResponse,
    ObserveSequenceRequest,
    PerceptDataResponse,
    PredictionsResponse,
    SequenceResponse,
    SessionCountResponse,
    SessionExistsResponse,
    SessionResponse,
    StatusResponse,
    STMResponse,
    error_responses,
)
from kato.core.random_ids import uuid4_hex
from kato.security.layer import annotate_audit
from kato.security.ownership import (
    check_may_create_on_node,
    may_access_session,
    session_owner_for,
)
from kato.sessions.models import Session

router = APIRouter(
    prefix="/v2/sessions", tags=["sessions"], responses=error_responses(404, 422, 500, 503)
)


def session_response(session: Session, config: dict[str, Any]) -> SessionResponse:
    return SessionResponse(
        session_id=session.session_id,
        node_id=session.node_id,
        user_id=session.node_id,
        created_at=iso(session.created_at),
        expires_at=iso(session.expires_at),
        last_accessed=iso(session.last_accessed),
        ttl_seconds=session.ttl_seconds,
        access_count=session.access_count,
        metadata=session.metadata,
        session_config=config,
    )


async def observe(
    session_id: str,
    body: ObservationIn,
    request: Request,
    response: Response,
    visible: SessionWriterCheck,
) -> Response:
    # The hot path: service and limits read from the app directly, not as dependencies
    # (FastAPI's per-dependency resolution costs more than these two attribute reads), and
    # the ownership check runs on the session the critical section loads anyway.
    service = service_of(request)
    observation = check_observation(body, service.settings.limits)
    unique_id = body.unique_id or f"obs-{uuid4_hex()}"
    session, outcome = await service.observe(
        session_id,
        observation,
        unique_id,
        check=visible,
        named_by_client=body.unique_id is not None,  # a repeat of it is answered, not applied
    )
    # Encoded once in ObserveResponse's field order (kato/api/encoding.py), not built as the
    # model and validated again on the way out; the guard's X-Session-ID header is kept.
    return encoded(
        {
            "status": "ok",
            "session_id": session_id,
            "processor_id": session.node_id,
            "stm_length": outcome.stm_length,
            "time": outcome.time,
            "unique_id": unique_id,
            "auto_learned_pattern": outcome.auto_learned_pattern,
        },
        response,
    )


class _ObserveRoute(LeanRoute):
    """A well-formed JSON observe: its body validated, the guard and ``observe`` called
    directly, without the router and FastAPI's generic resolver (``kato/api/lean_route.py``)."""

    def accepted(
        self, scope: Scope, path_params: dict[str, Any], body: bytes
    ) -> ObservationIn | None:
        validated: ObservationIn | None = self.valid_json_body(scope, body)
        return validated

    async def answer(self, request: Request, accepted: ObservationIn) -> Response:
        session_id = request.path_params["session_id"]
        response = dependency_response()
        visible = await session_writer_check(session_id, request, response)
        return await observe(session_id, accepted, request, response, visible)


# Declared first: the lean dispatch takes a lean route only if no route before it can match
# its paths (``LeanDispatch.install``), and observe is the most frequent request by far.
router.add_api_route(
    "/{session_id}/observe",
    observe,
    methods=["POST"],
    response_model=ObserveResponse,
    responses=error_responses(400, 409, 413),
    route_class_override=_ObserveRoute,
)


async def predictions(session_id: str, request: Request, visible: SessionReaderCheck) -> Response:
    # As observe: the service is read from the app, not resolved as a dependency, and the
    # ownership check runs on the session the service loads (one load, not two). The
    # engine's objects are encoded as they are, in PredictionsResponse's field order
    # (kato/api/encoding.py): no model validation of ~78 KB of our own output.
    _, ranked = await service_of(request).predictions(session_id, check=visible)
    return encoded({"predictions": ranked, "session_id": session_id, "count": len(ranked)})


class _PredictionsRoute(LeanRoute):
    """Every GET predictions: the guard and ``predictions`` called directly. The guard's
    ``X-Session-ID`` stays off the answer, as on FastAPI's path (``encoded`` is not handed
    the dependency response)."""

    def accepted(self, scope: Scope, path_params: dict[str, Any], body: bytes) -> str:
        session_id: str = path_params["session_id"]
        return session_id

    async def answer(self, request: Request, accepted: str) -> Response:
        visible = await session_reader_check(accepted, request, dependency_response())
        return await predictions(accepted, request, visible)


# Second, for the same reason: the next most frequent request. No earlier route's path can
# match its path.
router.add_api_route(
    "/{session_id}/predictions",
    predictions,
    methods=["GET"],
    response_model=PredictionsResponse,
    route_class_override=_PredictionsRoute,
)


@router.post(
    "", response_model=SessionResponse, responses=error_responses(400, 409), dependencies=[WRITER]
)
async def create_session(
    body: CreateSessionRequest,
    service: ServiceDep,
    limits: LimitsDep,
    principal: CurrentPrincipal,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> SessionResponse:
    check_metadata(body.metadata, limits)
    check_may_create_on_node(principal, body.node)  # 403: the node id is the caller's input
    session = await service.create_session(
        body.node,
        body.metadata,
        body.ttl_seconds or None,
        body.config,
        owner=session_owner_for(principal),
        idempotency_key=idempotency_key,
    )
    annotate_audit(request, session_id=session.session_id, node_id=session.node_id)
    return session_response(session, session.config)


@router.get("/count", response_model=SessionCountResponse, dependencies=[READER])
async def count_sessions(service: ServiceDep) -> SessionCountResponse:
    return SessionCountResponse(active_session_count=await service.sessions.count())


@router.get("/{session_id}", response_model=SessionResponse, dependencies=[SessionReader])
async def get_session(session_id: str, service: ServiceDep) -> SessionResponse:
    session = await service.get_session(session_id)
    return session_response(session, session.config)


@router.delete("/{session_id}", response_model=StatusResponse, dependencies=[SessionWriter])
async def delete_session(session_id: str, service: ServiceDep) -> StatusResponse:
    await service.delete_session(session_id)
    return StatusResponse(status="deleted", session_id=session_id)


@router.get("/{session_id}/exists", response_model=SessionExistsResponse, dependencies=[READER])
async def session_exists(
    session_id: str, service: ServiceDep, principal: CurrentPrincipal
) -> SessionExistsResponse:
    # Somebody else's session "does not exist" for this caller (ownership, issue 6), live or
    # expired; "expired" lasts the retention window (session.expired_retention_seconds).
    session = await service.sessions.get(session_id)
    exists = session is not None and may_access_session(principal, session)
    tombstone = None if session is not None else await service.sessions.expired(session_id)
    expired = tombstone is not None and may_access_session(principal, tombstone)
    return SessionExistsResponse(exists=exists, expired=expired, session_id=session_id)


@router.post("/{session_id}/extend", response_model=StatusResponse, dependencies=[SessionWriter])
async def extend_session(
    session_id: str,
    service: ServiceDep,
    ttl_seconds: Annotated[int, Query(ge=1, le=30 * 86400)] = 3600,
) -> StatusResponse:
    await service.extend_session(session_id, ttl_seconds)
    return StatusResponse(status="extended", session_id=session_id, ttl_seconds=ttl_seconds)


@router.get("/{session_id}/stm", response_model=STMResponse, dependencies=[SessionReader])
async def get_stm(session_id: str, service: ServiceDep) -> STMResponse:
    stm = (await service.get_session(session_id)).state.stm
    return STMResponse(stm=stm, session_id=session_id, length=len(stm))


@router.post(
    "/{session_id}/learn",
    response_model=LearnResponse,
    responses=error_responses(400, 409),
    dependencies=[SessionWriter],
)
async def learn(
    session_id: str, service: ServiceDep, idempotency_key: IdempotencyKey = None
) -> LearnResponse:
    _, name = await service.learn(session_id, idempotency_key)
    return LearnResponse(
        status="learned",
        pattern_name=name,
        session_id=session_id,
        message=learn_message(name),
    )


# The spec's message for a stored pattern (§7 "from 0 events": the STM length after learning)
# is kept for clients matching it; nothing stored gets a message that says why (issue 13).
NOTHING_LEARNED = (
    "Nothing learned: a pattern needs at least two symbols and the STM held one "
    "(the STM is now empty)"
)


def learn_message(pattern_name: str) -> str:
    return f"Learned pattern {pattern_name} from 0 events" if pattern_name else NOTHING_LEARNED


@router.post(
    "/{session_id}/clear-stm",
    response_model=StatusResponse,
    responses=error_responses(409),
    dependencies=[SessionWriter],
)
async def clear_stm(
    session_id: str, service: ServiceDep, idempotency_key: IdempotencyKey = None
) -> StatusResponse:
    await service.clear_stm(session_id, idempotency_key)
    return StatusResponse(status="cleared", session_id=session_id)


@router.post(
    "/{session_id}/clear-all",
    response_model=StatusResponse,
    responses=error_responses(409),
    dependencies=[SessionAdmin],
)
async def clear_all(
    session_id: str, service: ServiceDep, idempotency_key: IdempotencyKey = None
) -> StatusResponse:
    await service.clear_all(session_id, idempotency_key)
    return StatusResponse(status="cleared", session_id=session_id, scope="all")


@router.post(
    "/{session_id}/observe-sequence",
    response_model=SequenceResponse,
    responses=error_responses(400, 409, 413),
    dependencies=[SessionWriter],
)
async def observe_sequence(
    session_id: str, body: ObserveSequenceRequest, service: ServiceDep, limits: LimitsDep
) -> SequenceResponse:
    observations = check_sequence(body.observations, limits)
    summary = await service.observe_sequence(
        session_id,
        observations,
        [sent.unique_id or f"obs-{uuid4_hex()}" for sent in body.observations],
        learn_after_each=body.learn_after_each,
        learn_at_end=body.learn_at_end,
        clear_stm_between=body.clear_stm_between,
        named_by_client=[sent.unique_id is not None for sent in body.observations],
    )
    return SequenceResponse(session_id=session_id, **summary)


@router.get(
    "/{session_id}/percept-data", response_model=PerceptDataResponse, dependencies=[SessionReader]
)
async def percept_data(session_id: str, service: ServiceDep) -> PerceptDataResponse:
    session = await service.get_session(session_id)
    return PerceptDataResponse(percept_data=session.state.percept_data, session_id=session_id)


@router.get(
    "/{session_id}/cognition-data",
    response_model=CognitionDataResponse,
    dependencies=[SessionReader],
)
async def cognition_data(session_id: str, service: ServiceDep) -> CognitionDataResponse:
    data = await service.cognition_data(session_id)
    return CognitionDataResponse(cognition_data=data, session_id=session_id)


@router.get("/{session_id}/config", response_model=ConfigResponse, dependencies=[SessionReader])
async def get_config(session_id: str, service: ServiceDep) -> ConfigResponse:
    genes = service.genes_for(await service.get_session(session_id))
    return ConfigResponse(session_id=session_id, config=genes.model_dump(mode="json"))


@router.post(
    "/{session_id}/config",
    response_model=ConfigUpdateResponse,
    responses=error_responses(400),
    dependencies=[SessionWriter],
)
async def update_config(
    session_id: str,
    service: ServiceDep,
    body: Annotated[
        dict[str, Any],
        Body(description='{"config": {gene: value}} or the bare {gene: value} map'),
    ],
) -> ConfigUpdateResponse:
    changes = (
        body["config"] if set(body) == {"config"} and isinstance(body["config"], dict) else body
    )
    genes = await service.update_config(session_id, changes)
    return ConfigUpdateResponse(
        status="okay",
        message="Configuration updated",
        session_id=session_id,
        config=genes.model_dump(mode="json"),
    )
