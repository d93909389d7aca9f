"""Schemathesis against the app's OpenAPI schema: authenticated (JWT, admin) — no 500, every
error in the envelope, responses match the schema, and a schema-valid request is never refused
as invalid (``positive_data_acceptance``: no 400/413/422, so the schema declares every bound);
unauthenticated — 401 in the envelope on every non-public operation. Bounded examples per
operation.

The operations are driven through Hypothesis directly (``as_strategy``) rather than
schemathesis' pytest plugin, whose fixture loader does not work with the installed pytest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from kato.api.app import create_app
from kato.security.roles import PUBLIC, declared_access, effective_routes
from tests.api.conftest import make_settings
from tests.security_helpers import AUDIENCE, HS_SECRET, ISSUER, hs256_token

EXAMPLES_PER_OPERATION = 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    positive_data_acceptance,
]


def _schema(data_dir: Path) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", _app(data_dir))


def _app(data_dir: Path) -> FastAPI:
    return create_app(
        make_settings(
            data_dir,
            security={
                "auth_mode": "jwt",
                "jwt_secret": HS_SECRET,
                "jwt_issuer": ISSUER,
                "jwt_audience": AUDIENCE,
                "audit_log_file": str(data_dir / "audit.log"),
            },
        )
    )


def _operations(schema: Any) -> list[Any]:
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "the schema lists no operations"
    return operations


def _session_with_stm(schema: Any, headers: dict[str, str]) -> str:
    """A fresh session of the caller holding two events, so generated requests reach their
    validation (not a 404 for a random id) and learn has something to learn."""
    create = schema["/v2/sessions"]["POST"].Case(body={"node_id": "fuzz"})
    session_id: str = create.call(headers=headers).json()["session_id"]
    observe = schema["/v2/sessions/{session_id}/observe"]["POST"].Case(
        path_parameters={"session_id": session_id}, body={"strings": ["a", "b"]}
    )
    assert observe.call(headers=headers).status_code == 200
    return session_id


def _use_session(case: Any, session_id: str) -> None:
    if case.path_parameters and "session_id" in case.path_parameters:
        case.path_parameters["session_id"] = session_id
    if case.headers:
        case.headers = {
            name: session_id if name.lower() == "x-session-id" else value
            for name, value in case.headers.items()
        }


def _equal_length_vectors(case: Any) -> None:
    """The one rule JSON Schema cannot state (it is in the ``vectors`` description): the
    vectors of one observation have equal lengths. Generated vectors are cut to the shortest."""
    body = case.body if isinstance(case.body, dict) else {}
    for observation in [body, *(body.get("observations") or [])]:
        vectors = observation.get("vectors") if isinstance(observation, dict) else None
        if vectors:
            shortest = min(len(vector) for vector in vectors)
            observation["vectors"] = [vector[:shortest] for vector in vectors]


def _assert_envelope(response: Any) -> None:
    if response.status_code < 400:
        return
    body = response.json()
    assert set(body) == {"error", "status"}, body
    assert body["status"] == response.status_code
    assert body["error"]["code"].startswith("KATO_")
    assert "trace_id" in body["error"]["details"]


@pytest.mark.slow
def test_fuzz_every_operation_with_auth(tmp_path: Path) -> None:
    headers = {
        "Authorization": f"Bearer {hs256_token(sub='fuzzer', roles=['admin'], lifetime=3600)}"
    }
    schema = _schema(tmp_path)
    for operation in _operations(schema):

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            _use_session(case, _session_with_stm(schema, headers))
            _equal_length_vectors(case)
            response = case.call(headers=headers)
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, (where, response.text)
            # schemathesis' response: lower-case header names, each with a list of values.
            assert response.headers.get("x-content-type-options") == ["nosniff"], where
            _assert_envelope(response)
            case.validate_response(response, checks=CHECKS)

        check()


def test_every_protected_operation_needs_credentials(tmp_path: Path) -> None:
    app = _app(tmp_path)
    public_paths = {
        route.path for route in effective_routes(app.routes) if declared_access(route) == PUBLIC
    }
    for operation in _operations(schemathesis.openapi.from_asgi("/openapi.json", app)):

        @given(case=operation.as_strategy())
        @settings(
            max_examples=2, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case: Any) -> None:
            response = case.call()
            if case.path in public_paths:
                assert response.status_code != 401, (case.method, case.path)
                return
            # Authentication runs before body validation, so even malformed requests are 401.
            assert response.status_code == 401, (case.method, case.path, response.text)
            _assert_envelope(response)

        check()
