"""The Explorer in a real browser (issue 13 req 2): Debian's Chromium, headless, driven by
Playwright against a real ``kato serve`` (API keys, Redis sessions). A writer creates a
session, observes a sequence, learns, observes a prefix and sees the expected prediction
with its missing and extra symbols marked; an admin edits and deletes a pattern; a reader
sees no edit controls; the page logs no console error; the credential never appears in a URL.

Screenshots go to ``KATO_UI_SCREENSHOTS`` when set (``docs/ui`` regenerates the ones
``docs/UI.md`` shows), else to a temporary directory.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, ViewportSize, expect, sync_playwright

from kato.security.api_keys import ApiKeyStore
from tests.servers import RedisServer, kato_serving

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS_VARIABLE = "KATO_UI_SCREENSHOTS"
METRICS = (
    "potential", "similarity", "evidence", "confidence", "snr", "fragmentation", "frequency",
    "itfdf_similarity", "entropy", "hamiltonian", "grand_hamiltonian", "confluence",
)  # fmt: skip
VIEWPORT: ViewportSize = {"width": 1400, "height": 1000}
# Milliseconds Playwright waits for an element or state: generous on a busy 2-core machine.
WAIT_MS = 20_000


@dataclass
class Explorer:
    base: str
    keys: dict[str, str]  # role → API key
    screenshots: Path


@dataclass
class Tab:
    """One browser page with everything it logged and every URL it requested."""

    page: Page
    problems: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def explorer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Explorer]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make system-deps)")
    root = tmp_path_factory.mktemp("explorer")
    data_dir = root / "data"
    store = ApiKeyStore(data_dir / "api_keys.json")
    keys = {role: store.create(f"ui-{role}", [role])[0] for role in ("reader", "writer", "admin")}
    shots = Path(os.environ.get(SCREENSHOTS_VARIABLE) or root / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    with RedisServer() as redis_server:
        environment = {
            "KATO_SECURITY__AUTH_MODE": "api_key",
            "KATO_DATABASE__REDIS__URL": redis_server.url,
            "KATO_DATABASE__QDRANT__LOCAL_STORE": "sqlite",
        }
        with kato_serving(data_dir, **environment) as base:
            yield Explorer(base, keys, shots)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        # Debian's build, never a downloaded one.
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    opened = Tab(page)
    page.on("console", lambda message: _console(opened, message))
    page.on("pageerror", lambda error: opened.problems.append(f"page error: {error}"))
    page.on("request", lambda request: opened.urls.append(request.url))
    try:
        yield opened
    finally:
        context.close()


def _console(tab: Tab, message: ConsoleMessage) -> None:
    if message.type in ("error", "warning"):
        tab.problems.append(f"console {message.type}: {message.text}")


def sign_in(tab: Tab, explorer: Explorer, role: str) -> Page:
    page = tab.page
    page.goto(f"{explorer.base}/ui")
    page.get_by_label("API key or token").fill(explorer.keys[role])
    page.get_by_label("API key or token").press("Enter")
    expect(page.locator("#principal")).to_contain_text(f"role {role}")
    return page


def screenshot(page: Page, explorer: Explorer, name: str) -> Path:
    path = explorer.screenshots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    return path


def assert_clean(tab: Tab, explorer: Explorer) -> None:
    """No console error or uncaught exception, and no credential in any requested URL."""
    assert tab.problems == []
    assert tab.urls, "the page made requests"
    leaked = [url for url in tab.urls for key in explorer.keys.values() if key in url]
    assert leaked == []


def learn_sequence(page: Page, events: str) -> str:
    """Paste ``events`` as JSON, observe them, learn; the learned pattern's name."""
    page.get_by_label(re.compile("Or paste JSON")).fill(events)
    page.get_by_role("button", name="Observe JSON").click()
    expect(page.locator("#stm .event")).to_have_count(len(json.loads(events)))
    page.get_by_role("button", name="Learn").click()
    # The page writes the answer, then refreshes the STM: once it is empty, the answer is this
    # learn's (not the previous one's).
    expect(page.locator("#stm")).to_contain_text("STM is empty")
    result = page.locator("#learn-result")
    expect(result).to_contain_text("Learned PTRN|")
    return str(result.text_content()).removeprefix("Learned ")


