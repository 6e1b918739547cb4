"""The app against a trivial one-slider Streamlit app, in a real browser, measured in one run.

Goals (issue 7), each a ratio app / trivial app:
  start        from launching `streamlit run` to the home page fully rendered
               (script idle and its content on screen): <= 2x.
  interaction  from a key press on a slider (or the click choosing a mixer
               flavour) to the end of the rerun it causes: <= 1.5x, for
               ff_dim and dropout on the Feature & Temporal Mixing page and
               the flavour on the Feature Mixers page, each against the
               trivial app's slider. Every move goes to a value not shown
               before in that session (ff_dim and dropout step upwards), so
               nothing is served from a cache filled by an earlier move,
               except flavours, of which there are only four. The pages
               open on their first tab, as a user's first visit does.

Two more rows are measured the same way but have no goal: ff_dim moved with
the mixing page's heaviest tab open (Dropout and training vs inference), and
a bare page that only redraws the three charts of the mixing page's first tab
(or only its heatmap) from random numbers. That is the floor under the ff_dim
row: what Streamlit and the browser need to draw those charts without any
layer work.

All servers are started by this script with the same command line, from the
repository root (so with the same .streamlit/config.toml), headless on free
loopback ports, and driven by Debian's chromium through Playwright. Times are
taken inside the browser (performance.now() at the input event and at the
state change), so Playwright's own latency is not counted. Moves alternate
between the apps, so a busy machine slows both alike; each ratio is between
medians. Run from the repository root:

    python3 benchmarks/bench_app.py [--moves N] [--starts N] [--markdown PATH]

The script prints a table (also written as markdown for the README) and exits
non-zero if a goal is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from app_server import IDLE, ROOT, launch_chromium, streamlit_server  # noqa: E402  (the tests start the app the same way)
TIMEOUT_MS = 180_000
START_GOAL, INTERACTION_GOAL = 2.0, 1.5
TRIVIAL_APP = '''import streamlit as st

value = st.slider("value", 0, 1000, 500)
st.write(f"The slider is at {value}.")
'''
# The trivial app plus the charts of the mixing page's first tab (the first `?charts=N` of them), drawn from random
# numbers of the same shapes with kflayers' own figure builders: no layer work at all. Not a goal; it shows how
# much of a move's time is Streamlit and the browser drawing charts, the floor under any page that shows them.
CHARTS_ONLY_APP = '''import sys

import numpy as np
import streamlit as st

sys.path.insert(0, __ROOT__)
from explorer import figures

value = st.slider("value", 0, 1000, 500)
values = np.random.default_rng(value).normal(size=(16, 32, 7))
names = ["input", "flatten", "batch_norm", "reshape", "dense_1", "activation", "dropout_1", "dense_2",
         "dropout_2", "residual"]
shapes = [(16, 32, 7), (16, 224), (16, 224), (16, 32, 7), (16, 32, value), (16, 32, value), (16, 32, value),
          (16, 32, 7), (16, 32, 7), (16, 32, 7)]
params = [0, 0, 896, 0, 8 * value, 0, 0, 8 * value, 0, 0]
charts = {
    "heatmap": lambda: figures.stage_heatmap(values[0], "residual", "series", "time step", list("abcdefg")),
    "pipeline": lambda: figures.pipeline_diagram(names, shapes, params, names),
    "histogram": lambda: figures.stage_histogram(values[0], values, "residual"),
}
for key in list(charts)[:int(st.query_params.get("charts", 3))]:
    chart = charts[key]()
    st.plotly_chart(chart.figure, key=key)
    st.caption(chart.caption)
st.write(f"The slider is at {value}.")
'''
# Records, in the page's own clock, every user input and every message from the server. A rerun is over
# when its last message (script finished) has arrived; the script-state attribute alone can miss a rerun
# so quick that React draws "running" and "notRunning" in one frame.
PROBE = """
window.__kf = {inputs: [], messages: []};
for (const kind of ['keydown', 'pointerdown']) {
  document.addEventListener(kind, () => window.__kf.inputs.push(performance.now()), true);
}
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener('message', () => window.__kf.messages.push(performance.now()));
  }
};
"""
# Done: the server has answered the input and been silent for QUIET_MS, and the app is idle.
RERUN_DONE = """quiet => {
  const k = window.__kf;
  const idle = document.querySelector("[data-testid='stApp'][data-test-script-state='notRunning']");
  return idle && k.inputs.length && k.messages.length && k.messages[k.messages.length - 1] > k.inputs[0]
    && performance.now() - k.messages[k.messages.length - 1] > quiet;
}"""
# Milliseconds from the last input before the server's answer began to the answer's last message.
RERUN_TIME = """() => {
  const k = window.__kf;
  const first = k.messages.find(t => t > k.inputs[0]);
  const input = Math.max(...k.inputs.filter(t => t <= first));
  return k.messages[k.messages.length - 1] - input;
}"""
QUIET_MS = 400


def open_page(browser, url: str, ready_text: str):
    """A fresh session on `url`, returned once `ready_text` shows and the script is idle."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(PROBE)
    page = context.new_page()
    page.goto(url)
    page.get_by_text(ready_text).first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_selector(IDLE, timeout=TIMEOUT_MS)
    if page.locator("[data-testid='stException']").count():
        raise RuntimeError(f"{url} shows an exception")
    return page


