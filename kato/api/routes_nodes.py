"""v2 node routes (issue 11): a node's knowledge base as data.

Every route is role-checked and node-scoped: the role of the operation (reader reads and
predicts, writer learns and merge-imports, admin edits, deletes and replace-imports), then the
``{node_id}`` must be in the principal's node scope (403 otherwise: the node id is the caller's
own input, as for session creation). Reads of a node that has no knowledge base are 404
``KATO_NODE_NOT_FOUND`` and create nothing; writes create the node as a session would.
The work is ``kato.service.knowledge_base`` (shared with the command line), run in a worker
thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import HTTPConnection

from kato.api.deps import service_of
from kato.api.limits import check_metadata, check_observation
from kato.api.schemas import EmotiveValue, ObservationIn, Text, error_responses
from kato.config import LimitsSettings
from kato.core.errors import LimitExceededError
from kato.core.observation import Observation
from kato.engine.node import Node
from kato.security import ForbiddenError
from kato.security.layer import annotate_audit
from kato.security.principal import Principal
from kato.security.roles import Role, declare_access, requires
from kato.service import knowledge_base as kb
from kato.service.kato_service import KatoService

router = APIRouter(
    prefix="/v2/nodes",
    tags=["nodes"],
    responses=error_responses(400, 403, 404, 409, 413, 422, 503),
)
EmotiveName = Annotated[Text, Field(min_length=1)]

NDJSON = "application/x-ndjson"
Sort = Literal["name", "frequency"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SequenceIn(_Body):
    events: list[list[Text]] = Field(description="The sequence's events, oldest first")
    emotives: list[dict[EmotiveName, EmotiveValue]] | None = Field(
        None, description="Emotives observed with the sequence (averaged at learn, §1.8)"
    )
    metadata: dict[Text, Any] | None = Field(None, description="Pattern metadata (§12.5)")


class LearnBatchRequest(_Body):
    sequences: list[SequenceIn]


class LearnBatchResponse(BaseModel):
    learned: int
    patterns: list[str] = Field(description='Each sequence\'s PTRN| name, "" when not learned')


class PredictRequest(_Body):
    contexts: list[list[list[Text]]] = Field(description="Each context: the STM's events")
    config: dict[str, Any] | None = Field(None, description="Gene overrides for these contexts")


class PredictResult(BaseModel):
    predictions: list[dict[str, Any]]


class PredictResponse(BaseModel):
    results: list[PredictResult]


class PatternPatch(_Body):
    frequency: Annotated[int, Field(strict=True, ge=0)] | None = None
    emotives: (
        Annotated[list[dict[EmotiveName, EmotiveValue]], Field(max_length=kb.MAX_WINDOW)] | None
    ) = Field(None, description="The whole emotive window, oldest first")
    metadata: dict[Text, list[Text]] | None = Field(
        None, description="{key: [value, ...]}; stored sorted and distinct"
    )


class ImportResponse(BaseModel):
    imported: int
    mode: Literal["merge", "replace"]


# -- access ---------------------------------------------------------------------------------


def _node_guard(role: Role, must_exist: bool) -> Callable[..., Any]:
    check_role = requires(role)

    async def guard(node_id: str, connection: HTTPConnection) -> Principal:
        principal = await check_role(connection)
        if not principal.may_use_node(node_id):
            raise ForbiddenError("Node is outside this principal's scope", node_id=node_id)
        annotate_audit(connection, node_id=node_id)
        if must_exist and not await run_in_threadpool(_has_node, connection, node_id):
            raise kb.NodeNotFoundError(node_id)
        return principal

    declare_access(guard, role)
    return guard


def _has_node(connection: HTTPConnection, node_id: str) -> bool:
    return bool(connection.app.state.storage.has_node(node_id))


NodeReader = Depends(_node_guard(Role.READER, must_exist=True))
NodeWriter = Depends(_node_guard(Role.WRITER, must_exist=False))
NodeAdmin = Depends(_node_guard(Role.ADMIN, must_exist=True))
ImportGuard = Annotated[Principal, Depends(_node_guard(Role.WRITER, must_exist=False))]


async def node_of(request: Request, node_id: str) -> Node:
    service = service_of(request)
    return await run_in_threadpool(service.nodes.get, node_id)


def _storage(request: Request) -> str:
    return str(request.app.state.storage.describe()["knowledge_base"])


def _within(limits: LimitsSettings, name: str, what: str, actual: int) -> None:
    maximum: int = getattr(limits, name)
    if actual > maximum:
        raise LimitExceededError(
            f"{what}: {actual} exceeds {name} = {maximum}", limit=name, maximum=maximum
        )


def _observations(events: list[list[str]], limits: LimitsSettings) -> tuple[Observation, ...]:
    """Events of string symbols (their types checked by the schema) as observations, within
    the observation limits. Checked per event list rather than through ``check_observation``
    per event: that was three quarters of a learn-batch request's CPU."""
    _within(limits, "max_observations_per_sequence", "events in one sequence", len(events))
    widest = max(map(len, events), default=0)
    _within(limits, "max_symbols_per_observation", "symbols in one observation", widest)
    longest = max((len(symbol) for event in events for symbol in event), default=0)
    _within(limits, "max_symbol_length", "symbol length", longest)
    return tuple(Observation(strings=tuple(event)) for event in events)


