"""How long a person waits in the app, against a trivial one-slider Streamlit page, measured in one run.

Goals (issues 15 and 18), each a ratio app / trivial page unless said otherwise:
  step           a scrub control (issue 18's component: a range input that redraws the page in the browser):
                 from ArrowRight on it until the page draws the new value, for ff_dim until the pipeline's
                 dense_1 box shows the new hidden width, as in (16, 32, 65); on the trivial page, from
                 ArrowRight on its st.slider until its text shows the new value (a server round trip), both
                 looked for at every animation frame: <= 0.5x.
  settled        from the key press until the last change in the page's main area (the scrub's redraw and the
                 rerun its release starts), confirmed by a second without any: no worse than the same control's
                 ratio before the scrub (ff_dim 9.07x, d_model 10.76x, dropout with the Dropout tab open
                 18.35x, the flavour on Feature Mixers 20x, as issue 18 found it).
  drag           a mouse drag across about DRAG_VALUES values of a scrub in DRAG_SECONDS: of the values the input
                 passes, the share the page draws at some animation frame: >= 0.9. Ranges are complete before.
  fill           from the first render of the scrub (its element appears) in a session whose settings no
                 session had before: the FILL_NEAREST values nearest the current one ready <= 1 s, the whole
                 ff_dim range <= 10 s; the page stays responsive meanwhile: a step made once those nearest
                 values are in (so during the rest of the fill) <= 0.5x the trivial round trip, and the longest
                 gap between animation frames is reported; what the page receives over its websocket until
                 the whole range is in: <= 2 MB (the issue's budget per range). The bytes each step's rerun
                 sends are reported too.
  several users  4 sessions stepping ff_dim at the same moment, each from its own values: no errors, and each
                 session's median step <= 0.5x the trivial round trip; 8 sessions: no errors (times reported).
  start          from launching the server to the home page rendered (its main area settled): <= 2x.

A control that is still Streamlit's slider (the component fell back, or is not built for it yet) is measured
as before: its "first change" until the main area shows the new shape, then its settled time, and the rows
say so.

How: every server is started by deploy/launch.py as users start the app (`streamlit run`, headless,
from the repository root) on a free loopback port, or with --replicas N as N replicas behind nginx. Debian's
chromium is driven through Playwright, one browser context (one Streamlit session) per page. A script
added to every page takes all times with the page's own clock (performance.now()): the key press, click or
release (capture listeners on the document), the first animation frame that shows the expected value, and
the last animation frame that followed a change of the main area or of a component's shadow root (a
MutationObserver marks the change, a requestAnimationFrame loop stamps it, so a change counts when it can be
seen). The same loop logs, per scrub, when it appeared and every change of the values it has received, the
values it drew while a drag is recorded, and every gap of more than LONG_FRAME_MS between animation frames. A
move has settled when the app is idle, the server has answered, every plotly chart is drawn, and neither
the main area nor the server has changed anything for QUIET_MS. Controls are found by their labels (a scrub
by its data-control, a slider by the group its label names, moved one step with ArrowRight; a scrub over
names, the flavours, goes from the last back to the first with Home), so the script runs against whatever the
pages are. App and trivial moves alternate, so a busy machine slows both alike; ratios are between medians. One more row has no goal: a bare
page that redraws one plotly heatmap, the floor under any move that redraws a chart. Run from the repository
root:

    python3 benchmarks/bench_latency.py [--quick] [--moves N] [--drags N] [--rounds N] [--starts N]
                                        [--replicas N] [--markdown PATH] [--screenshots DIR]

It prints the table, writes it as markdown (benchmarks/results/bench_latency.md by default) and exits
non-zero if a goal is missed. --screenshots DIR also saves PNGs of each scrub in the middle of an untimed drag
(and of a scrub computing, if one is caught), taken after the measurements.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import math
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "tests")]
from app_server import IDLE, ROOT, launch_chromium, scale_out, streamlit_server

TIMEOUT_S = 180.0  # a layer page's first run imports TensorFlow on a loaded 2-core machine
QUIET_MS = 1000
POLL_S = 0.05
MAX_FF_DIM = 256  # the ff_dim slider's range ends here; sessions are given disjoint runs of values below it
MIXING = "Feature_and_Temporal_Mixing"
EMBEDDING = "Token_and_Positional_Embedding"
STEP_GOAL = 0.5
DRAG_VALUES, DRAG_SECONDS, DRAG_GOAL = 30, 1.0, 0.9
FILL_NEAREST, FILL_NEAREST_GOAL_MS, FILL_ALL_GOAL_MS = 16, 1000.0, 10_000.0
FILL_BUDGET_BYTES = 2e6  # issue 18: the browser receives at most 2 MB per scrub range
FILL_START = 128  # in the middle of ff_dim's range, so its nearest values lie on both sides
FILL_TIMEOUT_S = 120.0
STEP_TIMEOUT_S = 30.0  # a step to a value the scrub has received: far longer means it is not drawn at all
LONG_FRAME_MS = 50
SCREENSHOT_VIEWPORT = {"width": 1400, "height": 1250}  # the scrub, its pipeline and the whole picture
THUMB_PX = 16  # Chromium's range thumb: the track a drag maps to values is the input's width less this
TRIVIAL_APP = '''import streamlit as st

value = st.slider("value", 0, 1000, 500)
st.write(f"The slider is at {value}.")
'''
HEATMAP_APP = '''import numpy as np
import plotly.graph_objects as go
import streamlit as st

value = st.slider("value", 0, 1000, 500)
st.plotly_chart(go.Figure(go.Heatmap(z=np.random.default_rng(value).normal(size=(7, 32)))), key="heatmap")
st.write(f"The slider is at {value}.")
'''
SCRUB = "[data-testid='kf-scrub'][data-control='{}']"
PROBE = """(() => {
  const kf = window.__kf = {inputs: [], releases: [], messages: 0, bytes: 0, lastMessage: 0, lastChange: 0, closed: 0,
                            expect: null, seenAt: null, scrubs: {}, longFrames: [], drag: null};
  for (const kind of ['keydown', 'pointerdown']) {
    document.addEventListener(kind, () => kf.inputs.push(performance.now()), true);
  }
  for (const kind of ['keyup', 'pointerup']) {
    document.addEventListener(kind, () => kf.releases.push(performance.now()), true);
  }
  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', event => {
        kf.messages += 1;
        kf.lastMessage = performance.now();
        kf.bytes += event.data.byteLength ?? event.data.size ?? event.data.length ?? 0;
      });
      this.addEventListener('close', () => { kf.closed += 1; });
    }
  };
  // A change counts at the first animation frame after it, when the person can see it, as the expected value
  // does. A scrub's list of received values grows in the background: that alone is no change anybody sees.
  let changed = false, rescan = true;
  const attachShadow = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (...args) { rescan = true; return attachShadow.apply(this, args); };
  const onChange = records => {
    if (records.some(record => record.attributeName !== 'data-ready-values')) changed = true;
  };
  const watching = {subtree: true, childList: true, characterData: true, attributes: true};
  const mainObserver = new MutationObserver(onChange), shadowObserver = new MutationObserver(onChange);
  new MutationObserver(() => { rescan = true; }).observe(document, {subtree: true, childList: true});
  let observed = null, roots = [];
  const watched = new WeakSet();
  const shadowRoots = node => [...node.querySelectorAll('*')].filter(element => element.shadowRoot)
    .flatMap(element => [element.shadowRoot, ...shadowRoots(element.shadowRoot)]);
  // Playwright's locators enter open shadow roots; document.querySelector does not, this does.
  kf.query = selector => [document, ...roots].flatMap(root => [...root.querySelectorAll(selector)]);
  const scrubSelector = control => `[data-testid="kf-scrub"][data-control="${control}"]`;
  const lastNumber = text => {
    const all = text.match(/-?[\\d.]+(?:e[-+]?\\d+)?/g);
    return all ? Number(all.at(-1)) : null;
  };
  // The value under the hand, as the scrub labels it (its range input's own value may be an index).
  kf.valueUnderHand = box => lastNumber(box.querySelector('.kf-scrub-value')?.textContent ?? '');
  const close = (a, b) => Math.abs(a - b) < 1e-9;
  // The value a scrub shows: the one it says it drew, if drawn, and if its `stage` box (given) has that value
  // as its shape's last axis; null while computing; NaN when the box disagrees with the label.
  // A scrub over names (the mixer flavours) shows a name: its value is that name.
  const shown = (control, stage) => {
    const box = kf.query(scrubSelector(control))[0];
    if (!box || box.dataset.state !== 'ready') return null;
    const text = box.dataset.shownValue, value = Number(text);
    if (Number.isNaN(value)) return text;
    if (!stage) return value;
    const shape = box.querySelector(`.kf-stage[data-stage="${stage}"] .kf-shape`);
    return shape && lastNumber(shape.textContent) === value ? value : NaN;
  };
  const seen = (expect, main) => {
    if (expect.control) {
      const value = shown(expect.control, expect.stage);
      return typeof expect.value === 'string' ? value === expect.value : value !== null && close(value, expect.value);
    }
    return main.textContent.includes(expect.text);
  };
  let previous = null;
  const frame = now => {
    if (previous !== null && now - previous > LONG_FRAME_MS) kf.longFrames.push([now, now - previous]);
    previous = now;
    if (rescan) {
      rescan = false;
      roots = shadowRoots(document.body);
      for (const root of roots.filter(root => !watched.has(root))) {
        watched.add(root);
        shadowObserver.observe(root, watching);
        changed = true;
      }
    }
    const main = document.querySelector("[data-testid='stMain']");
    if (main && main !== observed) {
      mainObserver.disconnect();
      mainObserver.observe(main, watching);
      observed = main;
      changed = true;
    }
    if (changed) {
      kf.lastChange = performance.now();
      changed = false;
    }
    // Looked for at every frame while awaited (idle pages side by side cost nothing otherwise).
    if (kf.expect !== null && kf.seenAt === null && main && seen(kf.expect, main)) kf.seenAt = performance.now();
    for (const box of kf.query('[data-testid="kf-scrub"]')) {
      const log = kf.scrubs[box.dataset.control] ??= {
        appeared: performance.now(), start: kf.valueUnderHand(box), bytes: kf.bytes, ready: [], last: null,
        range: [...box.querySelectorAll('input[type=range]')].map(input => [input.min, input.max, input.step])[0]};
      log.total = Number(box.dataset.total);
      const ready = box.dataset.readyValues ?? '';
      if (ready !== log.last) {
        log.last = ready;
        log.ready.push([performance.now(), ready, kf.bytes]);
      }
    }
    const drag = kf.drag;
    if (drag && drag.recording) {
      const value = shown(drag.control, drag.stage);
      if (Number.isNaN(value)) drag.mismatched += 1;
      else if (value !== null && (drag.drawn.length === 0 || !close(drag.drawn.at(-1)[1], value))) {
        drag.drawn.push([performance.now(), value]);
      }
    }
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})();""".replace("LONG_FRAME_MS", str(LONG_FRAME_MS))
ARM = """expect => Object.assign(window.__kf, {inputs: [], releases: [], messages: 0, closed: 0, expect: expect,
                                        seenAt: null, armedBytes: window.__kf.bytes})"""
# A lost connection ends the wait at once: the reading that follows reports it.
SETTLED = """([idle, quiet]) => {
  const kf = window.__kf, main = document.querySelector("[data-testid='stMain']");
  if (kf.closed) return true;
  const drawn = main && [...main.querySelectorAll("[data-testid='stPlotlyChart']")]
    .every(chart => chart.querySelector('.main-svg'));
  return Boolean(document.querySelector(idle) && drawn && kf.messages > 0 && (kf.expect === null || kf.seenAt !== null)
    && performance.now() - Math.max(kf.lastChange, kf.lastMessage) >= quiet);
}"""
READING = """() => ({input: window.__kf.inputs.at(-1) ?? null, release: window.__kf.releases.at(-1) ?? null,
  seen: window.__kf.seenAt, last: window.__kf.lastChange, closed: window.__kf.closed,
  bytes: window.__kf.bytes - (window.__kf.armedBytes ?? 0),
  epoch: performance.timeOrigin + window.__kf.lastChange})"""
# Every value the input passes, as the scrub labels it once its own input listener has run (this one is added
# after it, on the same input, so it runs after it).
RECORD_DRAG = """([control, stage]) => {
  const kf = window.__kf, selector = `[data-testid="kf-scrub"][data-control="${control}"]`;
  kf.drag = {control: control, stage: stage, passed: [], drawn: [], mismatched: 0, recording: true};
  const box = kf.query(selector)[0], input = box.querySelector('input[type=range]');
  if (!input.kfRecorded) {
    input.kfRecorded = true;
    input.addEventListener('input', () => {
      const drag = kf.drag;
      if (drag && drag.recording && drag.control === control) {
        drag.passed.push([performance.now(), kf.valueUnderHand(kf.query(selector)[0])]);
      }
    });
  }
}"""
STOP_DRAG = """() => Object.assign(window.__kf.drag, {recording: false})"""
SCRUB_LOG = """control => ({log: window.__kf.scrubs[control] ?? null, longFrames: window.__kf.longFrames,
  now: performance.now()})"""


class MoveFailed(RuntimeError):
    """A move or page load that did not end in a settled page without errors."""


FAILURES = (MoveFailed, PlaywrightError)
"""What a session's failure raises: ours, or Playwright's for a page that crashed or an element that is gone."""


def why(error: Exception) -> str:
    return str(error).splitlines()[0]


@dataclass
class Move:
    first_change_ms: float | None
    """Key press to the expected value on screen (a scrub's step); None for a move without one."""
    settled_ms: float
    scrub: bool = False
    """Whether the control moved was a scrub (else Streamlit's own widget)."""
    received_bytes: float = 0
    """What the page received over its websocket from the move until it settled."""


def main_text(page) -> str:
    return page.locator("[data-testid='stMain']").text_content()


class Session:
    """One browser context (so one Streamlit session) on one page, with the probe installed."""

    def __init__(self, browser, url: str):
        self.url = url
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.context.add_init_script(PROBE)
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_S * 1000)
        try:
            self.page.goto(url)
        except PlaywrightError:
            self.context.close()
            raise

    def settled(self) -> bool:
        return self.page.evaluate(SETTLED, [IDLE, QUIET_MS])

    def reading(self) -> dict:
        """The probe's times; fails if the page shows an exception or lost its connection."""
        if self.page.locator("[data-testid='stException']").count():
            raise MoveFailed(f"{self.url} shows an exception")
        reading = self.page.evaluate(READING)
        if reading["closed"]:
            raise MoveFailed(f"{self.url} lost its connection to the server")
        return reading

    def close(self) -> None:
        self.context.close()


