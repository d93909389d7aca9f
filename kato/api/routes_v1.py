"""v1 endpoints of semantics §8.1, served by sessions (decision D9).

``X-Session-ID`` routes a request to that session (404 if unknown); without it the
persistent default session of the default node is used. Responses keep the v1 shapes and add
``session_id``; ``processor_id`` is the session's node id.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response

from kato.api.auth import ADMIN, READER, WRITER
from kato.api.deps import LimitsDep, ServiceDep, V1SessionDep
from kato.api.encoding import encoded
from kato.api.errors import GeneNotFoundError
from kato.api.idempotency import IdempotencyKey
from kato.api.limits import check_observation, check_sequence
from kato.api.routes_v3 import PatternSourceDep, node_pattern
from kato.api.schemas import (
    GenesUpdateRequest,
    ObservationIn,
    ObserveSequenceRequest,
    V1CognitionDataResponse,
    V1GeneResponse,
    V1LearnResponse,
    V1ObserveResponse,
    V1PatternResponse,
    V1PerceptDataResponse,
    V1PredictionsResponse,
    V1SequenceResponse,
    V1StatusResponse,
    V1STMResponse,
    error_responses,
)
from kato.api.schemas_v3 import V3PatternResponse
from kato.core.errors import EmptySTMError
from kato.core.hashing import PATTERN_PREFIX
from kato.core.random_ids import uuid4_hex

router = APIRouter(tags=["v1"], responses=error_responses(404, 422, 500, 503))

Body = dict[str, Any]


def with_pattern_prefix(predictions: list[dict[str, Any]], key: str = "name") -> list[Body]:
    """v1 names patterns ``PTRN|<hash>``. Copies: the engine's cached list is shared."""
    renamed = []
    for prediction in predictions:
        copy = {k: v for k, v in prediction.items() if k != "name"}
        name = prediction["name"]
        copy[key] = name if name.startswith(PATTERN_PREFIX) else PATTERN_PREFIX + name
        renamed.append(copy)
    return renamed


async def _node_id(service: ServiceDep, session_id: str) -> str:
    return (await service.get_session(session_id)).node_id


@router.post(
    "/observe",
    response_model=V1ObserveResponse,
    responses=error_responses(400, 409, 413),
    dependencies=[WRITER],
)
async def observe(
    body: ObservationIn, session_id: V1SessionDep, service: ServiceDep, limits: LimitsDep
) -> Body:
    observation = check_observation(body, limits)
    unique_id = body.unique_id or f"obs-{uuid4_hex()}-{time.time_ns() // 1000}"
    session, outcome = await service.observe(
        session_id, observation, unique_id, named_by_client=body.unique_id is not None
    )
    return {
        "status": "okay",
        "processor_id": session.node_id,
        "auto_learned_pattern": outcome.auto_learned_pattern,
        "time": outcome.time,
        "unique_id": unique_id,
        "stm_length": outcome.stm_length,
        "session_id": session_id,
    }


@router.get("/stm", response_model=V1STMResponse, dependencies=[READER])
@router.get("/short-term-memory", response_model=V1STMResponse, dependencies=[READER])
async def stm(session_id: V1SessionDep, service: ServiceDep) -> Body:
    session = await service.get_session(session_id)
    return {"stm": session.state.stm, "processor_id": session.node_id, "session_id": session_id}


@router.post(
    "/learn", response_model=V1LearnResponse, responses=error_responses(409), dependencies=[WRITER]
)
async def learn(
    session_id: V1SessionDep, service: ServiceDep, idempotency_key: IdempotencyKey = None
) -> Body:
    try:
        _, name = await service.learn(session_id, idempotency_key)
    except EmptySTMError:  # v1: learning an empty STM is a no-op, not an error (§8.1)
        name = ""
    return {
        "pattern_name": name,
        "processor_id": await _node_id(service, session_id),
        "message": f"Learned pattern: {name}" if name else "Insufficient data for learning",
        "session_id": session_id,
    }


@router.post(
    "/clear-stm",
    response_model=V1StatusResponse,
    responses=error_responses(409),
    dependencies=[WRITER],
)
@router.post(
    "/clear-short-term-memory",
    response_model=V1StatusResponse,
    responses=error_responses(409),
    dependencies=[WRITER],
)
async def clear_stm(
    session_id: V1SessionDep, service: ServiceDep, idempotency_key: IdempotencyKey = None
) -> Body:
    session = await service.clear_stm(session_id, idempotency_key)
    return {
        "status": "okay",
        "message": "stm-cleared",
        "processor_id": session.node_id,
        "session_id": session_id,
    }


@router.post(
    "/clear-all",
    response_model=V1StatusResponse,
    responses=error_responses(409),
    dependencies=[ADMIN],
)
@router.post(
    "/clear-all-memory",
    response_model=V1StatusResponse,
    responses=error_responses(409),
    dependencies=[ADMIN],
)
async def clear_all(
    session_id: V1SessionDep, service: ServiceDep, idempotency_key: IdempotencyKey = None
) -> Body:
    session = await service.clear_all(session_id, idempotency_key)
    return {
        "status": "okay",
        "message": "all-cleared",
        "processor_id": session.node_id,
        "session_id": session_id,
    }