# -- nodes ----------------------------------------------------------------------------------


@router.get("", dependencies=[Depends(requires(Role.READER))])
async def list_nodes(request: Request) -> dict[str, Any]:
    """Every node (admin), or the nodes of the caller's scope, with counts and totals."""
    principal: Principal = await request.app.state.kato_security.authenticate(request)
    if principal.nodes is None and not principal.is_admin:
        raise ForbiddenError("Listing every node requires the admin role")
    service = service_of(request)
    storage = _storage(request)

    def summaries() -> list[dict[str, Any]]:
        ids = request.app.state.storage.node_ids()
        return [
            kb.node_summary(service.nodes.get(node_id), storage)
            for node_id in ids
            if principal.may_use_node(node_id)
        ]

    return {"nodes": await run_in_threadpool(summaries)}


@router.get("/{node_id}", dependencies=[NodeReader])
async def node_summary(node_id: str, request: Request) -> dict[str, Any]:
    node = await node_of(request, node_id)
    return await run_in_threadpool(kb.node_summary, node, _storage(request))


# -- patterns -------------------------------------------------------------------------------


@router.get("/{node_id}/patterns", dependencies=[NodeReader])
async def list_patterns(
    node_id: str,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=kb.MAX_PAGE)] = 100,
    cursor: str | None = None,
    sort: Sort = "name",
    symbol: str | None = None,
    min_frequency: Annotated[int, Query(ge=0)] = 0,
    min_length: Annotated[int, Query(ge=0)] = 0,
    max_length: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    node = await node_of(request, node_id)
    where = kb.PatternFilter(symbol, min_frequency, min_length, max_length)
    page = await run_in_threadpool(kb.browse_patterns, node, limit, cursor, sort, where)
    return {
        "patterns": [record.to_record() for record in page.items],
        "next_cursor": page.next_cursor,
    }


@router.get("/{node_id}/patterns/{name}", dependencies=[NodeReader])
async def get_pattern(node_id: str, name: str, request: Request) -> dict[str, Any]:
    node = await node_of(request, node_id)
    return (await run_in_threadpool(kb.get_pattern, node, name)).to_record()


@router.patch("/{node_id}/patterns/{name}", dependencies=[NodeAdmin])
async def patch_pattern(
    node_id: str, name: str, body: PatternPatch, request: Request
) -> dict[str, Any]:
    node = await node_of(request, node_id)
    # The node's window bound is the persistence gene's own (sessions may set theirs; the
    # next learn trims the window to the learning session's persistence).
    record = await run_in_threadpool(
        kb.patch_pattern, node, name, kb.MAX_WINDOW, body.frequency, body.emotives, body.metadata
    )
    return record.to_record()


@router.delete("/{node_id}/patterns/{name}", dependencies=[NodeAdmin])
async def delete_pattern(node_id: str, name: str, request: Request) -> dict[str, Any]:
    node = await node_of(request, node_id)
    await run_in_threadpool(kb.delete_pattern, node, name)
    return {"status": "deleted", "name": name}


# -- symbols --------------------------------------------------------------------------------


@router.get("/{node_id}/symbols", dependencies=[NodeReader])
async def list_symbols(
    node_id: str,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=kb.MAX_PAGE)] = 100,
    cursor: str | None = None,
    sort: Sort = "name",
) -> dict[str, Any]:
    node = await node_of(request, node_id)
    page = await run_in_threadpool(kb.browse_symbols, node, limit, cursor, sort)
    return {
        "symbols": [kb.symbol_dict(stats) for stats in page.items],
        "next_cursor": page.next_cursor,
    }


@router.get("/{node_id}/symbols/{symbol}", dependencies=[NodeReader])
async def get_symbol(node_id: str, symbol: str, request: Request) -> dict[str, Any]:
    node = await node_of(request, node_id)
    return kb.symbol_dict(await run_in_threadpool(kb.get_symbol, node, symbol))


# -- bulk learning and batch prediction ------------------------------------------------------


@router.post("/{node_id}/learn-batch", response_model=LearnBatchResponse, dependencies=[NodeWriter])
async def learn_batch(
    node_id: str, body: LearnBatchRequest, request: Request
) -> LearnBatchResponse:
    service = service_of(request)
    limits = service.settings.limits
    _within(limits, "max_sequences_per_batch", "sequences in one batch", len(body.sequences))
    for sequence in body.sequences:
        check_metadata(sequence.metadata, limits)  # limits.max_metadata_bytes, per sequence
    sequences = [
        kb.BatchSequence(
            _observations(sequence.events, limits)
            + tuple(
                check_observation(ObservationIn.model_construct(emotives=emotives), limits)
                for emotives in sequence.emotives or ()
            ),
            sequence.metadata or {},
        )
        for sequence in body.sequences
    ]
    node = await node_of(request, node_id)
    names = await run_in_threadpool(kb.learn_batch, node, sequences, service.settings.genes)
    return LearnBatchResponse(learned=sum(1 for name in names if name), patterns=names)


