"""The app in a real browser: every page by deep link, a slider moved, both themes, screenshots kept.

Starts `streamlit run app.py` on a free loopback port and drives Debian's
chromium through Playwright (which cannot download its own browser here).
Screenshots go to test-artifacts/screenshots/ (printed at the start); look
at them after a change to the pages. Every page is also opened with the
browser's colour scheme set to light and to dark (the app follows the
system theme): those screenshots are <page>_light.png and <page>_dark.png.
"""

import re

import pytest
import nbformat
from app_server import IDLE, ROOT, launch_chromium, streamlit_server
from playwright.sync_api import sync_playwright
from test_notebook import execute

pytestmark = pytest.mark.browser

SHOTS = ROOT / "test-artifacts" / "screenshots"
# A layer page's first run imports TensorFlow and builds the layer: allow for a loaded 2-core machine.
RUN_TIMEOUT_MS = 120_000

# (URL path, screenshot name, text that shows the page has run, slider label to move,
#  text the page must show once the slider is at value v, or None)
PAGES = [
    ("", "home", "What the layers receive", "Window length", "shape (16, {v}, 7)"),
    ("Feature_and_Temporal_Mixing", "feature_and_temporal_mixing", "Cross-series impact", "ff_dim",
     "(16, 32, {v})"),
    ("Gated_Feature_Fusion", "gated_feature_fusion", "Training vs inference", "smoothing", None),
    ("Token_and_Positional_Embedding", "token_and_positional_embedding", "Pipeline of TokenEmbedding", "d_model",
     "(16, 32, {v})"),
    ("Feature_Mixers", "feature_mixers", "Dropout and training vs inference", "dropout", None),
]
# Set in the page before a slider moves: records that a rerun started, so the test can wait for its end.
WATCH_RUNS = """() => {
    window.__kfSawRun = false;
    const app = document.querySelector("[data-testid='stApp']");
    new MutationObserver(() => {
        if (app.getAttribute('data-test-script-state') === 'running') window.__kfSawRun = true;
    }).observe(app, {attributes: true});
}"""
RUN_FINISHED = """() => window.__kfSawRun &&
    document.querySelector("[data-testid='stApp']").getAttribute('data-test-script-state') === 'notRunning'"""


@pytest.fixture(scope="module")
def server():
    with streamlit_server() as (url, _, _):
        yield url


@pytest.fixture(scope="module")
def browser():
    SHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {SHOTS}")
    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        yield launched
        launched.close()


def _wait_until_idle(page) -> None:
    page.wait_for_selector(IDLE, timeout=RUN_TIMEOUT_MS)


COUNT_RECEIVED_BYTES = """(() => {
    const Native = window.WebSocket;
    window.__kfReceived = 0;
    window.WebSocket = class extends Native {
        constructor(...args) {
            super(...args);
            this.addEventListener('message', e => { window.__kfReceived += e.data.byteLength ?? e.data.size ?? 0; });
        }
    };
})();"""
WHOLE_RANGE = "el => (el.dataset.readyValues || '').split(',').length === Number(el.dataset.total)"

SCRUBS = ("ff_dim", "d_model")
"""Controls drawn as scrub components on the pages above (their range input sits in the component's shadow root)."""


def _scrub(page, control: str):
    return page.locator(f'[data-testid="kf-scrub"][data-control="{control}"]')


def _slider(page, label: str):
    """A Streamlit slider's range input, or a scrub component's."""
    streamlit_slider = page.locator("[data-testid='stSlider']", has_text=label).locator("input[type=range]")
    return streamlit_slider.or_(_scrub(page, label).locator(f'input[type=range][aria-label="{label}"]'))


# 1 + the number of plotly charts once all are drawn (a page may have none: its pictures are HTML), else 0.
CHARTS_DRAWN = """() => {
    const charts = [...document.querySelectorAll("[data-testid='stPlotlyChart']")];
    return charts.every(c => c.querySelector('.main-svg *')) ? charts.length + 1 : 0;
}"""


