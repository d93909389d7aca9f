"""The Explorer's files as served (issue 13): a strict Content-Security-Policy on every file,
no inline script or style anywhere, nothing fetched from another origin, every referenced
file shipped, and the ``/v2/whoami`` probe the page signs in with."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from kato.api.routes_ui import ASSETS
from kato.security.api_keys import ApiKeyStore
from kato.ui import STATIC_DIR
from tests.api.conftest import make_settings, running


class _Page(HTMLParser):
    """Collects what the CSP must allow: scripts, styles, inline handlers, referenced files."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline_code: list[str] = []
        self.style_elements = 0
        self.style_attributes: list[str] = []
        self.handlers: list[str] = []
        self.references: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            self.scripts.append(attributes)
            self._in_script = True
        if tag == "style":
            self.style_elements += 1
        if "style" in attributes:
            self.style_attributes.append(tag)
        self.handlers += [f"{tag}.{name}" for name in attributes if name.startswith("on")]
        for name in ("src", "href"):
            if attributes.get(name):
                self.references.append(str(attributes[name]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_code.append(data)


@pytest.fixture
async def client(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with running(make_settings(tmp_path)) as client:
        yield client


def _directives(response: httpx.Response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return {part.split()[0]: part.strip() for part in policy.split(";")}


async def test_every_explorer_file_is_served_with_a_strict_csp(client: httpx.AsyncClient) -> None:
    paths = ["/ui/"] + [f"/ui/{name}" for name in ASSETS]
    assert "/ui/app.js" in paths and "/ui/index.html" in paths
    for path in paths:
        response = await client.get(path)
        assert response.status_code == 200, path
        directives = _directives(response)
        assert directives["default-src"] == "default-src 'self'", path
        assert directives["script-src"] == "script-src 'self'", path
        assert directives["style-src"] == "style-src 'self'", path
        assert directives["frame-ancestors"] == "frame-ancestors 'none'", path
        assert "unsafe-inline" not in response.headers["content-security-policy"]
        assert "unsafe-eval" not in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
    page = await client.get("/ui/")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    script = await client.get("/ui/app.js")
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"


async def test_the_served_page_has_no_inline_script_or_style(client: httpx.AsyncClient) -> None:
    page = _Page()
    page.feed((await client.get("/ui/")).text)
    assert page.scripts, "the page loads its script"
    assert all(script.get("src") for script in page.scripts), page.scripts
    assert page.inline_code == []
    assert page.style_elements == 0
    assert page.style_attributes == []
    assert page.handlers == []  # onclick=… is inline script too


def test_the_page_references_only_shipped_files_of_its_own_origin() -> None:
    page = _Page()
    page.feed((STATIC_DIR / "index.html").read_text(encoding="utf-8"))
    assert page.references, "the page references its files"
    assert sorted(set(page.references) - set(ASSETS)) == []
    imports = set()
    for script in STATIC_DIR.glob("*.js"):
        text = script.read_text(encoding="utf-8")
        imports |= set(re.findall(r'from "\./([\w.-]+)"', text))
        # Nothing parsed as HTML from data, no style attributes (the CSP would block them).
        assert "innerHTML" not in text and 'setAttribute("style"' not in text, script.name
    assert imports and sorted(imports - set(ASSETS)) == []
    for path in STATIC_DIR.iterdir():
        urls = re.findall(r"https?://[^\s\"')]+", path.read_text(encoding="utf-8"))
        # The SVG namespace is a name, not a request.
        assert [url for url in urls if url != "http://www.w3.org/2000/svg"] == [], path.name


async def test_ui_redirects_to_the_page_and_refuses_other_paths(client: httpx.AsyncClient) -> None:
    redirect = await client.get("/ui")
    assert redirect.status_code == 308 and redirect.headers["location"] == "/ui/"
    missing = await client.get("/ui/secrets.txt")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "KATO_NOT_FOUND"
    assert "secrets.txt" in missing.json()["error"]["message"]
    for path in ("/ui/..%2Fapp.py", "/ui/../api/app.py", "/ui/%2e%2e/__init__.py"):
        assert (await client.get(path)).status_code == 404, path


async def test_whoami_reports_the_principal_and_its_roles(tmp_path: Path) -> None:
    keys = ApiKeyStore(tmp_path / "api_keys.json")
    reader, _ = keys.create("alice", ["reader"])
    admin, _ = keys.create("root", ["admin"])
    settings = make_settings(tmp_path, security={"auth_mode": "api_key"})
    async with running(settings) as client:
        anonymous = await client.get("/v2/whoami")
        assert anonymous.status_code == 200
        assert anonymous.json()["authenticated"] is False
        assert anonymous.json()["auth_mode"] == "api_key"
        answer = (await client.get("/v2/whoami", headers={"X-API-Key": reader})).json()
        assert answer["authenticated"] is True
        assert (answer["name"], answer["role"], answer["roles"]) == (
            "key:alice",
            "reader",
            ["reader"],
        )
        assert answer["nodes"] is None and answer["auth_method"] == "api_key"
        bearer = await client.get("/v2/whoami", headers={"Authorization": f"Bearer {admin}"})
        assert bearer.json()["role"] == "admin"
        wrong = await client.get("/v2/whoami", headers={"X-API-Key": reader[:-2] + "xx"})
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "KATO_UNAUTHORIZED"


async def test_whoami_without_authentication_is_the_local_admin(client: httpx.AsyncClient) -> None:
    answer = (await client.get("/v2/whoami")).json()
    assert answer["authenticated"] is True
    assert (answer["name"], answer["role"], answer["auth_mode"]) == ("anonymous", "admin", "none")
