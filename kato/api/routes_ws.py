"""WebSocket ``/ws`` (semantics §8.2), bound to ``?session_id=`` or the default session.

One connection carries many messages ``{"type", "payload"}``; each gets one reply
``{"type", "data"}``. A bad message (not JSON, unknown type, invalid payload, any KATO
error) gets an ``error`` reply and the connection stays open.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import pydantic
from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect

from kato.api.auth import security_layer, v1_session_for
from kato.api.deps import service_of
from kato.api.errors import status_for
from kato.api.limits import check_observation
from kato.api.routes_v1 import with_pattern_prefix
from kato.api.schemas import ObservationIn
from kato.core.errors import EmptySTMError, KatoError
from kato.core.random_ids import uuid4_hex
from kato.security.principal import Principal
from kato.security.roles import Role, requires
from kato.service.kato_service import KatoService

router = APIRouter(tags=["websocket"])
logger = logging.getLogger("kato.api")

Data = dict[str, Any]
Handler = Callable[[KatoService, str, Data], Awaitable[tuple[str, Data]]]

SESSION_NOT_FOUND_CLOSE = 4404
FORBIDDEN_CLOSE = 4403


async def _observe(service: KatoService, session_id: str, payload: Data) -> tuple[str, Data]:
    body = ObservationIn.model_validate(payload)
    observation = check_observation(body, service.settings.limits)
    unique_id = body.unique_id or f"ws-{uuid4_hex()}-{time.time_ns() // 1000}"
    session, outcome = await service.observe(
        session_id, observation, unique_id, named_by_client=body.unique_id is not None
    )
    return "observation_result", {
        "status": "okay",
        "processor_id": session.node_id,
        "auto_learned_pattern": outcome.auto_learned_pattern,
        "time": outcome.time,
        "unique_id": unique_id,
        "stm_length": outcome.stm_length,
    }


async def _get_stm(service: KatoService, session_id: str, _: Data) -> tuple[str, Data]:
    session = await service.get_session(session_id)
    return "stm", {"stm": session.state.stm, "processor_id": session.node_id}


async def _get_predictions(
    service: KatoService, session_id: str, payload: Data
) -> tuple[str, Data]:
    unique_id = payload.get("unique_id")
    if isinstance(unique_id, str) and unique_id:
        archived = await service.archived_predictions(session_id, unique_id)
        session = await service.get_session(session_id)
        return "predictions", {"predictions": archived, "processor_id": session.node_id}
    session, ranked = await service.predictions(session_id)
    return "predictions", {
        "predictions": with_pattern_prefix(ranked),
        "processor_id": session.node_id,
    }


async def _learn(service: KatoService, session_id: str, _: Data) -> tuple[str, Data]:
    try:
        session, name = await service.learn(session_id)
        node_id = session.node_id
    except EmptySTMError:  # as v1 /learn: nothing to learn is not an error
        name, node_id = "", (await service.get_session(session_id)).node_id
    return "learn_result", {"pattern_name": name, "processor_id": node_id}


async def _clear_stm(service: KatoService, session_id: str, _: Data) -> tuple[str, Data]:
    session = await service.clear_stm(session_id)
    return "status", {"status": "okay", "message": "stm-cleared", "processor_id": session.node_id}


async def _clear_all(service: KatoService, session_id: str, _: Data) -> tuple[str, Data]:
    session = await service.clear_all(session_id)
    return "status", {"status": "okay", "message": "all-cleared", "processor_id": session.node_id}


async def _ping(service: KatoService, session_id: str, _: Data) -> tuple[str, Data]:
    session = await service.get_session(session_id)
    return "pong", {"processor_id": session.node_id, "timestamp": time.time()}


# The route needs reader; each message type needs its own role (as its HTTP twin).
MESSAGE_ROLES: dict[str, Role] = {
    "observe": Role.WRITER,
    "get_stm": Role.READER,
    "get_predictions": Role.READER,
    "learn": Role.WRITER,
    "clear_stm": Role.WRITER,
    "clear_all": Role.ADMIN,
    "ping": Role.READER,
}

HANDLERS: dict[str, Handler] = {
    "observe": _observe,
    "get_stm": _get_stm,
    "get_predictions": _get_predictions,
    "learn": _learn,
    "clear_stm": _clear_stm,
    "clear_all": _clear_all,
    "ping": _ping,
}


def _error(message: str, code: str, status: int, **details: Any) -> Data:
    return {
        "type": "error",
        "data": {"message": message, "code": code, "status": status, **details},
    }


async def _reply(
    service: KatoService,
    session_id: str,
    message: Any,
    websocket: WebSocket,
    principal: Principal,
) -> Data:
    if not isinstance(message, dict):
        return _error("Message must be an object {type, payload}", "KATO_VALIDATION_ERROR", 422)
    kind = message.get("type")
    payload = message.get("payload")
    if payload is None:
        payload = {}
    handler = HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        return _error(f"Unknown message type: {kind}", "KATO_VALIDATION_ERROR", 422)
    if not isinstance(payload, dict):
        return _error("payload must be an object", "KATO_VALIDATION_ERROR", 422)
    layer = security_layer(websocket)
    action = f"WEBSOCKET /ws {kind}"
    required = MESSAGE_ROLES[str(kind)]
    if not principal.has_role(required):
        layer.audit_event(
            websocket, principal, "denied", 403, action=action, reason=f"requires {required.value}"
        )
        return _error(f"This operation requires the {required.value} role", "KATO_FORBIDDEN", 403)
    try:
        await layer.enforce_message_rate_limits(websocket, principal, session_id, action)
        reply_type, data = await handler(service, session_id, payload)
        if required is not Role.READER or layer.audit_reads:
            layer.audit_event(websocket, principal, "allowed", 200, action=action)
    except pydantic.ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        return _error("Invalid payload", "KATO_VALIDATION_ERROR", 422, errors=errors)
    except KatoError as exc:
        return _error(exc.message, exc.code, status_for(exc), **exc.details)
    except Exception:  # §8.2: any failure is an error reply; the connection stays open
        logger.exception("unhandled error in WebSocket message %s", kind)
        return _error("An unexpected error occurred", "KATO_INTERNAL_ERROR", 500)
    return {"type": reply_type, "data": {**data, "session_id": session_id}}


@router.websocket("/ws")
async def websocket_endpoint(
    websocket: WebSocket,
    principal: Annotated[Principal, Depends(requires(Role.READER))],
    session_id: str | None = None,
) -> None:
    service = service_of(websocket)
    await websocket.accept()
    try:
        # Same rules as v1: a named session must be visible to the caller (else 404), without
        # one the caller's default session is used.
        session_id = await v1_session_for(websocket, principal, session_id)
    except KatoError as exc:
        status = status_for(exc)
        await websocket.send_json(_error(exc.message, exc.code, status, **exc.details))
        await websocket.close(code=SESSION_NOT_FOUND_CLOSE if status == 404 else FORBIDDEN_CLOSE)
        return
    max_message = service.settings.limits.max_body_bytes
    try:
        while True:
            frame = await websocket.receive()
            if frame["type"] == "websocket.disconnect":
                return
            text = frame.get("text")
            if text is None:  # a binary frame: bad input, not a reason to drop the connection
                await websocket.send_json(
                    _error("Messages must be JSON text frames", "KATO_VALIDATION_ERROR", 422)
                )
                continue
            if len(text.encode("utf-8")) > max_message:
                await websocket.send_json(
                    _error(
                        f"Message exceeds max_body_bytes = {max_message}",
                        "KATO_PAYLOAD_TOO_LARGE",
                        413,
                        limit="max_body_bytes",
                        maximum=max_message,
                    )
                )
                continue
            try:
                message = json.loads(text)
            except (json.JSONDecodeError, RecursionError):  # RecursionError: nesting too deep
                await websocket.send_json(
                    _error("Message is not valid JSON", "KATO_VALIDATION_ERROR", 422)
                )
                continue
            await websocket.send_json(
                await _reply(service, session_id, message, websocket, principal)
            )
    except WebSocketDisconnect:
        return