def wait_settled(sessions: list[Session]) -> dict[Session, str]:
    """Wait until every session has settled; returns the failures, session -> why."""
    pending, failures = list(sessions), {}
    deadline = time.monotonic() + TIMEOUT_S
    while pending:
        for session in list(pending):
            try:
                done = session.settled()
                if done:
                    session.reading()  # raises if the page shows an exception or lost its connection
            except FAILURES as error:
                failures[session], done = why(error), True
            if done:
                pending.remove(session)
        if pending and time.monotonic() > deadline:
            failures.update({s: f"{s.url} did not settle within {TIMEOUT_S:.0f} s" for s in pending})
            break
        time.sleep(POLL_S)
    return failures


def open_session(browser, url: str) -> Session:
    """A session on `url`, once settled; fails if the page does not settle without errors."""
    session = Session(browser, url)
    failures = wait_settled([session])
    if failures:
        session.close()
        raise MoveFailed(failures[session])
    return session


def is_scrub(page, label: str) -> bool:
    return page.locator(SCRUB.format(label)).count() > 0


def found_scrub(page, label: str, where: str, seconds: float = 5.0) -> bool:
    """Whether the page shows the scrub `label` (given a few seconds to mount); if not, says so on stderr, with
    the page's own sentence if the component fell back to a plain slider."""
    with contextlib.suppress(PlaywrightError):
        page.locator(SCRUB.format(label)).first.wait_for(timeout=seconds * 1000)
        return True
    fallback = page.get_by_text("could not be drawn")
    said = f" ({fallback.first.text_content()})" if fallback.count() else ""
    print(f"note: {label} is not a scrub on {where}{said}", file=sys.stderr)
    return False


