"""A body that is not declared JSON (another media type, or no ``Content-Type`` at all), on
a route that takes JSON, is refused with 415 and a message naming the header to send;
nothing is stored. JSON (``+json`` too) and POSTs without a body keep working."""

from __future__ import annotations

import httpx
import pytest

from kato.api.content_type import is_json
from tests.api.conftest import assert_error, new_session

FORM = {"content-type": "application/x-www-form-urlencoded"}  # what `curl -d` sends


async def stm_length(client: httpx.AsyncClient, session_id: str) -> int:
    length: int = (await client.get(f"/v2/sessions/{session_id}/stm")).json()["length"]
    return length


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"],
)
async def test_non_json_body_is_415_and_stores_nothing(
    client: httpx.AsyncClient, content_type: str
) -> None:
    session_id = await new_session(client)
    response = await client.post(
        f"/v2/sessions/{session_id}/observe",
        content=b'{"strings": ["a"]}',
        headers={"content-type": content_type},
    )
    error = assert_error(response, 415, "KATO_UNSUPPORTED_MEDIA_TYPE")
    assert "Content-Type: application/json" in error["message"]
    assert content_type in error["message"]
    assert error["details"]["content_type"] == content_type
    assert await stm_length(client, session_id) == 0


async def test_every_json_route_refuses_a_form_body(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client)
    body = b'{"node_id": "n"}'
    for path in (
        "/v2/sessions",
        f"/v2/sessions/{session_id}/observe-sequence",
        f"/v2/sessions/{session_id}/config",
        "/observe",  # v1
        "/genes/update",
    ):
        response = await client.post(path, content=body, headers=FORM)
        assert_error(response, 415, "KATO_UNSUPPORTED_MEDIA_TYPE")
    assert (await client.get("/v2/sessions/count")).json()["active_session_count"] == 1


async def test_json_bodies_are_accepted(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client)
    url = f"/v2/sessions/{session_id}/observe"
    for content_type in (
        "application/json",
        "application/json; charset=utf-8",
        "application/merge-patch+json",
    ):
        response = await client.post(
            url, content=b'{"strings": ["a"]}', headers={"content-type": content_type}
        )
        assert response.status_code == 200, (content_type, response.text)
    assert await stm_length(client, session_id) == 3


async def test_a_body_without_content_type_is_415(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client)
    response = await client.post(f"/v2/sessions/{session_id}/observe", content=b'{"strings": []}')
    assert "content-type" not in response.request.headers
    error = assert_error(response, 415, "KATO_UNSUPPORTED_MEDIA_TYPE")
    assert "had no Content-Type" in error["message"]
    assert error["details"]["content_type"] is None
    assert await stm_length(client, session_id) == 0


async def test_bodyless_posts_keep_working_whatever_the_header(
    client: httpx.AsyncClient,
) -> None:
    session_id = await new_session(client)
    await client.post(f"/v2/sessions/{session_id}/observe", json={"strings": ["a", "b"]})
    # `curl -X POST -d ''` sends a form content type with an empty body.
    learned = await client.post(f"/v2/sessions/{session_id}/learn", content=b"", headers=FORM)
    assert learned.status_code == 200 and learned.json()["pattern_name"].startswith("PTRN|")
    cleared = await client.post(f"/v2/sessions/{session_id}/clear-stm", headers=FORM)
    assert cleared.status_code == 200, cleared.text
    v1 = await client.post("/learn", content=b"", headers=FORM)
    assert v1.status_code == 200, v1.text


async def test_a_route_without_a_json_body_ignores_the_media_type(
    client: httpx.AsyncClient,
) -> None:
    session_id = await new_session(client)
    # learn takes no body: whatever is sent is not read, as before.
    response = await client.post(
        f"/v2/sessions/{session_id}/learn",
        content=b"ignored",
        headers={"content-type": "text/plain"},
    )
    assert_error(response, 400, "KATO_EMPTY_STM")


def test_json_media_types() -> None:
    assert is_json("application/json") and is_json("Application/JSON; charset=utf-8")
    assert is_json("application/problem+json")
    assert not is_json("text/json") and not is_json("application/jsonx")
    assert not is_json("application/x-www-form-urlencoded") and not is_json("")