def start_time(browser, script: Path, ready_text: str) -> float:
    """Seconds from launching the server to the home page rendered in a fresh browser session."""
    with streamlit_server(script) as (url, _, launched):
        page = open_page(browser, url, ready_text)
        elapsed = time.perf_counter() - launched
        page.context.close()
    return elapsed


def timed_rerun(page, act) -> float:
    """Milliseconds from the input `act` makes to the end of the rerun it causes."""
    page.evaluate("() => { window.__kf.inputs = []; window.__kf.messages = []; }")
    act()
    try:
        page.wait_for_function(RERUN_DONE, arg=QUIET_MS, timeout=TIMEOUT_MS)
    except PlaywrightTimeout as timeout:
        raise RuntimeError(f"no rerun finished after an input on {page.url}: {page.evaluate('() => window.__kf')}"
                           ) from timeout
    if page.locator("[data-testid='stException']").count():
        raise RuntimeError("the page shows an exception after a move")
    return page.evaluate(RERUN_TIME)


def slider_step(page, label: str):
    """An action that moves slider `label` one step to the right with the keyboard."""
    handle = page.locator("[data-testid='stSlider']", has_text=label).locator("input[type=range]")

    def act():
        handle.focus()
        page.keyboard.press("ArrowRight")
    return act


def next_option(page, label: str, options: list[str]):
    """An action that picks the option after the current one in selectbox `label` (cycling)."""
    box = page.locator("[data-testid='stSelectbox']", has_text=label)

    def act():
        following = options[(options.index(box.get_by_role("combobox").input_value()) + 1) % len(options)]
        box.get_by_role("button", name="Open").click()
        page.get_by_role("option", name=following, exact=True).click()
    return act