def range_input(page, label: str):
    """The scrub's range input for `label`, or else Streamlit's slider of that label (a group named by the label
    around a range input)."""
    if is_scrub(page, label):
        return page.locator(f"{SCRUB.format(label)} input[type=range]")
    return page.get_by_role("group", name=label, exact=True).get_by_role("slider")


def scrub_values(log: dict) -> set[float]:
    """Every value of a scrub's range: from its input's min, max and step if they count data-total values
    (a numeric range), else its longest list of received values (the whole range once complete)."""
    with contextlib.suppress(TypeError, ValueError):
        low, high, step = (float(number) for number in log["range"])
        count = round((high - low) / step) + 1
        if count == log["total"]:
            return {round(low + index * step, 9) for index in range(count)}
    return max((ready_values(ready) for _, ready, _ in log["ready"]), key=len, default=set())


def last_number(text: str) -> float:
    numbers = re.findall(r"-?[\d.]+(?:e[-+]?\d+)?", text)
    if not numbers:
        raise MoveFailed(f"no number in {text!r}")
    return float(numbers[-1])


def scrub_label(page, label: str) -> str:
    """The value under the hand as the scrub labels it: the text after "control = "."""
    return page.locator(f"{SCRUB.format(label)} .kf-scrub-value").text_content().split(" = ", 1)[-1].strip()


def scrub_labels(page, label: str) -> list[str] | None:
    """The scrub's values in order if they are names (its `data-values`), else None (a numeric range)."""
    values = (page.locator(SCRUB.format(label)).get_attribute("data-values") or "").split(",")
    return None if all(isinstance(_as_number(value), float) for value in values) else values


def current_value(page, label: str) -> float:
    """The control's value: as a scrub labels it (`.kf-scrub-value`), or a slider's own."""
    if is_scrub(page, label):
        return last_number(scrub_label(page, label))
    return float(range_input(page, label).input_value())