@router.get("/predictions", response_model=V1PredictionsResponse, dependencies=[READER])
@router.post("/predictions", response_model=V1PredictionsResponse, dependencies=[READER])
async def predictions(
    session_id: V1SessionDep,
    service: ServiceDep,
    response: Response,
    unique_id: str | None = None,
) -> Body | Response:
    if unique_id:
        archived = await service.archived_predictions(session_id, unique_id)
        node_id = await _node_id(service, session_id)
        return {"predictions": archived, "processor_id": node_id, "session_id": session_id}
    session, ranked = await service.predictions(session_id)
    # Encoded once, in V1PredictionsResponse's field order (kato/api/encoding.py); the
    # X-Session-ID header the session dependency set on ``response`` goes with it.
    body = {
        "processor_id": session.node_id,
        "session_id": session_id,
        "predictions": with_pattern_prefix(ranked),
    }
    return encoded(body, response)


@router.get(
    "/pattern/{pattern_id}",
    response_model=V1PatternResponse | V3PatternResponse,
    dependencies=[READER],
)
async def pattern(
    pattern_id: str, source: PatternSourceDep, service: ServiceDep, request: Request
) -> Body:
    if source.node_id is not None:  # KATO 3.x: ?node_id= reads that node (issue 12)
        return await node_pattern(request, service, source.node_id, pattern_id)
    session_id = str(source.session_id)
    record = await service.get_pattern(session_id, pattern_id)
    return {
        "pattern": record.to_dict(),
        "processor_id": await _node_id(service, session_id),
        "session_id": session_id,
    }


@router.post(
    "/genes/update",
    response_model=V1StatusResponse,
    responses=error_responses(400),
    dependencies=[ADMIN],
)
async def update_genes(
    body: GenesUpdateRequest, session_id: V1SessionDep, service: ServiceDep
) -> Body:
    await service.update_config(session_id, body.genes)
    return {
        "status": "okay",
        "message": "genes-updated",
        "processor_id": await _node_id(service, session_id),
        "session_id": session_id,
    }


@router.get("/gene/{gene_name}", response_model=V1GeneResponse, dependencies=[READER])
async def gene(gene_name: str, session_id: V1SessionDep, service: ServiceDep) -> Body:
    session = await service.get_session(session_id)
    values = service.genes_for(session).model_dump(mode="json")
    field = "sort" if gene_name == "sort_symbols" else gene_name
    if field not in values:
        raise GeneNotFoundError(gene_name)
    return {
        "gene_name": gene_name,
        "gene_value": values[field],
        "processor_id": session.node_id,
        "session_id": session_id,
    }


@router.get("/percept-data", response_model=V1PerceptDataResponse, dependencies=[READER])
async def percept_data(session_id: V1SessionDep, service: ServiceDep) -> Body:
    session = await service.get_session(session_id)
    return {
        "percept_data": session.state.percept_data,
        "processor_id": session.node_id,
        "session_id": session_id,
    }


@router.get("/cognition-data", response_model=V1CognitionDataResponse, dependencies=[READER])
async def cognition_data(session_id: V1SessionDep, service: ServiceDep) -> Body:
    data = await service.cognition_data(session_id)
    return {
        "cognition_data": data,
        "processor_id": await _node_id(service, session_id),
        "session_id": session_id,
    }


def _explicit_learns(summary: Body) -> list[str]:
    """v1 ``patterns_learned`` lists explicit learns only; auto-learns stay in the results."""
    remaining = list(summary["auto_learned_patterns"])
    for result in summary["results"]:
        if result["auto_learned_pattern"] in remaining:
            remaining.remove(result["auto_learned_pattern"])
    return remaining


@router.post(
    "/observe-sequence",
    response_model=V1SequenceResponse,
    responses=error_responses(400, 409, 413),
    dependencies=[WRITER],
)
async def observe_sequence(
    body: ObserveSequenceRequest, session_id: V1SessionDep, service: ServiceDep, limits: LimitsDep
) -> Body:
    observations = check_sequence(body.observations, limits)
    stamp = time.time_ns() // 1000
    unique_ids = [
        sent.unique_id or f"batch-obs-{i}-{uuid4_hex()}-{stamp}"
        for i, sent in enumerate(body.observations)
    ]
    summary = await service.observe_sequence(
        session_id,
        observations,
        unique_ids,
        learn_after_each=body.learn_after_each,
        learn_at_end=body.learn_at_end and not body.clear_stm_between,
        clear_stm_between=body.clear_stm_between,
        named_by_client=[sent.unique_id is not None for sent in body.observations],
    )
    node_id = summary["node_id"]
    results = [
        {
            "status": "okay",
            "processor_id": node_id,
            "auto_learned_pattern": result["auto_learned_pattern"],
            "time": result["time"],
            "unique_id": result["unique_id"],
        }
        for result in summary["results"]
    ]
    final: list[Body] | None = None
    if not (body.clear_stm_between and body.learn_after_each):
        _, ranked = await service.predictions(session_id)
        final = with_pattern_prefix(ranked, key="pattern_name")
    return {
        "status": "okay",
        "processor_id": node_id,
        "observations_processed": summary["observations_processed"],
        "patterns_learned": _explicit_learns(summary),
        "individual_results": results,
        "final_predictions": final,
        "session_id": session_id,
    }
