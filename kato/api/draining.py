"""The answer to a request that arrives while the instance drains (see
``kato.service.shutdown``; the request pipeline, ``kato.api.pipeline``, gives it).

A refused request gets 503 with ``X-Kato-Not-Processed: true``, ``Retry-After`` and
``Connection: close``. The header is a promise: nothing of the request was applied, so a
load balancer may send it — even a POST — to another instance (``deploy/nginx.conf`` does
exactly that, and only for answers carrying it). Health and metrics stay answered so the
orchestrator sees the instance go not-ready rather than vanish.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from kato.api.errors import error_response

NOT_PROCESSED_HEADER = "X-Kato-Not-Processed"
SHUTTING_DOWN_CODE = "KATO_SHUTTING_DOWN"


def shutting_down_response(retry_after_seconds: int = 1) -> JSONResponse:
    return error_response(
        503,
        SHUTTING_DOWN_CODE,
        "This instance is shutting down; the request was not processed. Retry it.",
        headers={
            NOT_PROCESSED_HEADER: "true",
            "Retry-After": str(retry_after_seconds),
            "Connection": "close",  # the client's next request opens a new connection
        },
    )