def wait_range_ready(page, label: str, timeout_s: float = FILL_TIMEOUT_S) -> bool:
    """Wait until the scrub `label` has received every value of its range; False if it has not in time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        log = page.evaluate(SCRUB_LOG, label)["log"]
        if log and log["last"] is not None and ready_count(log["last"]) >= log["total"]:
            return True
        time.sleep(POLL_S * 4)
    return False


def ready_values(ready: str) -> set:
    """The values a scrub has received: numbers where they are numbers (so 0.1 and 0.10 are one), else names
    (the mixer flavours)."""
    return {_as_number(value) for value in ready.split(",") if value.strip()}


def _as_number(text: str):
    try:
        return round(float(text), 9)
    except ValueError:
        return text.strip()


def ready_count(ready: str) -> int:
    return len(ready_values(ready))


@dataclass
class SliderStep:
    """Control `label` one step to the right with the keyboard, as a person does after clicking it: the scrub's
    range input if the page has one, else Streamlit's slider."""
    label: str
    shows: Callable[[str, int, int], str] | None = None
    """For Streamlit's slider: (main text before the move, old value, new value) -> the text the page shows once
    it has updated."""
    stage: str | None = None
    """For a scrub: the pipeline box whose shape must end in the new value (else the scrub's drawn value is
    looked for)."""
    unit: float = 1
    """For a scrub: the step between its values (its input may count indices)."""

    def slider(self, page):
        return range_input(page, self.label)

    def expected(self, page) -> dict | None:
        if is_scrub(page, self.label):
            values = scrub_labels(page, self.label)
            if values is not None:  # a range of names: the next one, or the first after the last (Home)
                under_hand = scrub_label(page, self.label)
                return {"control": self.label, "stage": self.stage,
                        "value": values[(values.index(under_hand) + 1) % len(values)]}
            return {"control": self.label, "value": round(current_value(page, self.label) + self.unit, 9),
                    "stage": self.stage}
        slider = self.slider(page)
        old = float(slider.input_value())
        new = round(old + float(slider.get_attribute("step") or 1), 9)
        if self.shows is None:
            return None
        # A chart can still be filling in its text after a second of quiet on a loaded machine: give it time.
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            try:
                return {"text": self.shows(main_text(page), int(old), int(new))}
            except MoveFailed:
                if time.monotonic() > deadline:
                    raise
                time.sleep(POLL_S)

    def act(self, page) -> None:
        slider = self.slider(page)
        if float(slider.input_value()) >= float(slider.get_attribute("max")):
            if is_scrub(page, self.label) and scrub_labels(page, self.label) is not None:
                slider.press("Home")  # names have no order to run out of: back to the first
                return
            raise MoveFailed(f"slider {self.label} is at its maximum: ask for fewer --moves")
        slider.press("ArrowRight")


def trivial_text(text: str, old: int, new: int) -> str:
    return f"The slider is at {new}."


def shape_text(text: str, old: int, new: int) -> str:
    """The shape the page shows with `old` as its last axis, with `new` instead: (16, 32, 64) -> (16, 32, 65)."""
    found = re.search(rf"\(((?:\d+, )+){old}\)", text)
    if found is None:
        raise MoveFailed(f"the page shows no tensor shape ending in {old}")
    return f"({found[1]}{new})"


def move_together(sessions: list[Session], step) -> tuple[dict[Session, Move], list[str]]:
    """Make `step` in every session at once (the inputs go out back to back, a few ms apart) and time it.

    Returns the timed moves of the sessions that settled without errors, and what went wrong in the others.
    """
    expected, errors = {}, []
    for session in sessions:
        try:
            expected[session] = step.expected(session.page)
            session.page.evaluate(ARM, expected[session])
        except FAILURES as error:
            errors.append(why(error))
    moving = []
    for session in expected:
        try:
            step.act(session.page)
            moving.append(session)
        except FAILURES as error:
            errors.append(why(error))
    failures = wait_settled(moving)
    errors += failures.values()
    moves = {}
    for session in (s for s in moving if s not in failures):
        try:
            expectation = expected[session]
            moves[session] = timed(session.reading(), expectation is not None,
                                   scrub=bool(expectation and "control" in expectation))
        except FAILURES as error:
            errors.append(why(error))
    return moves, errors


def move(session: Session, step) -> Move:
    """Make `step` in `session` and time it; fails if the page does not settle without errors."""
    moves, errors = move_together([session], step)
    if errors:
        raise MoveFailed(errors[0])
    return moves[session]


def timed(reading: dict, expects_value: bool, scrub: bool = False) -> Move:
    if reading["input"] is None or reading["last"] <= reading["input"]:
        raise MoveFailed("the move made no input or changed nothing in the page")
    first = reading["seen"] - reading["input"] if expects_value else None
    return Move(first, reading["last"] - reading["input"], scrub, reading["bytes"])


@dataclass
class Control:
    name: str
    path: str
    """URL path and query of the page, after the server's address."""
    step: SliderStep
    settled_goal: float | None = None
    first_change_goal: float | None = None
    """For a control that is still Streamlit's slider; a scrub's step has STEP_GOAL."""
    server: str = "app"
    """Which server's page: "app", or "heatmap" for the bare heatmap page."""
    tab: str | None = None
    """Open the tab whose name contains this before measuring (a click, as a person does)."""
    prepare: SliderStep | None = None
    """An untimed move before each timed one, so that the timed one lands on a combination not seen before."""


def ff_dim_path(start: int) -> str:
    return f"{MIXING}?mix_ff_dim={start}"


def open_control(browser, urls: dict[str, str], control: Control) -> Session:
    """A settled session on the control's page and tab; a scrub's range is complete before it is measured."""
    session = open_session(browser, f"{urls[control.server]}/{control.path}")
    if control.tab:
        session.page.get_by_role("tab", name=re.compile(re.escape(control.tab))).first.click()
        if wait_settled([session]):
            raise MoveFailed(f"the {control.tab} tab of {control.path} did not settle")
    label = getattr(control.step, "label", None)
    if (label and control.server == "app" and found_scrub(session.page, label, control.path)
            and not wait_range_ready(session.page, label)):
        print(f"note: the {label} scrub had not received its whole range after {FILL_TIMEOUT_S:.0f} s; "
              "measuring anyway", file=sys.stderr)
    return session


def check_ff_dim_start(session: Session, start: int) -> None:
    """The link's ff_dim must have been taken up, or sessions would share values (and caches)."""
    value = int(current_value(session.page, "ff_dim"))
    if value != start:
        raise MoveFailed(f"{session.url} opened at ff_dim {value}, not at the link's {start}")


def measure_controls(browser, urls: dict[str, str], controls: list[Control],
                     moves: int) -> dict[str, tuple[list[Move], list[Move]]]:
    """For each control: (its moves, the trivial page's moves made in the same rounds).

    `urls` has the "trivial" page's server and those the controls name.
    """
    trivial = open_session(browser, urls["trivial"])
    sessions = {c.name: open_control(browser, urls, c) for c in controls}
    results = {c.name: ([], []) for c in controls}
    try:
        for round_ in range(moves + 1):  # round 0 warms up: first events and first layer builds off the clock
            for control in controls:
                session = sessions[control.name]
                if control.prepare:
                    move(session, control.prepare)
                    label = control.step.label
                    if is_scrub(session.page, label) and not wait_range_ready(session.page, label):
                        raise MoveFailed(f"the {label} scrub did not receive its new range in time")
                trivial_move, control_move = move(trivial, TRIVIAL_STEP), move(session, control.step)
                if round_:
                    results[control.name][0].append(control_move)
                    results[control.name][1].append(trivial_move)
    finally:
        for session in [trivial, *sessions.values()]:
            session.close()
    return results


TRIVIAL_STEP = SliderStep("value", trivial_text)