def create_session(page: Page, node: str) -> None:
    page.get_by_label("Node id", exact=True).fill(node)
    page.get_by_role("button", name="Create session").click()
    expect(page.get_by_label("Session", exact=True)).to_contain_text(node)


def test_playground_shows_the_prediction_with_missing_and_extras(
    explorer: Explorer, tab: Tab
) -> None:
    page = sign_in(tab, explorer, "writer")
    create_session(page, "ui-playground")
    name = learn_sequence(page, '[["a","b"],["c","d"],["e"]]')
    other = learn_sequence(page, '[["c"],["y"],["z"]]')  # a second, different match

    # The prefix, typed and submitted from the keyboard (Enter submits the labelled field).
    symbols = page.get_by_label("Event symbols (space or comma separated)")
    for event in ("a x", "c y"):
        symbols.fill(event)
        symbols.press("Enter")
        expect(symbols).to_have_value("")
    expect(page.locator("#stm .event")).to_have_count(2)

    rows = page.locator("#predictions tbody tr")
    expect(rows).to_have_count(2)
    # The table is the API's ranking, every metric shown as the API computed it.
    session = page.locator("#session-pick").input_value()
    answer = httpx.get(
        f"{explorer.base}/v2/sessions/{session}/predictions",
        headers={"X-API-Key": explorer.keys["writer"]},
        timeout=10,
    ).json()["predictions"]
    assert {prediction["name"] for prediction in answer} == {
        name.removeprefix("PTRN|"),
        other.removeprefix("PTRN|"),
    }
    for index, prediction in enumerate(answer):
        expect(rows.nth(index)).to_have_attribute("data-name", prediction["name"])
        for metric in ("potential", "similarity", "itfdf_similarity", "confluence"):
            cell = rows.nth(index).locator(f"td.metric-{metric}")
            expect(cell).to_have_text(f"{prediction[metric]:.4f}")

    row = page.locator(f'#predictions tbody tr[data-name="{name.removeprefix("PTRN|")}"]')
    present = row.locator("td.present")
    expect(present.locator(".sym.matched")).to_have_text(["a", "c"])
    expect(present.locator(".sym.missing")).to_have_text(["b", "d"])
    expect(row.locator("td.future .sym")).to_have_text(["e"])
    expect(row.locator("td.past")).to_have_text("—")
    observed = row.locator("td.observed")
    expect(observed.locator(".sym.extra")).to_have_text(["x", "y"])
    expect(observed.locator(".sym.matched")).to_have_text(["a", "c"])
    # Semantics §4.15.2 with the future event "e": evidence 2/5, confidence 2/4, snr 1/3.
    expect(row.locator("td.metric-evidence")).to_have_text("0.4000")
    expect(row.locator("td.metric-confidence")).to_have_text("0.5000")
    expect(row.locator("td.metric-snr")).to_have_text("0.3333")
    second = page.locator(f'#predictions tbody tr[data-name="{other.removeprefix("PTRN|")}"]')
    expect(second.locator("td.present .sym.matched")).to_have_text(["c", "y"])
    expect(second.locator("td.future .sym")).to_have_text(["z"])
    expect(second.locator("td.observed .sym.extra")).to_have_text(["a", "x"])

    # Every metric's heading carries its formula, focusable for keyboard users.
    for metric in METRICS:
        heading = page.locator(f'#predictions thead .metric:text-is("{metric}")')
        expect(heading).to_have_attribute("data-formula", re.compile(r"§4\.1[0-2]|§4\.5"))
        expect(heading).to_have_attribute("tabindex", "0")
    potential = page.locator('#predictions thead .metric:text-is("potential")')
    expect(potential).to_have_attribute("title", re.compile(r"\(evidence \+ confidence\) · snr"))
    potential.focus()
    expect(potential).to_be_focused()
    similarity = page.locator('#predictions thead .metric:text-is("similarity")')
    expect(similarity).to_have_attribute("title", re.compile(r"2·M / \(\|pattern\| \+ \|state\|\)"))

    chart = page.locator("#prediction-chart svg")
    expect(chart.locator("rect.bar-potential")).to_have_count(2)
    expect(chart.locator("rect.bar-similarity")).to_have_count(2)
    values = [f"{p['potential']:.3f}" for p in answer] + [f"{p['similarity']:.3f}" for p in answer]
    expect(chart.locator("text.chart-value")).to_have_text(values)

    screenshot(page, explorer, "playground")
    assert page.evaluate("localStorage.length") == 0
    assert page.evaluate("sessionStorage.getItem('kato.credential')") == explorer.keys["writer"]
    assert_clean(tab, explorer)


