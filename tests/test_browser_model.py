"""Train, download, restart, load: a model trained on the Learn page shows the same importances when loaded again.

In Debian's chromium through Playwright: train a Forecaster with a global-weights mixer on the Learn page (a few
epochs, set through the link), download its .keras file, stop the server and start a new one (nothing of the
first run is left), upload the file on the Your model page, open the mixer on the Feature Mixers page, and read
its importance per series there. A global-weights mixer gives every window the same importances, so the
numbers must equal the ones the Learn page showed after the last epoch (its mean over the validation windows).
"""

import re

import numpy as np
import pytest
from app_server import IDLE, launch_chromium, streamlit_server
from playwright.sync_api import sync_playwright

pytestmark = pytest.mark.browser

RUN_TIMEOUT_MS = 120_000
LINK = "source=synthetic&window=16"
# x labels and y values of one trace of the plotly chart the page keyed `key`.
TRACE = """([key, index]) => {
    const chart = document.querySelector(`.st-key-${key} .js-plotly-plot`);
    const trace = chart && chart._fullData && chart._fullData[index];  // decoded: data may hold base64 arrays
    if (!trace || !trace.x || !trace.x.length) return null;
    return {x: Array.from(trace.x), y: Array.from(trace.y, Number)};
}"""
MARKS = re.compile(r" \((target|planted driver)\)$")


def _idle(page) -> None:
    page.wait_for_selector(IDLE, timeout=RUN_TIMEOUT_MS)


def _trace(page, key: str, index: int) -> dict[str, float]:
    """Series name -> value of trace `index` of chart `key`, once plotly has drawn it."""
    handle = page.wait_for_function(TRACE, arg=[key, index], timeout=RUN_TIMEOUT_MS)
    trace = handle.json_value()
    return {MARKS.sub("", name): value for name, value in zip(trace["x"], trace["y"])}


def _no_exception(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0


def test_a_model_trained_downloaded_and_loaded_after_a_restart_shows_the_same_importances(tmp_path):
    model_path = tmp_path / "forecaster.keras"
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            with streamlit_server() as (url, _, _):
                context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
                page = context.new_page()
                page.goto(f"{url}/Learn?{LINK}&learn_epochs=2&learn_mixer=global")
                page.get_by_text("press Train").first.wait_for(timeout=RUN_TIMEOUT_MS)
                _idle(page)
                page.get_by_role("button", name="Train", exact=True).click(timeout=RUN_TIMEOUT_MS)
                page.get_by_text("Did it beat the naive forecast?").wait_for(timeout=RUN_TIMEOUT_MS)
                _idle(page)
                learned = _trace(page, "learn_importance", 1)  # the bars after the last epoch
                with page.expect_download(timeout=RUN_TIMEOUT_MS) as download:
                    page.get_by_role("button", name="Model (.keras)").click(timeout=RUN_TIMEOUT_MS)
                download.value.save_as(model_path)
                _no_exception(page)
                context.close()

            with streamlit_server() as (url, _, _):  # a new server: the model comes from the file alone
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                page.goto(f"{url}/Your_Model?{LINK}")
                page.get_by_text("No model is loaded yet").wait_for(timeout=RUN_TIMEOUT_MS)
                page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(model_path)
                page.get_by_text("Its kflayers layers").wait_for(timeout=RUN_TIMEOUT_MS)
                _idle(page)
                open_mixer = page.get_by_role("button", name=re.compile(r"Open mixer \(GlobalWeightsMixer\)"))
                open_mixer.click(timeout=RUN_TIMEOUT_MS)  # once the page's run has drawn it
                page.get_by_text("GlobalWeightsMixer from your model").wait_for(timeout=RUN_TIMEOUT_MS)
                _idle(page)
                shown = _trace(page, "importance_model", 0)
                _no_exception(page)
                context.close()
        finally:
            browser.close()

    assert list(shown) == list(learned) and len(shown) == 6  # the synthetic data's six series, in order
    np.testing.assert_allclose(list(shown.values()), list(learned.values()), rtol=1e-5)
    assert max(learned.values()) - min(learned.values()) > 1e-4  # trained: no longer the equal share