@dataclass
class Drag:
    passed: int
    """How many distinct values the input took."""
    drawn_of_passed: int
    """How many of those the page drew at some animation frame."""
    mismatched_frames: int
    """Frames whose box shape disagreed with the value the scrub said it drew."""
    seconds: float
    """First to last value the input took, by the page's clock."""
    settled_ms: float
    """Release to the page settled."""

    @property
    def share(self) -> float:
        return self.drawn_of_passed / self.passed if self.passed else 0.0


def drag(page, label: str, values: int = DRAG_VALUES, seconds: float = DRAG_SECONDS,
         midway: Callable[[], None] | None = None, moves: int | None = None) -> None:
    """Press the mouse on the scrub's thumb, move it across about `values` values in about `seconds` (small moves
    evenly spaced in time, one per value unless `moves` is given), release. Goes right unless too near the end
    of the range (a short range: across its longer side). `midway` runs with the mouse held half-way (a
    screenshot)."""
    slider = range_input(page, label)
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    low, high = float(slider.get_attribute("min")), float(slider.get_attribute("max"))
    step, start = float(slider.get_attribute("step") or 1), float(slider.input_value())
    span = min(values * step, high - low)
    if start + span <= high or start - span < low:  # right, or as far as the range allows on the longer side
        end = start + span if start + span <= high else (high if high - start >= start - low else low)
    else:
        end = start - span

    def x(value: float) -> float:
        return box["x"] + THUMB_PX / 2 + (value - low) / (high - low) * (box["width"] - THUMB_PX)

    y = box["y"] + box["height"] / 2
    page.mouse.move(x(start), y)
    page.mouse.down()
    began = time.perf_counter()
    moves = moves or values
    for index in range(1, moves + 1):
        page.mouse.move(x(start + (end - start) * index / moves), y)
        if midway and index == moves // 2:
            midway()
        time.sleep(max(0.0, began + seconds * index / moves - time.perf_counter()))
    page.mouse.up()


def measured_drag(session: Session, label: str, stage: str | None) -> Drag:
    """A drag of scrub `label` recorded in the page: the values its input passed and those it drew."""
    page = session.page
    page.evaluate(ARM, None)
    page.evaluate(RECORD_DRAG, [label, stage])
    drag(page, label)
    failures = wait_settled([session])
    recorded = page.evaluate(STOP_DRAG)
    if failures:
        raise MoveFailed(failures[session])
    reading = session.reading()
    passed = {round(value, 9) for _, value in recorded["passed"]}
    drawn = {round(value, 9) for _, value in recorded["drawn"]}
    times = [at for at, _ in recorded["passed"]]
    return Drag(len(passed), len(passed & drawn), recorded["mismatched"],
                (times[-1] - times[0]) / 1000 if times else 0.0, reading["last"] - reading["release"])


@dataclass
class ScrubDrag:
    name: str
    path: str
    label: str
    stage: str | None = None


def scrub_drags() -> list[ScrubDrag]:
    return [ScrubDrag("ff_dim (Feature & Temporal Mixing)", ff_dim_path(64), "ff_dim", "dense_1"),
            ScrubDrag("dropout, Dropout tab open (Feature & Temporal Mixing)",
                      f"{MIXING}?mix_view=Dropout+and+training+vs+inference", "dropout"),
            ScrubDrag("d_model (Token & Positional Embedding)", EMBEDDING, "d_model")]


def measure_drags(browser, urls: dict[str, str], drags: int) -> dict[str, tuple[list[Drag], list[Move]]]:
    """For each scrub: `drags` drags there and back (its range complete first), and trivial moves between them."""
    results = {}
    trivial = open_session(browser, urls["trivial"])
    try:
        for scrub in scrub_drags():
            session = open_session(browser, f"{urls['app']}/{scrub.path}")
            try:
                if not found_scrub(session.page, scrub.label, f"{scrub.path}: no drag measured"):
                    continue
                if not wait_range_ready(session.page, scrub.label):
                    print(f"note: the {scrub.label} scrub had not received its whole range after "
                          f"{FILL_TIMEOUT_S:.0f} s; dragging anyway", file=sys.stderr)
                results[scrub.name] = ([], [])
                for _ in range(drags):
                    results[scrub.name][1].append(move(trivial, TRIVIAL_STEP))
                    results[scrub.name][0].append(measured_drag(session, scrub.label, scrub.stage))
            finally:
                session.close()
    finally:
        trivial.close()
    return results


@dataclass
class Fill:
    nearest_ms: float | None
    """First render to the FILL_NEAREST values nearest the start all received; None if not in time."""
    all_ms: float | None
    """First render to the whole range received; None if not in time."""
    total: int
    step: Move | None
    """A step made once the nearest values were in, while the rest was still coming (None if it was not)."""
    longest_frame_ms: float
    """Longest gap between animation frames from the first render to the whole range received (or timeout)."""
    already_ready: int
    """Values the scrub had at its first render besides the current one (all the nearest: a warm cache)."""
    received_bytes: float
    """What the page received over its websocket from the first render to the whole range (or timeout)."""
    step_failed: bool = False
    """The step during the fill was not drawn within STEP_TIMEOUT_S."""


def fill_times(log: dict, nearest: int) -> tuple[float | None, float | None, float]:
    """(ms to the `nearest` values nearest the start, ms to the whole range, bytes received meanwhile) from the
    scrub's first render; a time is None until it is reached, the bytes count until the whole range or now."""
    values = scrub_values(log)
    start = round(log["start"], 9)
    near = set(sorted((v for v in values if v != start), key=lambda v: (abs(v - start), v))[:nearest])
    nearest_at = all_at = None
    received = log["ready"][-1][2] - log["bytes"] if log["ready"] else 0
    for at, ready, bytes_so_far in log["ready"]:
        have = ready_values(ready)
        if nearest_at is None and near <= have:
            nearest_at = at - log["appeared"]
        if len(have) >= log["total"]:
            all_at, received = at - log["appeared"], bytes_so_far - log["bytes"]
            break
    return nearest_at, all_at, received


