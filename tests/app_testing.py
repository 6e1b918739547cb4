"""Helpers for driving the app with Streamlit's AppTest and reading its plotly figures."""

import base64
import json
import re
from io import BytesIO

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

US_MACRO_FIRST_SEVEN = ["realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1"]
"""The series the default batch holds (the first seven of the default sample)."""


def run(at: AppTest) -> AppTest:
    """Run the app and fail with the exceptions' messages if any were raised."""
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def caption_texts(at: AppTest) -> list[str]:
    """The page's captions as a reader sees them (the app escapes markdown in text shown as typed)."""
    return [re.sub(r"\\(.)", r"\1", caption.value) for caption in at.caption]


def page_figures(at: AppTest) -> dict[str, dict]:
    """Every plotly figure on the page, by the key the page gave it."""
    return {el.key: json.loads(el.proto.spec) for el in at.get("plotly_chart")}


def plotly_array(value) -> np.ndarray:
    """A plotly JSON array as numpy (plotly sends numpy data as base64 typed arrays)."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = [int(n) for n in str(value.get("shape", flat.size)).split(",")]
        return flat.reshape(shape)
    return np.asarray(value, dtype=float)


def open_tab(at: AppTest, key: str, label: str) -> dict[str, dict]:
    """Open tab `label` of the page's tab set `key`, rerun, and return the figures it shows.

    Only the open tab of a layer page runs, so its figures exist only while it is open.
    """
    at.session_state[key] = label
    return page_figures(run(at))


def tab_figures(at: AppTest, key: str, labels: list[str]) -> dict[str, dict]:
    """The figures of several tabs of tab set `key`, opened in turn; the last one stays open."""
    figures = {}
    for label in labels:
        figures.update(open_tab(at, key, label))
    return figures


_STAGE_BOX = re.compile(r'<b>([^<]*)</b><br><span class="kf-shape">([^<]*)</span><br>([^<]*)')


def pipeline_texts(at: AppTest, index: int = 0) -> list[str]:
    """The boxes of the page's `index`-th pipeline as "<b>name</b><br>shape<br>weights", in data-flow order."""
    body = at.get("html")[index].proto.body
    return [f"<b>{name}</b><br>{shape}<br>{weights}" for name, shape, weights in _STAGE_BOX.findall(body)]


def pipeline_total(at: AppTest, index: int = 0) -> int | None:
    """The weight count of the layer that the page's `index`-th pipeline states under its boxes (None: none stated)."""
    found = re.search(r'data-testid="kf-pipeline-total"[^>]*>([^<]*)</div>', at.get("html")[index].proto.body)
    if found is None:
        return None
    text = found.group(1)
    return 0 if text.startswith("This layer has no weights") else int(text.split()[0].replace(",", ""))


def box_weights(text: str) -> int:
    """The weight count of one `pipeline_texts` box."""
    count = text.rsplit("<br>", 1)[1]
    return 0 if count == "no weights" else int(count.split()[0].replace(",", ""))


def html_pictures(body: str) -> list[np.ndarray]:
    """The PNG pictures inlined in a piece of the app's HTML, as (height, width, 3) RGB arrays, in order."""
    encoded = re.findall(r'src="data:image/png;base64,([^"]+)"', body)
    return [np.asarray(Image.open(BytesIO(base64.b64decode(png))).convert("RGB")) for png in encoded]


_HELD: dict[tuple, dict] = {}
"""(id of an AppTest, range id) -> the frames a browser would hold, as scrub.js keeps them across payloads."""


def scrub_payload(at: AppTest, control: str) -> dict:
    """The data the page sent to its scrub component for `control`, with every frame of its range sent so far.

    AppTest cannot run the component's JS, so this does what it does: keep the frames of each payload, and
    when a payload names frames as sent that it never saw (runs this helper did not look at), forget what the
    session sent (as a `resend` trigger without a list of missing frames does) and run once more.
    """
    data = _scrub_data(at, control)
    held = _HELD.setdefault((id(at), data["range_id"]), {})
    if any(label not in held for label in data["held"]):
        for key in [key for key in at.session_state if key.startswith("_kf_sent_")]:
            del at.session_state[key]
        data = _scrub_data(run(at), control)
        assert data["held"] == [], "a resend must send the whole range"
    held.update(data["frames"])
    return {**data, "frames": dict(held)}


def _scrub_data(at: AppTest, control: str) -> dict:
    payloads = [json.loads(element.proto.json) for element in at.get("bidi_component")]
    found = [data for data in payloads if data.get("control") == control]
    assert found, f"no scrub component for {control}; the page has {[p.get('control') for p in payloads]}"
    return found[0]


def scrub_box_texts(at: AppTest, control: str) -> list[str]:
    """The scrub component's boxes for the current value as pipeline_texts gives them: name, shape, weights."""
    data = scrub_payload(at, control)
    frame = data["frames"][data["value"]]
    return [f"<b>{box['name']}</b><br>({', '.join(str(d) for d in box['shape'])})<br>"
            + (f"{box['params']:,} weights" if box["params"] else "no weights") for box in frame["boxes"]]