def _charts_drawn(page) -> None:
    """Wait until every plotly chart is drawn; plotly's script loads lazily, after the rest of the page."""
    count = -1
    for _ in range(60):  # until the number of drawn charts stops changing for a second
        drawn = page.wait_for_function(CHARTS_DRAWN, timeout=RUN_TIMEOUT_MS).json_value()
        if drawn == count:
            return
        count = drawn
        page.wait_for_timeout(1000)


def _screenshot(page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its main block, so grow the viewport to that block's height."""
    _charts_drawn(page)
    height = page.evaluate("() => document.querySelector(\"[data-testid='stMain']\").scrollHeight")
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": width, "height": min(height, 12_000)})
    page.wait_for_timeout(1500)  # the charts are drawn again for the new size
    _charts_drawn(page)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    page.set_viewport_size({"width": width, "height": 1000})


@pytest.mark.parametrize("path, name, ready_text, slider, moved_text", PAGES, ids=[p[1] for p in PAGES])
def test_page_by_deep_link_renders_and_follows_a_slider(server, browser, path, name, ready_text, slider,
                                                         moved_text):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})  # a fresh session
    try:
        page = context.new_page()
        page.goto(f"{server}/{path}")
        page.get_by_text(ready_text).first.wait_for(timeout=RUN_TIMEOUT_MS)
        _wait_until_idle(page)
        assert page.locator("[data-testid='stException']").count() == 0
        _screenshot(page, name)

        handle = _slider(page, slider)
        before = handle.input_value()
        page.evaluate(WATCH_RUNS)
        handle.focus()
        page.keyboard.press("ArrowRight")
        after = handle.input_value()
        assert float(after) > float(before)
        page.wait_for_function(RUN_FINISHED, timeout=RUN_TIMEOUT_MS)
        if moved_text and slider in SCRUBS:  # drawn in the component's shadow root
            _scrub(page, slider).get_by_text(moved_text.format(v=after)).first.wait_for(timeout=10_000)
        elif moved_text:  # drawn by the browser just after the run ends
            page.wait_for_function("text => document.querySelector(\"[data-testid='stMain']\").textContent"
                                   ".includes(text)", arg=moved_text.format(v=after), timeout=10_000)
        assert page.locator("[data-testid='stException']").count() == 0
        _screenshot(page, f"{name}_after_slider")
    finally:
        context.close()