def measure_interactions(browser, trivial_script: Path, charts_script: Path,
                         moves: int) -> dict[str, tuple[list, list, float | None]]:
    """For each control: (its rerun times, the trivial slider's times taken in the same rounds, goal or None)."""
    with (streamlit_server(trivial_script) as (trivial_url, _, _),
          streamlit_server(charts_script) as (charts_url, _, _),
          streamlit_server(ROOT / "app.py") as (app_url, _, _)):
        trivial = open_page(browser, trivial_url, "The slider is at")
        mixing = open_page(browser, f"{app_url}/Feature_and_Temporal_Mixing", "Cross-series impact")
        mixers = open_page(browser, f"{app_url}/Feature_Mixers", "All four flavours")
        dropout_tab = open_page(browser, f"{app_url}/Feature_and_Temporal_Mixing?mix_view="
                                "Dropout+and+training+vs+inference", "mean with dropout")
        charts = open_page(browser, charts_url, "The slider is at")
        one_chart = open_page(browser, f"{charts_url}?charts=1", "The slider is at")
        flavours = ["GlobalWeightsMixer", "InstanceWeightsMixer", "SelfAttentionMixer", "CrossAttentionMixer"]
        controls = {
            "ff_dim (Feature & Temporal Mixing)": (mixing, slider_step(mixing, "ff_dim"), INTERACTION_GOAL),
            "dropout (Feature & Temporal Mixing)": (mixing, slider_step(mixing, "dropout"), INTERACTION_GOAL),
            "flavour (Feature Mixers)": (mixers, next_option(mixers, "flavour", flavours), INTERACTION_GOAL),
            "ff_dim with the Dropout tab open (not a goal)": (dropout_tab, slider_step(dropout_tab, "ff_dim"), None),
            "a bare page redrawing the Stages tab's three charts (not a goal)": (
                charts, slider_step(charts, "value"), None),
            "a bare page redrawing one heatmap (not a goal)": (one_chart, slider_step(one_chart, "value"), None),
        }
        trivial_step = slider_step(trivial, "value")
        timed_rerun(trivial, trivial_step)  # warm-up moves: first events, first layer builds off the clock
        for page, act, _ in controls.values():
            timed_rerun(page, act)
        times = {name: ([], [], goal) for name, (_, _, goal) in controls.items()}
        for _ in range(moves):
            for name, (page, act, _) in controls.items():
                times[name][1].append(timed_rerun(trivial, trivial_step))
                times[name][0].append(timed_rerun(page, act))
    return times


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({model}), no GPU, {platform.system()} {platform.release()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=9, help="timed moves per control (at least 7)")
    parser.add_argument("--starts", type=int, default=3, help="timed starts per app")
    parser.add_argument("--markdown", type=Path, default=ROOT / "benchmarks" / "results" / "bench_app.md")
    args = parser.parse_args()
    if args.moves < 7:
        parser.error("--moves must be at least 7 (the goal is a median of at least 7 moves)")

    rows = []
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        trivial_script = Path(folder) / "trivial_app.py"
        trivial_script.write_text(TRIVIAL_APP)
        charts_script = Path(folder) / "charts_only_app.py"
        charts_script.write_text(CHARTS_ONLY_APP.replace("__ROOT__", repr(str(ROOT))))
        browser = launch_chromium(playwright)
        try:
            app_starts, trivial_starts = [], []
            for _ in range(args.starts):
                trivial_starts.append(start_time(browser, trivial_script, "The slider is at"))
                app_starts.append(start_time(browser, ROOT / "app.py", "What the layers receive"))
            app_start, trivial_start = statistics.median(app_starts), statistics.median(trivial_starts)
            rows.append(("start: launch to home page rendered", f"{app_start:.2f} s", f"{trivial_start:.2f} s",
                         app_start / trivial_start, START_GOAL))
            measured = measure_interactions(browser, trivial_script, charts_script, args.moves)
            for name, (app_ms, trivial_ms, goal) in measured.items():
                app_median, trivial_median = statistics.median(app_ms), statistics.median(trivial_ms)
                rows.append((f"move {name}", f"{app_median:.0f} ms", f"{trivial_median:.0f} ms",
                             app_median / trivial_median, goal))
        finally:
            browser.close()

    header = (f"Measured {datetime.date.today().isoformat()} on {machine()}; "
              f"median of {args.starts} starts and {args.moves} moves per control; Debian chromium (headless) "
              f"through Playwright.")
    lines = [header, "", "| what | app | trivial app | ratio | goal | result |", "|---|---|---|---|---|---|"]
    ok = True
    for name, app, trivial, ratio, goal in rows:
        if goal is None:
            lines.append(f"| {name} | {app} | {trivial} | {ratio:.2f} | | |")
            continue
        met = ratio <= goal
        ok &= met
        lines.append(f"| {name} | {app} | {trivial} | {ratio:.2f} | <= {goal:g} | {'PASS' if met else 'FAIL'} |")
    table = "\n".join(lines)
    print(table)
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(table + "\n")
    print(f"\nmarkdown written to {args.markdown}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