def test_admin_browses_and_deletes_a_pattern(explorer: Explorer, tab: Tab) -> None:
    page = sign_in(tab, explorer, "admin")
    create_session(page, "ui-admin")
    kept = learn_sequence(page, '[["red"],["green"],["blue"]]')
    doomed = learn_sequence(page, '[["red"],["amber"]]')
    learn_sequence(page, '[["red"],["amber"]]')  # frequency 2: first by frequency

    page.get_by_role("tab", name="Nodes & patterns").click()
    page.get_by_label("Node to browse").fill("ui-admin")
    page.get_by_role("button", name="Open node").click()
    rows = page.locator("#patterns-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-name", doomed)  # sorted by frequency
    page.get_by_label("Containing symbol").fill("blue")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-name", kept)
    page.get_by_label("Containing symbol").fill("")
    page.get_by_label("Sort by").select_option("name")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(2)
    names = sorted([kept, doomed])
    expect(rows.nth(0)).to_have_attribute("data-name", names[0])

    # Edit: frequency and metadata of the kept pattern (PATCH), shown at once and stored.
    page.get_by_role("button", name=f"Open pattern {kept}").click()
    page.get_by_label("Frequency", exact=True).fill("5")
    page.get_by_label("Metadata (JSON)").fill('{"source": ["explorer"]}')
    page.get_by_role("button", name="Save changes").click()
    detail = page.locator("#pattern-detail")
    expect(detail.locator("#pattern-detail-frequency")).to_have_text("5")
    expect(detail.locator("#pattern-detail-metadata")).to_contain_text('"explorer"')
    stored = httpx.get(
        f"{explorer.base}/v2/nodes/ui-admin/patterns/{kept}",
        headers={"X-API-Key": explorer.keys["admin"]},
        timeout=10,
    ).json()
    assert (stored["frequency"], stored["metadata"]) == (5, {"source": ["explorer"]})
    assert stored["emotives"] == []  # untouched, so not sent
    expect(page.locator("#nodes-table")).to_contain_text("ui-admin")

    page.get_by_role("button", name=f"Open pattern {doomed}").click()
    expect(detail.locator("#pattern-detail-frequency")).to_have_text("2")
    expect(detail.locator("#pattern-detail-events .sym")).to_have_text(["red", "amber"])
    expect(page.get_by_role("button", name="Save changes")).to_be_visible()
    screenshot(page, explorer, "patterns")
    page.get_by_role("button", name="Delete pattern").click()
    page.get_by_role("button", name="Confirm delete").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-name", kept)
    expect(detail).to_be_hidden()

    listed = httpx.get(
        f"{explorer.base}/v2/nodes/ui-admin/patterns",
        headers={"X-API-Key": explorer.keys["admin"]},
        timeout=10,
    ).json()
    assert [record["name"] for record in listed["patterns"]] == [kept]
    assert_clean(tab, explorer)