def test_learn_page_trains_from_a_deep_link(server, browser):
    """The Learn page has no chart before training: press Train (2 epochs, set through the link) and wait."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(f"{server}/Learn?source=synthetic&learn_epochs=2")
        page.get_by_text("press Train").first.wait_for(timeout=RUN_TIMEOUT_MS)
        _wait_until_idle(page)
        page.get_by_role("button", name="Train", exact=True).click()
        page.get_by_text("Did it beat the naive forecast?").wait_for(timeout=RUN_TIMEOUT_MS)
        _wait_until_idle(page)
        assert page.locator("[data-testid='stException']").count() == 0
        _screenshot(page, "learn_trained")
    finally:
        context.close()


# (URL path, screenshot name, text that shows the page has run) of every page, for the two themes.
ALL_PAGES = [(path, name, ready) for path, name, ready, _, _ in PAGES] + [
    ("Learn", "learn", "press Train"), ("Your_Model", "your_model", "No model is loaded yet")]
ICONS = "https://fonts.gstatic.com/s/i/short-term/release/materialsymbolsrounded/"
APP_BACKGROUND = """() => getComputedStyle(document.querySelector("[data-testid='stApp']")).backgroundColor"""


def _luminance(css_colour: str) -> float:
    red, green, blue = (float(part) for part in re.findall(r"[\d.]+", css_colour)[:3])
    return (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("path, name, ready_text", ALL_PAGES, ids=[p[1] for p in ALL_PAGES])
def test_every_page_follows_the_system_theme_without_deploy_button_or_usage_statistics(
        server, browser, path, name, ready_text, theme):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme=theme)
    requests = []
    try:
        page = context.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.goto(f"{server}/{path}")
        page.get_by_text(ready_text).first.wait_for(timeout=RUN_TIMEOUT_MS)
        _wait_until_idle(page)
        assert page.locator("[data-testid='stException']").count() == 0
        background = _luminance(page.evaluate(APP_BACKGROUND))
        assert background < 0.2 if theme == "dark" else background > 0.9, (theme, background)
        assert page.locator("[data-testid='stAppDeployButton']").count() == 0
        assert page.get_by_role("button", name="Deploy").count() == 0
        _screenshot(page, f"{name}_{theme}")
        # No usage statistics: nothing leaves this machine but Streamlit's fetch of the Material icons it draws
        # (a blob: URL never leaves the browser: the scrub component's inline script is loaded from one).
        assert [url for url in requests if not url.startswith((server, ICONS, "blob:"))] == []
    finally:
        context.close()


# (URL path and link, control, the setting it changes, the picture its frames draw)
DRAGS = [
    ("Feature_and_Temporal_Mixing", "ff_dim", "mix_ff_dim", ".kf-picture"),
    ("Feature_and_Temporal_Mixing?mix_view=Dropout+and+training+vs+inference", "dropout", "mix_dropout", ".kf-band"),
    ("Feature_and_Temporal_Mixing?mix_training=true&mix_scrub=dropout&mix_stage=dropout_1", "dropout", "mix_dropout",
     ".kf-picture"),
    ("Token_and_Positional_Embedding", "d_model", "emb_d_model", ".kf-picture"),
]


@pytest.mark.parametrize("path, control, key, picture", DRAGS, ids=["ff_dim", "dropout_band", "dropout_stages",
                                                                    "d_model"])
def test_dragging_a_scrub_control_redraws_its_pictures_during_the_drag(server, browser, path, control, key,
                                                                       picture):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(f"{server}/{path}")
        scrub = _scrub(page, control)
        scrub.wait_for(timeout=RUN_TIMEOUT_MS)
        _wait_until_idle(page)
        # The whole range is precomputed in the background; wait for it so every value of the drag can show.
        deadline = page.evaluate("() => performance.now()") + RUN_TIMEOUT_MS
        while len(scrub.get_attribute("data-ready-values").split(",")) < int(scrub.get_attribute("data-total")):
            assert page.evaluate("() => performance.now()") < deadline, "the range was not filled"
            page.wait_for_timeout(200)
        handle = scrub.locator(f'input[type=range][aria-label="{control}"]')
        box = handle.bounding_box()
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + box["width"] * 0.05, y)
        page.mouse.down()
        seen = []
        for step in range(1, 9):
            page.mouse.move(box["x"] + box["width"] * (0.05 + 0.06 * step), y, steps=3)
            # Still held: only the component can have redrawn the picture.
            seen.append((scrub.get_attribute("data-state"), scrub.get_attribute("data-shown-value"),
                         scrub.locator(picture).first.evaluate("canvas => canvas.toDataURL()")))
        _screenshot(page, f"scrub_{control}_during_drag")
        page.mouse.up()
        assert all(state == "ready" for state, _, _ in seen), seen[:2]
        values = [value for _, value, _ in seen]
        assert len(set(values)) >= 6, values
        assert len({drawn for _, _, drawn in seen}) >= 6  # a new picture for (nearly) every value passed
        # Letting go hands the value to the page: the link follows.
        page.wait_for_url(f"**{key}={values[-1]}&**", timeout=RUN_TIMEOUT_MS)
        _wait_until_idle(page)
        assert handle.input_value() == values[-1] or float(handle.input_value()) == float(values[-1])
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        context.close()


def test_the_notebook_downloaded_from_the_export_tab_runs_in_a_fresh_kernel(server, browser, tmp_path):
    """The whole way a user takes: the page's button, the file the browser saves, a new kernel running it."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    try:
        page = context.new_page()
        page.goto(f"{server}/Feature_and_Temporal_Mixing?mix_view=Export&mix_window=3&mix_ff_dim=12")
        button = page.get_by_role("button", name="Notebook (.ipynb)")
        button.wait_for(timeout=RUN_TIMEOUT_MS)
        _wait_until_idle(page)
        with page.expect_download(timeout=RUN_TIMEOUT_MS) as download:
            button.click()
        path = tmp_path / download.value.suggested_filename
        download.value.save_as(path)
    finally:
        context.close()
    assert path.name == "FeatureMixing_fresh.ipynb"
    book = nbformat.read(path, as_version=4)
    assert "ff_dim=12" in book.cells[1].source and "window 3" in book.cells[1].source
    executed = execute(book, tmp_path)
    printed = "".join(output.get("text", "") for output in executed.cells[-1].outputs)
    assert "max |traced output - layer(batch)| = 0\n" in printed, printed