@router.post("/{node_id}/predict", response_model=PredictResponse, dependencies=[NodeReader])
async def predict(node_id: str, body: PredictRequest, request: Request) -> PredictResponse:
    service: KatoService = service_of(request)
    limits = service.settings.limits
    _within(limits, "max_contexts_per_batch", "contexts in one batch", len(body.contexts))
    contexts = [_observations(context, limits) for context in body.contexts]
    genes = service.settings.genes.replace(body.config) if body.config else service.settings.genes
    node = await node_of(request, node_id)
    with service.prediction_slots.slot():  # one slot for the batch: CPU-bound like a predict
        results = await run_in_threadpool(kb.predict_many, node, contexts, genes)
    return PredictResponse(results=[PredictResult(predictions=r) for r in results])


# -- export and import ----------------------------------------------------------------------


@router.get(
    "/{node_id}/export",
    dependencies=[NodeReader],
    response_class=StreamingResponse,
    responses={200: {"content": {NDJSON: {}}, "description": "Header line, patterns, symbols"}},
)
async def export(node_id: str, request: Request) -> StreamingResponse:
    node = await node_of(request, node_id)
    return StreamingResponse(
        iterate_in_threadpool(_chunks(kb.export_lines(node))), media_type=NDJSON
    )


def _chunks(lines: Iterator[str], size: int = 1000) -> Iterator[str]:
    """Lines joined in groups: each step of the stream is a worker-thread hop, too dear for
    one line (memory stays bounded by the group)."""
    while group := list(islice(lines, size)):
        yield "".join(group)


@router.post("/{node_id}/import", response_model=ImportResponse)
async def import_(
    node_id: str,
    request: Request,
    principal: ImportGuard,
    mode: Literal["merge", "replace"] = "merge",
) -> ImportResponse:
    """Body: ``application/x-ndjson`` as ``export`` writes it. ``merge`` needs the writer
    role, ``replace`` (swaps the whole knowledge base) the admin role."""
    if mode == "replace" and not principal.is_admin:
        raise ForbiddenError("mode=replace requires the admin role")
    service = service_of(request)
    node = await node_of(request, node_id)
    lines = await _spooled_lines(request)
    imported = await run_in_threadpool(
        kb.import_lines,
        node,
        lines,
        mode,
        service.settings.genes.persistence,
        service.settings.limits.max_symbol_length,
    )
    return ImportResponse(imported=imported, mode=mode)


async def _spooled_lines(request: Request) -> list[bytes]:
    """The body's lines, read from ``request.stream()`` (the pipeline bounds the body by
    ``limits.max_body_bytes`` before the handler runs; see docs/API.md). A final newline
    ends the last line; every other line keeps its number, blank ones included."""
    pending = b""
    lines: list[bytes] = []
    async for chunk in request.stream():
        pending += chunk
        *complete, pending = pending.split(b"\n")
        lines.extend(complete)
    if pending:
        lines.append(pending)
    return lines


def declare_node_bounds(schema: dict[str, Any], limits: LimitsSettings) -> None:
    """The configured limits of these routes in the OpenAPI document (``kato.api.openapi``
    calls it), so a request the schema calls valid is not refused for its size."""
    components = schema["components"]["schemas"]
    event = {
        "type": "array",
        "maxItems": limits.max_symbols_per_observation,
        "items": {"type": "string", "maxLength": limits.max_symbol_length},
    }
    sequence = components["SequenceIn"]["properties"]
    sequence["events"]["maxItems"] = limits.max_observations_per_sequence
    sequence["events"]["items"] = event
    emotives = sequence["emotives"]["anyOf"][0]
    emotives["maxItems"] = limits.max_observations_per_sequence
    emotives["items"]["maxProperties"] = limits.max_emotives_per_observation
    emotives["items"]["propertyNames"] = {
        "minLength": 1,
        "maxLength": limits.max_emotive_name_length,
    }
    sequence["metadata"]["description"] = (
        f"Pattern metadata (§12.5); at most limits.max_metadata_bytes ="
        f" {limits.max_metadata_bytes} bytes as UTF-8 JSON."
    )
    batch = components["LearnBatchRequest"]["properties"]["sequences"]
    batch["maxItems"] = limits.max_sequences_per_batch
    contexts = components["PredictRequest"]["properties"]["contexts"]
    contexts["maxItems"] = limits.max_contexts_per_batch
    contexts["items"] = {
        "type": "array",
        "maxItems": limits.max_observations_per_sequence,
        "items": event,
    }
    config = components["PredictRequest"]["properties"]["config"]
    config["anyOf"] = [{"$ref": "#/components/schemas/GeneUpdates"}, {"type": "null"}]
