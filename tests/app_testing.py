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


def html_pictures(body: str) -> list[np.ndarray]:
    """The PNG pictures inlined in a piece of the app's HTML, as (height, width, 3) RGB arrays, in order."""
    encoded = re.findall(r'src="data:image/png;base64,([^"]+)"', body)
    return [np.asarray(Image.open(BytesIO(base64.b64decode(png))).convert("RGB")) for png in encoded]


def scrub_payload(at: AppTest, control: str) -> dict:
    """The data the page sent to its scrub component for `control` (AppTest cannot run the component's JS)."""
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