def test_a_value_not_computed_yet_shows_computing_then_its_picture(server, browser):
    """The farthest value from the current one is filled last: jumping there at once shows "Computing", never
    the old picture under the new label, until the value's frame arrives."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(f"{server}/Feature_and_Temporal_Mixing?mix_activation=tanh&mix_window=5")  # a range no other test fills
        scrub = _scrub(page, "ff_dim")
        scrub.wait_for(timeout=RUN_TIMEOUT_MS)
        page.wait_for_function("el => el.dataset.state === 'ready' && el.dataset.shownValue === '64'",
                               arg=scrub.element_handle(), timeout=RUN_TIMEOUT_MS)
        handle = scrub.locator('input[type=range][aria-label="ff_dim"]')
        handle.focus()
        page.keyboard.press("End")
        assert scrub.get_attribute("data-state") == "computing", scrub.get_attribute("data-shown-value")
        assert scrub.get_attribute("data-shown-value") is None
        assert scrub.locator(".kf-computing").is_visible()
        assert "Computing ff_dim = 256" in scrub.locator(".kf-computing").inner_text()
        assert scrub.locator(".kf-scrub-value").inner_text() == "ff_dim = 256"
        # Let go: the page computes 256 itself, and the picture comes.
        page.wait_for_function("el => el.dataset.state === 'ready' && el.dataset.shownValue === '256'",
                               arg=scrub.element_handle(), timeout=RUN_TIMEOUT_MS)
        assert scrub.locator('.kf-stage[data-stage="dense_1"] .kf-shape').inner_text() == "(16, 32, 256)"
        assert not scrub.locator(".kf-computing").is_visible()
        _screenshot(page, "scrub_ff_dim_after_jump")
    finally:
        context.close()


FLAVOURS = ["GlobalWeightsMixer", "InstanceWeightsMixer", "SelfAttentionMixer", "CrossAttentionMixer"]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_dragging_the_mixer_flavour_redraws_the_boxes_and_the_importance_without_a_rerun(server, browser, theme):
    """Four values are too few for the drag above: hold the mouse and stop on each flavour in turn."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme=theme)
    try:
        page = context.new_page()
        page.goto(f"{server}/Feature_Mixers?mixers_flavour=GlobalWeightsMixer")
        scrub = _scrub(page, "flavour")
        scrub.wait_for(timeout=RUN_TIMEOUT_MS)
        _wait_until_idle(page)
        page.wait_for_function("el => el.dataset.readyValues.split(',').length === 4", arg=scrub.element_handle(),
                               timeout=RUN_TIMEOUT_MS)
        handle = scrub.locator('input[type=range][aria-label="flavour"]')
        box = handle.bounding_box()
        y = box["y"] + box["height"] / 2
        page.evaluate(WATCH_RUNS)
        page.mouse.move(box["x"] + 2, y)
        page.mouse.down()
        seen = []
        for fraction in (0.0, 1 / 3, 2 / 3, 1.0):
            page.mouse.move(box["x"] + 2 + (box["width"] - 4) * fraction, y, steps=4)
            seen.append((scrub.get_attribute("data-shown-value"), scrub.locator(".kf-scrub-value").inner_text(),
                         scrub.locator('.kf-stage[data-stage="importance"] .kf-params').inner_text(),
                         scrub.locator('.kf-stage[data-stage="importance"]').get_attribute("title"),
                         scrub.locator(".kf-picture").evaluate("canvas => canvas.toDataURL()")))
            if fraction == 2 / 3:
                _screenshot(page, f"scrub_flavour_during_drag_{theme}")
        # Still held: no run has started, so only the component redrew the boxes and the picture.
        assert page.evaluate("() => window.__kfSawRun") is False
        page.mouse.up()
        assert [value for value, *_ in seen] == FLAVOURS
        assert [label for _, label, *_ in seen] == [f"flavour = {name}" for name in FLAVOURS]
        assert seen[0][2] == "7 weights"  # one learned coefficient per feature
        assert len({params for _, _, params, _, _ in seen}) >= 2  # the weight counts follow the flavour
        assert seen[0][3].startswith("importance: Softmax of the learned per-feature coefficients")
        assert seen[2][3].startswith("importance: Self-attention weights")
        assert len({picture for *_, picture in seen}) == 4
        # Letting go hands the flavour to the page: the link and the rest of the page follow.
        page.wait_for_url("**mixers_flavour=CrossAttentionMixer**", timeout=RUN_TIMEOUT_MS)
        _wait_until_idle(page)
        assert handle.input_value() == "3"
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        context.close()


