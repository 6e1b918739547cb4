"""How long a person waits in the app, against a trivial one-slider Streamlit page, measured in one run.

Goals (issue 15), each a ratio app / trivial page unless said otherwise:
  first change   from the key press on the ff_dim slider (Feature & Temporal Mixing, first tab open) until the
                 page shows the new value, i.e. its main area shows the new hidden width in a shape such as
                 (16, 32, 65) (the pipeline's dense_1 box); on the trivial page, until its text shows the new
                 value: <= 1.5x.
  settled        from the key press until the last change in the page's main area, confirmed by a second
                 without any: ff_dim <= 2.5x; the flavour on Feature Mixers, d_model on Token & Positional
                 Embedding, and dropout on Feature & Temporal Mixing with its Dropout tab open, each <= 3x.
  several users  4 sessions moving ff_dim at the same moment, each from its own values: the 95th percentile
                 of their first-change times <= 4x one user's median, and no errors; 8 sessions: no errors
                 (their percentiles are reported).
  start          from launching the server to the home page rendered (its main area settled): <= 2x.

How: every server is started by deploy/launch.py as users start the app (`streamlit run`, headless,
from the repository root) on a free loopback port, or with --replicas N as N replicas behind nginx. Debian's
chromium is driven through Playwright, one browser context (one Streamlit session) per page. A script
added to every page takes all times with the page's own clock (performance.now()): the key press or click
(a capture listener on the document), the first animation frame whose main area contains the expected
text, and the last animation frame that followed a change of the main area (a MutationObserver marks the
change, a requestAnimationFrame loop stamps both, so a change counts when it can be seen). A move
has settled when the app is idle, the server has answered, every plotly chart is drawn, and neither the
main area nor the server has changed anything for QUIET_MS. Controls are found by their labels (a slider
by the group its label names, moved one step with ArrowRight; a selectbox by its label, with two clicks),
so the script runs against whatever the pages are. Every move goes to a value no session has shown before on that server (ff_dim sessions start
from distinct values given in the link; the flavour, of which there are four, is moved after an untimed
dropout step), so no cache helps. App and trivial moves alternate, so a busy machine slows both alike;
ratios are between medians. One more row has no goal: a bare page that redraws one plotly heatmap, the
floor under any move that redraws a chart. Run from the repository root:

    python3 benchmarks/bench_latency.py [--moves N] [--rounds N] [--starts N] [--replicas N] [--markdown PATH]

It prints the table, writes it as markdown (benchmarks/results/bench_latency.md by default) and exits
non-zero if a goal is missed.
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
from dataclasses import dataclass
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
PROBE = """(() => {
  const kf = window.__kf = {inputs: [], messages: 0, lastMessage: 0, lastChange: 0, closed: 0,
                            expect: null, seenAt: null};
  for (const kind of ['keydown', 'pointerdown']) {
    document.addEventListener(kind, () => kf.inputs.push(performance.now()), true);
  }
  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', () => { kf.messages += 1; kf.lastMessage = performance.now(); });
      this.addEventListener('close', () => { kf.closed += 1; });
    }
  };
  // A change counts at the first animation frame after it, when the person can see it, as the expected text does.
  let changed = false;
  const observer = new MutationObserver(() => { changed = true; });
  let observed = null;
  const frame = () => {
    const main = document.querySelector("[data-testid='stMain']");
    if (main && main !== observed) {
      observer.disconnect();
      observer.observe(main, {subtree: true, childList: true, characterData: true, attributes: true});
      observed = main;
      changed = true;
    }
    // The text can only appear with a change, so an unchanged frame costs nothing (pages sit idle side by side).
    if (changed) {
      kf.lastChange = performance.now();
      changed = false;
      if (kf.expect !== null && kf.seenAt === null && main.textContent.includes(kf.expect)) {
        kf.seenAt = performance.now();
      }
    }
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})();"""
ARM = """expect => Object.assign(window.__kf, {inputs: [], messages: 0, closed: 0, expect: expect, seenAt: null})"""
# A lost connection ends the wait at once: the reading that follows reports it.
SETTLED = """([idle, quiet]) => {
  const kf = window.__kf, main = document.querySelector("[data-testid='stMain']");
  if (kf.closed) return true;
  const drawn = main && [...main.querySelectorAll("[data-testid='stPlotlyChart']")]
    .every(chart => chart.querySelector('.main-svg'));
  return Boolean(document.querySelector(idle) && drawn && kf.messages > 0 && (kf.expect === null || kf.seenAt !== null)
    && performance.now() - Math.max(kf.lastChange, kf.lastMessage) >= quiet);
}"""
READING = """() => ({input: window.__kf.inputs.at(-1) ?? null, seen: window.__kf.seenAt, last: window.__kf.lastChange,
  closed: window.__kf.closed, epoch: performance.timeOrigin + window.__kf.lastChange})"""


class MoveFailed(RuntimeError):
    """A move or page load that did not end in a settled page without errors."""


FAILURES = (MoveFailed, PlaywrightError)
"""What a session's failure raises: ours, or Playwright's for a page that crashed or an element that is gone."""


def why(error: Exception) -> str:
    return str(error).splitlines()[0]


@dataclass
class Move:
    first_change_ms: float | None
    """Key press to the expected text on screen; None for a move without one."""
    settled_ms: float


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


@dataclass
class SliderStep:
    """Slider `label` one step to the right with the keyboard, as a person does after clicking it."""
    label: str
    shows: Callable[[str, int, int], str] | None = None
    """(main text before the move, old value, new value) -> the text the page shows once it has updated."""

    def slider(self, page):
        # Streamlit's slider is a group named by the label around a range input (whose own name repeats it).
        return page.get_by_role("group", name=self.label, exact=True).get_by_role("slider")

    def expected(self, page) -> str | None:
        if self.shows is None:
            return None
        slider = self.slider(page)
        old = int(slider.input_value())
        new = old + int(slider.get_attribute("step"))
        # A chart can still be filling in its text after a second of quiet on a loaded machine: give it time.
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            try:
                return self.shows(main_text(page), old, new)
            except MoveFailed:
                if time.monotonic() > deadline:
                    raise
                time.sleep(POLL_S)

    def act(self, page) -> None:
        slider = self.slider(page)
        if float(slider.input_value()) >= float(slider.get_attribute("max")):
            raise MoveFailed(f"slider {self.label} is at its maximum: ask for fewer --moves")
        slider.press("ArrowRight")


@dataclass
class NextOption:
    """The option after the current one in selectbox `label` (cycling), picked with two clicks."""
    label: str

    def expected(self, page) -> None:
        return None

    def act(self, page) -> None:
        box = page.locator("[data-testid='stSelectbox']", has_text=self.label)
        current = box.get_by_role("combobox").input_value()
        box.get_by_role("combobox").click()
        options = page.get_by_role("option").all_inner_texts()
        following = options[(options.index(current) + 1) % len(options)]
        page.get_by_role("option", name=following, exact=True).click()


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
            moves[session] = timed(session.reading(), expected[session] is not None)
        except FAILURES as error:
            errors.append(why(error))
    return moves, errors


def move(session: Session, step) -> Move:
    """Make `step` in `session` and time it; fails if the page does not settle without errors."""
    moves, errors = move_together([session], step)
    if errors:
        raise MoveFailed(errors[0])
    return moves[session]


def timed(reading: dict, expects_text: bool) -> Move:
    if reading["input"] is None or reading["last"] <= reading["input"]:
        raise MoveFailed("the move made no input or changed nothing in the page")
    first = reading["seen"] - reading["input"] if expects_text else None
    return Move(first, reading["last"] - reading["input"])


@dataclass
class Control:
    name: str
    path: str
    """URL path and query of the page, after the server's address."""
    step: SliderStep | NextOption
    first_change_goal: float | None = None
    settled_goal: float | None = None
    server: str = "app"
    """Which server's page: "app", or "heatmap" for the bare heatmap page."""
    tab: str | None = None
    """Open the tab whose name contains this before measuring (a click, as a person does)."""
    prepare: SliderStep | None = None
    """An untimed move before each timed one, so that the timed one lands on a combination not seen before."""