def measure_fill(browser, url: str, label: str, stage: str | None) -> Fill | None:
    """Open a page whose scrub range no session has asked for; time its fill from the scrub's first render.
    None if the page settles without such a scrub."""
    session = Session(browser, url)
    page = session.page
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while page.evaluate(SCRUB_LOG, label)["log"] is None:
            if session.settled() and not is_scrub(page, label):
                return None
            if time.monotonic() > deadline:
                raise MoveFailed(f"{url} showed no {label} scrub within {TIMEOUT_S:.0f} s")
            time.sleep(POLL_S)
        step, stepped, step_failed = None, False, False
        deadline = time.monotonic() + FILL_TIMEOUT_S
        while time.monotonic() < deadline:
            nearest_ms, all_ms, _ = fill_times(page.evaluate(SCRUB_LOG, label)["log"], FILL_NEAREST)
            if all_ms is not None:
                break
            if nearest_ms is not None and not stepped:  # the rest is still coming: is the page responsive?
                step, stepped = move_during_fill(session, label, stage), True
                if step is None:
                    step_failed = True
            time.sleep(POLL_S * 2)
        state = page.evaluate(SCRUB_LOG, label)
        log = state["log"]
        nearest_ms, all_ms, received = fill_times(log, FILL_NEAREST)
        end = log["appeared"] + all_ms if all_ms is not None else state["now"]
        gaps = [gap for at, gap in state["longFrames"] if log["appeared"] <= at <= end]
        first = ready_values(log["ready"][0][1]) if log["ready"] else set()
        return Fill(nearest_ms, all_ms, log["total"], step, max(gaps, default=0.0),
                    len(first - {round(log["start"], 9)}), received, step_failed)
    finally:
        session.close()


def move_during_fill(session: Session, label: str, stage: str | None) -> Move | None:
    """One step while the range fills: timed to the new value drawn, without waiting for the rerun to settle;
    None if it is not drawn within STEP_TIMEOUT_S (its value was among those received)."""
    step = SliderStep(label, stage=stage)
    page = session.page
    expectation = step.expected(page)
    page.evaluate(ARM, expectation)
    step.act(page)
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while (reading := session.reading())["seen"] is None:
        if time.monotonic() > deadline:
            print(f"note: the {label} step during the fill, to {expectation['value']:g}, was not "
                  f"drawn within {STEP_TIMEOUT_S:.0f} s", file=sys.stderr)
            return None
        time.sleep(POLL_S)
    return Move(reading["seen"] - reading["input"], math.nan, scrub=True)


@dataclass
class UsersRun:
    steps_ms: dict[int, list[float]] = field(default_factory=dict)
    """User -> the first change of each of its completed moves (a step, for a scrub)."""
    errors: list[str] = field(default_factory=list)
    completed: int = 0
    attempted: int = 0
    scrub: bool = True

    @property
    def all_steps_ms(self) -> list[float]:
        return [ms for steps in self.steps_ms.values() for ms in steps]


def several_users(browser, url: str, users: int, rounds: int, first_ff_dim: int) -> UsersRun:
    """`users` sessions on the mixing page, each from its own ff_dim, all pressing ArrowRight at once, `rounds`
    times after one warm-up round. A session that fails to open or fails a move counts an error and stops."""
    starts = [first_ff_dim + user * (rounds + 2) for user in range(users)]
    if starts[-1] + rounds + 1 > MAX_FF_DIM:
        raise ValueError(f"{users} users x {rounds} rounds need more ff_dim values than the slider has")
    run = UsersRun(attempted=users * rounds)
    step = SliderStep("ff_dim", shape_text, stage="dense_1")
    sessions = []
    try:
        for start in starts:  # one after another: what is measured is the moves, not a crowd of first loads
            try:
                sessions.append(open_session(browser, f"{url}/{ff_dim_path(start)}"))
            except FAILURES as error:
                run.errors.append(why(error))
                continue
            check_ff_dim_start(sessions[-1], start)
        run.scrub = bool(sessions) and is_scrub(sessions[0].page, "ff_dim")
        active = list(sessions)
        for round_ in range(rounds + 1):
            moves, errors = move_together(active, step)
            run.errors += errors
            active = list(moves)
            if round_:
                for session, timed_move in moves.items():
                    run.steps_ms.setdefault(sessions.index(session), []).append(timed_move.first_change_ms)
                run.completed += len(moves)
    finally:
        for session in sessions:
            session.close()
    return run


@contextlib.contextmanager
def serve(script: Path, replicas: int):
    """(url, launched) of `script` served directly, or by `replicas` replicas behind nginx."""
    if replicas:
        with scale_out(script, replicas) as deployment:
            yield deployment.url, deployment.launched
    else:
        with streamlit_server(script) as (url, _, launched):
            yield url, launched


def start_time(browser, script: Path, replicas: int) -> float:
    """Seconds from launching the server(s) to the home page settled in a fresh session."""
    with serve(script, replicas) as (url, launched):
        launched_epoch = time.time() - (time.perf_counter() - launched)
        session = open_session(browser, url)
        rendered_epoch = session.reading()["epoch"] / 1000
        session.close()
    return rendered_epoch - launched_epoch


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `share` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({model}), no GPU, {platform.system()} {platform.release()}"


def controls() -> list[Control]:
    """The timed controls; settled goals of the scrubs are their ratios before issue 18 (2026-12-02)."""
    return [
        Control("ff_dim (Feature & Temporal Mixing)", ff_dim_path(70), SliderStep("ff_dim", shape_text, "dense_1"),
                settled_goal=9.07, first_change_goal=1.5),
        Control("flavour, Importance tab open (Feature Mixers)", "Feature_Mixers", SliderStep("flavour"),
                settled_goal=20.0, tab="Importance", prepare=SliderStep("dropout", unit=0.05)),
        Control("d_model (Token & Positional Embedding)", EMBEDDING, SliderStep("d_model", shape_text),
                settled_goal=10.76),
        Control("dropout, Dropout tab open (Feature & Temporal Mixing)", MIXING, SliderStep("dropout", unit=0.05),
                settled_goal=18.35, tab="Dropout"),
        Control("a bare page redrawing one plotly heatmap (no goal)", "", SliderStep("value"), server="heatmap"),
    ]


def ms(value: float) -> str:
    return f"{value:.0f} ms"


@dataclass
class Goal:
    limit: float
    at_least: bool = False

    def met(self, ratio: float) -> bool:
        return ratio >= self.limit if self.at_least else ratio <= self.limit

    def __str__(self) -> str:
        return f"{'>=' if self.at_least else '<='} {self.limit:g}{'' if self.at_least else 'x'}"


NO_ERRORS = "no errors"
Row = tuple
"""(what, app, reference, ratio or None, a Goal or NO_ERRORS or None)"""