def test_frames_the_browser_lost_are_sent_again(server, browser):
    """Each payload carries only new frames and names those sent before; a browser missing some of those (a
    payload replaced before the component drew it) names them, and the next run sends just those."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(COUNT_RECEIVED_BYTES)
    try:
        page = context.new_page()
        page.goto(f"{server}/Feature_and_Temporal_Mixing?mix_window=7")  # a range no other test fills
        scrub = _scrub(page, "ff_dim")
        scrub.wait_for(timeout=RUN_TIMEOUT_MS)
        page.wait_for_function(WHOLE_RANGE, arg=scrub.element_handle(), timeout=4 * RUN_TIMEOUT_MS)
        _wait_until_idle(page)
        lost = page.evaluate("""() => {
            const lost = [];
            for (const entry of globalThis.__kfScrubFrames.values())
                for (const value of [...entry.frames.keys()].slice(0, 2)) { entry.frames.delete(value); lost.push(value); }
            return lost;
        }""")
        assert len(lost) == 2
        before = page.evaluate("() => window.__kfReceived")
        # The next payload (a release's run) names them as sent: the browser asks for those two.
        scrub.locator('input[type=range][aria-label="ff_dim"]').focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function("""lost => [...globalThis.__kfScrubFrames.values()].some(
            entry => entry.frames.size === 256 && lost.every(value => entry.frames.has(value)))""",
                               arg=lost, timeout=RUN_TIMEOUT_MS)
        _wait_until_idle(page)
        # Two frames and the release's run, not the whole range again (about 0.8 MB).
        received = page.evaluate("() => window.__kfReceived") - before
        assert received < 200_000, received
    finally:
        context.close()


def test_a_scrub_that_fails_in_the_browser_falls_back_to_the_plain_slider_with_one_sentence(server, browser):
    """A browser without DecompressionStream (Safari before 16.4) cannot unpack the frames: the component tells
    Python why, and the page puts Streamlit's slider in its place, says so in one sentence, and follows it."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script("delete window.DecompressionStream;")
    try:
        page = context.new_page()
        page.goto(f"{server}/Feature_and_Temporal_Mixing?mix_window=11")
        sentence = page.get_by_text("The scrub control could not be drawn")
        sentence.wait_for(timeout=RUN_TIMEOUT_MS)
        _wait_until_idle(page)
        assert sentence.inner_text() == (
            "The scrub control could not be drawn (the browser reported ReferenceError: DecompressionStream is not "
            "defined), so ff_dim is a plain control here: the page redraws once you set it, not while you move it.")
        assert _scrub(page, "ff_dim").count() == 0
        assert page.locator("[data-testid='stException']").count() == 0
        # The server draws the pipeline, and Streamlit's slider moves the whole page.
        handle = page.locator("[data-testid='stSlider']", has_text="ff_dim").locator("input[type=range]")
        page.evaluate(WATCH_RUNS)
        handle.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(RUN_FINISHED, timeout=RUN_TIMEOUT_MS)
        page.wait_for_url("**mix_ff_dim=65**", timeout=RUN_TIMEOUT_MS)
        page.get_by_text("(16, 32, 65)").first.wait_for(timeout=RUN_TIMEOUT_MS)
        assert page.locator("[data-testid='stException']").count() == 0
        _screenshot(page, "scrub_failed_in_the_browser")
    finally:
        context.close()