def ff_dim_path(start: int) -> str:
    return f"{MIXING}?mix_ff_dim={start}"


def open_control(browser, urls: dict[str, str], control: Control) -> Session:
    session = open_session(browser, f"{urls[control.server]}/{control.path}")
    if control.tab:
        session.page.get_by_role("tab", name=re.compile(re.escape(control.tab))).first.click()
        if wait_settled([session]):
            raise MoveFailed(f"the {control.tab} tab of {control.path} did not settle")
    return session


def check_ff_dim_start(session: Session, start: int) -> None:
    """The link's ff_dim must have been taken up, or sessions would share values (and caches)."""
    value = int(SliderStep("ff_dim").slider(session.page).input_value())
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
        trivial_step = SliderStep("value", trivial_text)
        for round_ in range(moves + 1):  # round 0 warms up: first events and first layer builds off the clock
            for control in controls:
                session = sessions[control.name]
                if control.prepare:
                    move(session, control.prepare)
                trivial_move, control_move = move(trivial, trivial_step), move(session, control.step)
                if round_:
                    results[control.name][0].append(control_move)
                    results[control.name][1].append(trivial_move)
    finally:
        for session in [trivial, *sessions.values()]:
            session.close()
    return results


@dataclass
class UsersRun:
    first_change_ms: list[float]
    errors: list[str]
    completed: int
    attempted: int


