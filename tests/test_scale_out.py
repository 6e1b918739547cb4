"""Two replicas of the app behind nginx (deploy/launch.py): sessions stick to a replica, a replica's death
costs its users only a reload, and concurrent users get through the proxy without errors.

One deployment, two `streamlit run app.py` replicas and nginx on free loopback ports, serves the module.
Which replica answered a request is read from the X-Replica header nginx adds to every response (the
replica's address): for page loads and uploads from Playwright's responses, for the websocket from
chromium's DevTools protocol (Playwright does not show a websocket's handshake headers). The failover test
kills a replica, so it comes last in this file.
"""

import signal
import urllib.request

import numpy as np
import pytest
from app_server import IDLE, ROOT, launch_chromium, scale_out
from playwright.sync_api import sync_playwright

from benchmarks.bench_latency import several_users

pytestmark = pytest.mark.browser

TIMEOUT_MS = 180_000  # a replica's first layer page imports TensorFlow, on a loaded 2-core machine
MIXING = "Feature_and_Temporal_Mixing"
COOKIE = "kf_session"
"""The cookie nginx names a session by (deploy/nginx.conf.template)."""


@pytest.fixture(scope="module")
def deployment():
    with scale_out(ROOT / "app.py", replicas=2) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        yield launched
        launched.close()


def _address(replica) -> str:
    """A replica as nginx's X-Replica header names it: host:port."""
    return replica.url.removeprefix("http://")