def test_reader_sees_no_edit_controls(explorer: Explorer, tab: Tab) -> None:
    # A pattern to look at, learned by a writer through the API.
    writer = {"X-API-Key": explorer.keys["writer"]}
    with httpx.Client(base_url=explorer.base, headers=writer, timeout=10) as client:
        session = client.post("/v2/sessions", json={"node_id": "ui-reader"}).json()["session_id"]
        client.post(
            f"/v2/sessions/{session}/observe-sequence",
            json={"observations": [{"strings": ["sun"]}, {"strings": ["rain"]}]},
        ).raise_for_status()
        learned = client.post(f"/v2/sessions/{session}/learn").json()["pattern_name"]
    page = sign_in(tab, explorer, "reader")

    for control in ("Create session", "Observe event", "Observe JSON", "Learn", "Clear STM"):
        expect(page.get_by_role("button", name=control)).to_have_count(0)
    expect(page.get_by_label("Event symbols (space or comma separated)")).to_be_hidden()

    page.get_by_role("tab", name="Nodes & patterns").click()
    expect(page.get_by_role("button", name="List nodes")).to_have_count(0)  # admin only
    page.get_by_label("Node to browse").fill("ui-reader")
    page.get_by_role("button", name="Open node").click()
    expect(page.locator("#node-summary")).to_contain_text("pattern_count")
    page.get_by_role("button", name=f"Open pattern {learned}").click()
    detail = page.locator("#pattern-detail")
    expect(detail.locator("#pattern-detail-name")).to_have_text(learned)
    expect(detail.locator("#pattern-detail-events .sym")).to_have_text(["sun", "rain"])
    expect(detail.locator("#pattern-detail-frequency")).to_have_text("1")
    for control in ("Save changes", "Delete pattern", "Confirm delete"):
        expect(page.get_by_role("button", name=control)).to_have_count(0)
    expect(page.locator("#pattern-edit")).to_be_hidden()
    expect(page.get_by_label("Emotives (JSON)")).to_be_hidden()
    screenshot(page, explorer, "reader")

    page.get_by_role("tab", name="Operations").click()
    expect(page.locator("#ops-traffic")).to_contain_text("needs the admin role")
    expect(page.locator("#status-heading")).to_be_hidden()
    assert_clean(tab, explorer)


def test_operations_show_dependencies_breakers_and_traffic(explorer: Explorer, tab: Tab) -> None:
    page = sign_in(tab, explorer, "admin")
    # Keyboard: the tabs follow the arrow keys (WAI-ARIA tabs pattern).
    page.get_by_role("tab", name="Playground").focus()
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_role("tab", name="Operations")).to_have_attribute("aria-selected", "true")

    health = page.locator("#ops-health")
    expect(health).to_contain_text("healthy")
    expect(health).to_contain_text("ready")
    redis_row = page.locator('#ops-dependencies tr[data-dependency="redis"]')
    expect(redis_row.locator("td").nth(0)).to_have_text("ok")
    expect(redis_row.locator("td").nth(2)).to_have_text("closed")
    traffic = page.locator("#ops-traffic")
    expect(traffic).to_contain_text("Requests served")
    page.get_by_role("button", name="Refresh", exact=True).click()
    expect(traffic).to_contain_text(re.compile(r"\d+\.\d\d /s"))
    # The page's own scrape is exempt from the in-flight bound: nothing else runs now.
    expect(page.locator("#ops-traffic dd").nth(2)).to_have_text("0")
    status = page.locator("#ops-status")
    expect(status).to_contain_text("redis")
    expect(status).to_contain_text("sqlite")
    screenshot(page, explorer, "operations")
    assert_clean(tab, explorer)


def test_a_wrong_key_is_refused_and_sign_out_forgets_the_key(explorer: Explorer, tab: Tab) -> None:
    page = tab.page
    page.goto(f"{explorer.base}/ui")
    expect(page.locator("#principal")).to_have_text("Not signed in (authentication: api_key)")
    expect(page.get_by_role("button", name="Create session")).to_have_count(0)
    wrong = explorer.keys["writer"][:-4] + "AAAA"
    page.get_by_label("API key or token").fill(wrong)
    page.get_by_label("API key or token").press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("Sign-in failed")
    expect(page.get_by_role("alert")).to_contain_text("KATO_UNAUTHORIZED")
    assert page.evaluate("sessionStorage.getItem('kato.credential')") is None
    # The browser logs the refused request itself; nothing else may appear.
    assert [p for p in tab.problems if "status of 401" not in p] == []
    assert len(tab.problems) == 1

    tab.problems.clear()
    sign_in(tab, explorer, "writer")
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#principal")).to_have_text("Not signed in (authentication: api_key)")
    assert page.evaluate("sessionStorage.length") == 0
    assert_clean(tab, explorer)