def several_users(browser, url: str, users: int, rounds: int, first_ff_dim: int) -> UsersRun:
    """`users` sessions on the mixing page, each from its own ff_dim, all pressing ArrowRight at once, `rounds`
    times after one warm-up round. A session that fails to open or fails a move counts an error and stops."""
    starts = [first_ff_dim + user * (rounds + 2) for user in range(users)]
    if starts[-1] + rounds + 1 > MAX_FF_DIM:
        raise ValueError(f"{users} users x {rounds} rounds need more ff_dim values than the slider has")
    run = UsersRun([], [], 0, users * rounds)
    step = SliderStep("ff_dim", shape_text)
    sessions = []
    try:
        for start in starts:  # one after another: what is measured is the moves, not a crowd of first loads
            try:
                sessions.append(open_session(browser, f"{url}/{ff_dim_path(start)}"))
            except FAILURES as error:
                run.errors.append(why(error))
                continue
            check_ff_dim_start(sessions[-1], start)
        active = list(sessions)
        for round_ in range(rounds + 1):
            moves, errors = move_together(active, step)
            run.errors += errors
            active = list(moves)
            if round_:
                run.first_change_ms += [m.first_change_ms for m in moves.values()]
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
    return [
        Control("ff_dim (Feature & Temporal Mixing)", ff_dim_path(70), SliderStep("ff_dim", shape_text),
                first_change_goal=1.5, settled_goal=2.5),
        Control("flavour (Feature Mixers)", "Feature_Mixers", NextOption("flavour"), settled_goal=3.0,
                prepare=SliderStep("dropout")),
        Control("d_model (Token & Positional Embedding)", "Token_and_Positional_Embedding",
                SliderStep("d_model", shape_text), settled_goal=3.0),
        Control("dropout, Dropout tab open (Feature & Temporal Mixing)", MIXING, SliderStep("dropout"),
                settled_goal=3.0, tab="Dropout"),
        Control("a bare page redrawing one plotly heatmap (no goal)", "", SliderStep("value"), server="heatmap"),
    ]


def ms(value: float) -> str:
    return f"{value:.0f} ms"