def _replica_for(url: str, session: str) -> str:
    """The replica nginx sends session `session` to, asked with a plain request."""
    request = urllib.request.Request(f"{url}/_stcore/health", headers={"Cookie": f"{COOKIE}={session}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["X-Replica"]


def _session_names_per_replica(deployment) -> dict[str, str]:
    """replica address -> a session name that nginx routes to it (which names go where depends on the ports)."""
    found = {}
    for index in range(100):
        found.setdefault(_replica_for(deployment.url, f"session-{index}"), f"session-{index}")
        if len(found) == len(deployment.replicas):
            return found
    raise AssertionError(f"100 session names all went to {sorted(found)}")


class Traffic:
    """Every answer a page gets, as (what was asked, the X-Replica of the answer), websocket handshakes included."""

    def __init__(self, page):
        self.answers: list[tuple[str, str | None]] = []
        page.on("response", self._answer)
        devtools = page.context.new_cdp_session(page)
        devtools.send("Network.enable")
        devtools.on("Network.webSocketHandshakeResponseReceived", self._websocket)

    def _answer(self, response) -> None:
        # A blob: URL is made in the browser (the scrub component's inline script is loaded from one): no server
        # answered it.
        if response.url.startswith("http"):
            self.answers.append((response.url, response.headers.get("x-replica")))

    def _websocket(self, event) -> None:
        headers = {name.lower(): value for name, value in event["response"]["headers"].items()}
        self.answers.append(("websocket", headers.get("x-replica")))

    def replicas(self, since: int = 0) -> set[str | None]:
        return {replica for _, replica in self.answers[since:]}

    def websockets(self, since: int = 0) -> list[str | None]:
        return [replica for asked, replica in self.answers[since:] if asked == "websocket"]


def _open(browser, url: str, cookie: str | None = None):
    """(page, its traffic) in a fresh browser context, with session cookie `cookie` if given."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    if cookie:
        context.add_cookies([{"name": COOKIE, "value": cookie, "url": url}])
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    traffic = Traffic(page)
    page.goto(url)
    page.wait_for_selector(IDLE)
    return page, traffic


def _shows(page, text: str) -> None:
    """Wait until the page's main area shows `text`, in the ff_dim scrub component's pipeline boxes (they sit in
    its shadow root, which Playwright's locators enter)."""
    page.locator('[data-testid="kf-scrub"][data-control="ff_dim"] .kf-shape').get_by_text(text, exact=True) \
        .first.wait_for(timeout=TIMEOUT_MS)


def _ff_dim(page):
    """The ff_dim scrub component's range input."""
    return page.locator('[data-testid="kf-scrub"][data-control="ff_dim"] input[type=range][aria-label="ff_dim"]')


def _csv() -> bytes:
    values = np.random.default_rng(0).normal(size=(200, 3)).cumsum(axis=0)
    return ("alpha,beta,gamma\n" + "\n".join(",".join(f"{v:.4f}" for v in row) for row in values) + "\n").encode()


def test_each_session_stays_on_one_replica_for_its_page_websocket_and_uploads(deployment, browser):
    addresses = {_address(replica) for replica in deployment.replicas}
    names = _session_names_per_replica(deployment)
    assert set(names) == addresses

    for replica, name in names.items():
        page, traffic = _open(browser, deployment.url, cookie=name)
        try:
            page.get_by_text("Your CSV").click()
            with page.expect_response(lambda response: "/_stcore/upload_file" in response.url) as upload:
                page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(
                    files=[{"name": "replica_check.csv", "mimeType": "text/csv", "buffer": _csv()}])
            page.get_by_text("replica_check.csv").first.wait_for()
            assert upload.value.ok
            assert upload.value.headers["x-replica"] == replica
            assert traffic.websockets() == [replica]
            assert traffic.replicas() == {replica}  # the page, its scripts, the websocket and the upload
        finally:
            page.context.close()

    # A browser without the cookie gets one from nginx with its first answer, and stays where that put it.
    page, traffic = _open(browser, f"{deployment.url}/{MIXING}")
    try:
        _shows(page, "(16, 32, 64)")  # dense_1's shape
        cookies = [c["value"] for c in page.context.cookies() if c["name"] == COOKIE]
        assert len(cookies) == 1
        assert traffic.replicas() == {_replica_for(deployment.url, cookies[0])}
        assert len(traffic.websockets()) == 1
    finally:
        page.context.close()


def test_four_users_moving_ff_dim_at_once_through_the_proxy_all_finish_without_errors(deployment, browser):
    run = several_users(browser, deployment.url, users=4, rounds=3, first_ff_dim=100)
    assert run.errors == []
    assert run.completed == run.attempted == 12
    assert len(run.all_steps_ms) == 12 and all(0 < ms < TIMEOUT_MS for ms in run.all_steps_ms)


def test_a_user_whose_replica_dies_gets_the_same_view_from_the_other_after_a_reload(deployment, browser):
    page, traffic = _open(browser, f"{deployment.url}/{MIXING}")
    ff_dim = _ff_dim(page)
    try:
        _shows(page, "(16, 32, 64)")
        for value in (65, 66, 67):
            ff_dim.press("ArrowRight")
            _shows(page, f"(16, 32, {value})")
        page.wait_for_url("**mix_ff_dim=67**")
        link = page.url
        [serving] = traffic.websockets()
        doomed = next(r for r in deployment.replicas if _address(r) == serving)
        [survivor] = [_address(r) for r in deployment.replicas if r is not doomed]

        doomed.process.send_signal(signal.SIGKILL)
        doomed.process.wait(timeout=30)
        page.evaluate("() => 0")  # delivers the answers Playwright still holds, so none from before is counted after
        before_reload = len(traffic.answers)
        page.reload()
        page.wait_for_selector(IDLE)
        _shows(page, "(16, 32, 67)")

        assert page.url == link
        assert ff_dim.input_value() == "67"
        # nginx names every replica it tried. The page and the server's endpoints came from the survivor (the
        # static scripts come from the browser's cache, with the headers they had).
        fresh = [(asked, replica) for asked, replica in traffic.answers[before_reload:]
                 if asked in (link, "websocket") or "/_stcore/" in asked]
        assert {asked for asked, _ in fresh} >= {link, "websocket"}
        assert {replica.split(", ")[-1] for _, replica in fresh} == {survivor}
    finally:
        page.context.close()