def rows_for_controls(measured: dict[str, tuple[list[Move], list[Move]]]) -> list[Row]:
    rows = []
    for control in controls():
        app, trivial = measured[control.name]
        scrub = app[0].scrub
        if app[0].first_change_ms is not None:
            first = statistics.median(m.first_change_ms for m in app)
            trivial_first = statistics.median(m.first_change_ms for m in trivial)
            what, goal = ((f"step: {control.name}", STEP_GOAL) if scrub else
                          (f"first change (still Streamlit's slider): {control.name}", control.first_change_goal))
            rows.append((what, ms(first), f"{ms(trivial_first)} (round trip)", first / trivial_first,
                         goal and Goal(goal)))
        settled = statistics.median(m.settled_ms for m in app)
        trivial_settled = statistics.median(m.settled_ms for m in trivial)
        kind = "settled after release" if scrub else "settled"
        rows.append((f"{kind}: {control.name}", ms(settled), ms(trivial_settled), settled / trivial_settled,
                     control.settled_goal and Goal(control.settled_goal)))
        if scrub:
            received = statistics.median(m.received_bytes for m in app)
            trivial_received = statistics.median(m.received_bytes for m in trivial)
            rows.append((f"received per step, until settled (no goal): {control.name}", f"{received / 1e3:.0f} kB",
                         f"{trivial_received / 1e3:.1f} kB", received / trivial_received, None))
    return rows


def rows_for_drags(measured: dict[str, tuple[list[Drag], list[Move]]]) -> list[Row]:
    rows = []
    for name, (drags, trivial) in measured.items():
        passed, drawn = sum(d.passed for d in drags), sum(d.drawn_of_passed for d in drags)
        seconds = statistics.median(d.seconds for d in drags)
        rows.append((f"drag: {name}, values drawn of those the input passed ({len(drags)} drags over "
                     f"{statistics.median(d.passed for d in drags):.0f} values in {seconds:.2f} s, median)",
                     f"{drawn} of {passed}", "", drawn / passed if passed else 0.0, Goal(DRAG_GOAL, at_least=True)))
        mismatched = sum(d.mismatched_frames for d in drags)
        if mismatched:
            rows.append((f"drag: {name}, frames whose box shape disagreed with the value drawn", str(mismatched),
                         "", None, NO_ERRORS))
        settled = statistics.median(d.settled_ms for d in drags)
        trivial_settled = statistics.median(m.settled_ms for m in trivial)
        rows.append((f"drag: {name}, release to settled (no goal)", ms(settled), ms(trivial_settled),
                     settled / trivial_settled, None))
    return rows


def rows_for_fills(fills: list[Fill], trivial_round_trip: float) -> list[Row]:
    runs = f"median of {len(fills)} fresh setting{'s' if len(fills) > 1 else ''}"
    rows = []
    for what, times, goal_ms in ((f"the {FILL_NEAREST} values nearest the current one", [f.nearest_ms for f in fills],
                                  FILL_NEAREST_GOAL_MS),
                                 (f"the whole range ({fills[0].total} values)", [f.all_ms for f in fills],
                                  FILL_ALL_GOAL_MS)):
        done = [t for t in times if t is not None]
        if len(done) < len(times):
            rows.append((f"fill: ff_dim, {what} ready ({runs})", f"not within {FILL_TIMEOUT_S:.0f} s",
                         f"{goal_ms / 1000:g} s (goal)", math.inf, Goal(1.0)))
        else:
            median = statistics.median(done)
            rows.append((f"fill: ff_dim, {what} ready from first render ({runs})", ms(median),
                         f"{goal_ms / 1000:g} s (goal)", median / goal_ms, Goal(1.0)))
    steps = [f.step.first_change_ms for f in fills if f.step]
    failed = sum(f.step_failed for f in fills)
    what = f"fill: ff_dim, a step made while the rest of the range fills ({len(steps)} of {len(steps) + failed})"
    if failed:
        rows.append((what, f"{failed} not drawn within {STEP_TIMEOUT_S:.0f} s", f"{ms(trivial_round_trip)} "
                     "(round trip)", math.inf, Goal(STEP_GOAL)))
    elif steps:
        step = statistics.median(steps)
        rows.append((what, ms(step), f"{ms(trivial_round_trip)} (round trip)", step / trivial_round_trip,
                     Goal(STEP_GOAL)))
    rows.append(("fill: ff_dim, longest gap between animation frames during the fill (no goal)",
                 ms(max(f.longest_frame_ms for f in fills)), "", None, None))
    received = statistics.median(f.received_bytes for f in fills)
    rows.append(("fill: ff_dim, bytes the page received from first render to the whole range",
                 f"{received / 1e6:.1f} MB", f"{FILL_BUDGET_BYTES / 1e6:g} MB (budget per range)",
                 received / FILL_BUDGET_BYTES, Goal(1.0)))
    warm = max(f.already_ready for f in fills)
    if warm >= FILL_NEAREST:
        rows.append(("fill: values already there at the first render (a warm cache: the fill was not fresh)",
                     str(warm), "", None, None))
    return rows


def rows_for_users(run: UsersRun, users: int, trivial_round_trip: float, step_goal: float | None) -> list[Row]:
    reference = f"{ms(trivial_round_trip)} (round trip)"
    what = f"{users} users {'stepping the ff_dim scrub' if run.scrub else 'moving the ff_dim slider'}"
    rows = []
    steps = run.all_steps_ms
    if steps:
        p50, p95 = percentile(steps, 0.5), percentile(steps, 0.95)
        slowest = max(statistics.median(user_steps) for user_steps in run.steps_ms.values())
        kind = "step" if run.scrub else "first change"
        rows += [(f"{what}: {kind} p50", ms(p50), reference, p50 / trivial_round_trip, None),
                 (f"{what}: {kind} p95", ms(p95), reference, p95 / trivial_round_trip, None),
                 (f"{what}: slowest user's median {kind}", ms(slowest), reference, slowest / trivial_round_trip,
                  Goal(step_goal) if step_goal and run.scrub else None)]
    rows.append((f"{what}: errors ({run.completed} of {run.attempted} moves completed)",
                 str(len(run.errors)), "", None, NO_ERRORS))
    return rows


def table(rows: list[Row], header: str) -> tuple[str, bool]:
    lines = [header, "", "| what | app | trivial page (or reference) | ratio | goal | result |",
             "|---|---|---|---|---|---|"]
    ok = True
    for name, app, reference, ratio, goal in rows:
        shown_ratio = "" if ratio is None else f"{ratio:.2f}"
        if goal is None:
            result, shown_goal = "", ""
        elif goal == NO_ERRORS:
            met, shown_goal = app == "0", "0"
            result = "PASS" if met else "FAIL"
        else:
            met, shown_goal = goal.met(ratio), str(goal)
            result = "PASS" if met else "FAIL"
        ok &= result != "FAIL"
        lines.append(f"| {name} | {app} | {reference} | {shown_ratio} | {shown_goal} | {result} |")
    return "\n".join(lines), ok