def rows_for_controls(measured: dict[str, tuple[list[Move], list[Move]]]) -> list[tuple]:
    rows = []
    for control in controls():
        app, trivial = measured[control.name]
        if app[0].first_change_ms is not None:
            first = statistics.median(m.first_change_ms for m in app)
            trivial_first = statistics.median(m.first_change_ms for m in trivial)
            rows.append((f"first change: {control.name}", ms(first), ms(trivial_first), first / trivial_first,
                         control.first_change_goal))
        settled = statistics.median(m.settled_ms for m in app)
        trivial_settled = statistics.median(m.settled_ms for m in trivial)
        rows.append((f"settled: {control.name}", ms(settled), ms(trivial_settled), settled / trivial_settled,
                     control.settled_goal))
    return rows


def rows_for_users(run: UsersRun, users: int, one_user_p50: float, p95_goal: float | None) -> list[tuple]:
    reference = f"{ms(one_user_p50)} (1 user, p50)"
    rows = []
    if run.first_change_ms:
        p50, p95 = percentile(run.first_change_ms, 0.5), percentile(run.first_change_ms, 0.95)
        rows += [(f"{users} users moving ff_dim: first change p50", ms(p50), reference, p50 / one_user_p50, None),
                 (f"{users} users moving ff_dim: first change p95", ms(p95), reference, p95 / one_user_p50, p95_goal)]
    rows.append((f"{users} users moving ff_dim: errors ({run.completed} of {run.attempted} moves completed)",
                 str(len(run.errors)), "", None, "no errors"))
    return rows


def table(rows: list[tuple], header: str) -> tuple[str, bool]:
    lines = [header, "", "| what | app | trivial page (or reference) | ratio | goal | result |",
             "|---|---|---|---|---|---|"]
    ok = True
    for name, app, reference, ratio, goal in rows:
        shown_ratio = "" if ratio is None else f"{ratio:.2f}"
        if goal is None:
            result, shown_goal = "", ""
        elif goal == "no errors":
            met, shown_goal = app == "0", "0"
            result = "PASS" if met else "FAIL"
        else:
            met, shown_goal = ratio <= goal, f"<= {goal:g}x"
            result = "PASS" if met else "FAIL"
        ok &= result != "FAIL"
        lines.append(f"| {name} | {app} | {reference} | {shown_ratio} | {shown_goal} | {result} |")
    return "\n".join(lines), ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=7, help="timed moves per control (default 7)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds of the several-users runs (default 5)")
    parser.add_argument("--starts", type=int, default=3, help="timed starts per app (default 3)")
    parser.add_argument("--replicas", type=int, default=0,
                        help="serve every app from this many replicas behind nginx (default 0: served directly)")
    parser.add_argument("--markdown", type=Path, help="where to write the table (default benchmarks/results/"
                        "bench_latency.md, or bench_latency_<N>_replicas.md with --replicas)")
    args = parser.parse_args()
    if not 1 <= args.moves <= 14:
        parser.error("--moves must be between 1 and 14 (the dropout sliders have 16 steps above their default)")
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
                         app_start / trivial_start, 2.0))
            with (serve(trivial_script, args.replicas) as (trivial_url, _),
                  serve(heatmap_script, args.replicas) as (heatmap_url, _),
                  serve(ROOT / "app.py", args.replicas) as (app_url, _)):
                urls = {"app": app_url, "trivial": trivial_url, "heatmap": heatmap_url}
                measured = measure_controls(browser, urls, controls(), args.moves)
                rows += rows_for_controls(measured)
                one_user_p50 = statistics.median(m.first_change_ms for m in measured[controls()[0].name][0])
                four = several_users(browser, app_url, 4, args.rounds, first_four_users)
                rows += rows_for_users(four, 4, one_user_p50, 4.0)
                eight = several_users(browser, app_url, 8, args.rounds, first_eight_users)
                rows += rows_for_users(eight, 8, one_user_p50, None)
        finally:
            browser.close()

    served = f"{args.replicas} replicas behind nginx" if args.replicas else "one server each"
    header = (f"Measured {datetime.datetime.now().isoformat(timespec='minutes')} on {machine()}; {served}; medians "
              f"of {args.starts} starts and {args.moves} moves per control, several users over {args.rounds} "
              f"rounds; Debian chromium (headless) through Playwright.")
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
