"""KATO 3.x symbol routes (semantics §12.16): ``/symbols/stats``, ``/symbols/affinity`` and
``/symbols/{symbol}/affinity``.

The node is named by ``?node_id=`` (as on 3.x's ``/pattern/{id}``); reader role, within the
principal's node scope, and an unknown node is a 404 — the same guard as the
``/v2/nodes/{node_id}/symbols`` routes, whose paging (``limit``, opaque ``cursor``, ``sort``)
these share.
"""

from __future__ import annotations

from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from kato.api.routes_nodes import NodeReader, Sort, node_of
from kato.api.schemas import error_responses
from kato.engine.node import Node
from kato.service import knowledge_base as kb

router = APIRouter(
    prefix="/symbols", tags=["v3"], responses=error_responses(400, 403, 404, 422, 500, 503)
)

NodeQuery = Annotated[str, Query(min_length=1, max_length=256, description="The node to read")]
Limit = Annotated[int, Query(ge=1, le=kb.MAX_PAGE)]


class SymbolPage(NamedTuple):
    node: Node
    page: kb.Page


async def symbol_page(
    node_id: NodeQuery,
    request: Request,
    limit: Limit = 100,
    cursor: str | None = None,
    sort: Sort = "name",
) -> SymbolPage:
    """The node and one page of its symbols, as ``/v2/nodes/{node_id}/symbols`` pages them."""
    node = await node_of(request, node_id)
    return SymbolPage(node, await run_in_threadpool(kb.browse_symbols, node, limit, cursor, sort))


SymbolPageDep = Annotated[SymbolPage, Depends(symbol_page)]


@router.get("/stats", dependencies=[NodeReader])
async def symbol_stats(selected: SymbolPageDep) -> dict[str, Any]:
    """Symbol frequencies and probabilities (``pattern_member_frequency / T_sip``), paged."""
    return await run_in_threadpool(kb.symbol_statistics, selected.node, selected.page)


@router.get("/affinity", dependencies=[NodeReader])
async def affinities(selected: SymbolPageDep) -> dict[str, Any]:
    """Each symbol's affinity per emotive (§12.16), paged like the statistics."""
    return await run_in_threadpool(kb.symbol_affinities, selected.node, selected.page)


@router.get("/{symbol}/affinity", dependencies=[NodeReader])
async def affinity(node_id: NodeQuery, symbol: str, request: Request) -> dict[str, Any]:
    """One symbol's affinity per emotive; a symbol without statistics is a 404."""
    node = await node_of(request, node_id)
    return await run_in_threadpool(kb.symbol_affinity, node, symbol)