def take_screenshots(browser, url: str, folder: Path) -> list[Path]:
    """PNGs of each scrub half-way through an untimed drag, and of a scrub computing if one is caught: a fresh
    setting, dragged at once to values far from the current one."""
    folder.mkdir(parents=True, exist_ok=True)
    taken = []
    for scrub in scrub_drags():
        session = open_session(browser, f"{url}/{scrub.path}")
        try:
            if not found_scrub(session.page, scrub.label, f"{scrub.path}: no screenshot"):
                continue
            wait_range_ready(session.page, scrub.label)
            session.page.set_viewport_size(SCREENSHOT_VIEWPORT)
            wait_settled([session])
            path = folder / f"scrub_{scrub.label}_mid_drag.png"
            drag(session.page, scrub.label, midway=lambda: session.page.screenshot(path=str(path)))
            taken.append(path)
            wait_settled([session])
        finally:
            session.close()
    # A setting no session had: the values far from the current one are not there yet.
    session = Session(browser, f"{url}/{ff_dim_path(40)}&mix_window=15&mix_activation=tanh")
    try:
        page = session.page
        page.set_viewport_size(SCREENSHOT_VIEWPORT)
        page.locator(f"{SCRUB.format('ff_dim')}[data-state='ready']").wait_for()
        path = folder / "scrub_ff_dim_computing.png"

        def when_computing():
            with contextlib.suppress(PlaywrightError):
                page.locator(f"{SCRUB.format('ff_dim')}[data-state='computing']").wait_for(timeout=3000)
                page.screenshot(path=str(path))
                taken.append(path)

        drag(page, "ff_dim", values=200, seconds=0.5, midway=when_computing, moves=10)
    finally:
        session.close()
    return taken


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a quick run: 2 moves, 1 drag, 2 rounds, 1 start (unless given)")
    parser.add_argument("--moves", type=int, help="timed moves per control (default 7)")
    parser.add_argument("--drags", type=int, help="timed drags per scrub (default 3)")
    parser.add_argument("--rounds", type=int, help="timed rounds of the several-users runs (default 5)")
    parser.add_argument("--starts", type=int,
                        help="timed starts per app, and fills of the ff_dim scrub from fresh settings (default 3)")
    parser.add_argument("--replicas", type=int, default=0,
                        help="serve every app from this many replicas behind nginx (default 0: served directly)")
    parser.add_argument("--markdown", type=Path, help="where to write the table (default benchmarks/results/"
                        "bench_latency.md, or bench_latency_<N>_replicas.md with --replicas)")
    parser.add_argument("--screenshots", type=Path, help="also save PNGs of the scrubs mid-drag to this folder")
    args = parser.parse_args()
    defaults = {"moves": 2, "drags": 1, "rounds": 2, "starts": 1} if args.quick else \
        {"moves": 7, "drags": 3, "rounds": 5, "starts": 3}
    for name, default in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    if not 1 <= args.moves <= 14:
        parser.error("--moves must be between 1 and 14 (the dropout sliders have 16 steps above their default)")
    if not 1 <= args.starts <= 14:
        parser.error("--starts must be between 1 and 14 (each fill takes a window of the batch no session had)")
    if args.drags < 1 or args.rounds < 1:
        parser.error("--drags and --rounds must be at least 1")
    markdown = args.markdown or ROOT / "benchmarks" / "results" / (
        f"bench_latency_{args.replicas}_replicas.md" if args.replicas else "bench_latency.md")
    first_four_users, first_eight_users = 70 + args.moves + 2, 70 + args.moves + 2 + 4 * (args.rounds + 2)

    rows = []
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        trivial_script, heatmap_script = Path(folder) / "trivial_app.py", Path(folder) / "heatmap_app.py"
        trivial_script.write_text(TRIVIAL_APP)
        heatmap_script.write_text(HEATMAP_APP)
        browser = launch_chromium(playwright)
        try:
            app_starts, trivial_starts = [], []
            for _ in range(args.starts):
                trivial_starts.append(start_time(browser, trivial_script, args.replicas))
                app_starts.append(start_time(browser, ROOT / "app.py", args.replicas))
            app_start, trivial_start = statistics.median(app_starts), statistics.median(trivial_starts)
            rows.append(("start: launch to home page rendered", f"{app_start:.2f} s", f"{trivial_start:.2f} s",
                         app_start / trivial_start, Goal(2.0)))
            with (serve(trivial_script, args.replicas) as (trivial_url, _),
                  serve(heatmap_script, args.replicas) as (heatmap_url, _),
                  serve(ROOT / "app.py", args.replicas) as (app_url, _)):
                urls = {"app": app_url, "trivial": trivial_url, "heatmap": heatmap_url}
                measured = measure_controls(browser, urls, controls(), args.moves)
                rows += rows_for_controls(measured)
                trivial_round_trip = statistics.median(m.first_change_ms for m in measured[controls()[0].name][1])
                rows += rows_for_drags(measure_drags(browser, urls, args.drags))
                # Windows 1.. and gelu: settings no session has had, so the ff_dim range is computed afresh.
                fills = [measure_fill(browser, f"{app_url}/{ff_dim_path(FILL_START)}&mix_window={window}"
                                      "&mix_activation=gelu", "ff_dim", "dense_1")
                         for window in range(1, args.starts + 1)]
                if None in fills:
                    print("note: ff_dim is not a scrub: no fill measured", file=sys.stderr)
                else:
                    rows += rows_for_fills(fills, trivial_round_trip)
                four = several_users(browser, app_url, 4, args.rounds, first_four_users)
                rows += rows_for_users(four, 4, trivial_round_trip, STEP_GOAL)
                eight = several_users(browser, app_url, 8, args.rounds, first_eight_users)
                rows += rows_for_users(eight, 8, trivial_round_trip, None)
                if args.screenshots:
                    for path in take_screenshots(browser, app_url, args.screenshots):
                        print(f"screenshot: {path}")
        finally:
            browser.close()

    served = f"{args.replicas} replicas behind nginx" if args.replicas else "one server each"
    header = (f"Measured {datetime.datetime.now().isoformat(timespec='minutes')} on {machine()}; {served}; medians "
              f"of {args.starts} starts and fills, {args.moves} moves per control and {args.drags} drags per "
              f"scrub, several users over {args.rounds} rounds; Debian chromium (headless) through Playwright.")
    text, ok = table(rows, header)
    for run in (four, eight):
        text += "".join(f"\n\nerror: {error}" for error in run.errors)
    print(text)
    markdown.parent.mkdir(parents=True, exist_ok=True)
    markdown.write_text(text + "\n")
    print(f"\nmarkdown written to {markdown}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
