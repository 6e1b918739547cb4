"""The home page's time column control, through streamlit.testing: the detected default, none, another column.

The uploads are small files shaped like public data sets (the Nile's yearly flow, yearly sunspots, weekly
CO2 readings with YYYYMMDD dates, quarterly US macro data with year and quarter columns).
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from app_testing import page_figures, plotly_array, run
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
HOME_TIMEOUT = 120  # the home page loads no layer
LAYER_TIMEOUT = 180  # a layer page's first run imports TensorFlow on a loaded 2-core machine
MIXING = "pages/1_Feature_and_Temporal_Mixing.py"
NONE = "none: number the rows"


def _app(timeout: int = HOME_TIMEOUT) -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)


def _csv(header: str, rows) -> bytes:
    return (header + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows)).encode()


NILE_FLOW = np.random.default_rng(0).integers(456, 1370, size=100)
NILE = _csv("year,flow", zip(range(1871, 1971), NILE_FLOW))
SUNSPOTS = _csv('"YEAR","SUNACTIVITY"', ((f"{year}.0", f"{(year * 7) % 190}.0") for year in range(1700, 1800)))
CO2_DAYS = pd.date_range("1958-03-29", periods=80, freq="7D")
CO2 = _csv("date,co2", ((f"{day:%Y%m%d}", 316 + i / 10) for i, day in enumerate(CO2_DAYS)))
QUARTERS = pd.date_range("1959-01-01", periods=60, freq="QS")
MACRO = _csv("year,quarter,realgdp,realcons",
             ((f"{q.year}.0", f"{q.quarter}.0", 2700 + i, 1700 + i / 2) for i, q in enumerate(QUARTERS)))


def _upload(at: AppTest, name: str, content: bytes) -> AppTest:
    at.radio(key="source").set_value("upload")
    run(at)
    at.file_uploader[0].set_value((name, content, "text/csv"))
    return run(at)


def _unescaped(text: str) -> str:
    """Markdown text as the user reads it (the page escapes punctuation that could be markup)."""
    return re.sub(r"\\(.)", r"\1", text)


def _notes(at: AppTest) -> list[str]:
    """The loader's notes on the page (one warning box, a note a line)."""
    return [note for box in at.warning for note in _unescaped(box.value).split("  \n")]


def _preview(at: AppTest) -> list[dict]:
    return page_figures(at)["preview"]["data"]


@pytest.mark.parametrize("name, content, time_column, options, series, first_stamps, note", [
    ("nile.csv", NILE, "year", [NONE, "year (detected)", "flow"], ["flow"], ["1871-01-01", "1872-01-01"],
     'Column "year" holds years, so it became the time index (each year dated 1 January) instead of a series.'),
    ("sunspots.csv", SUNSPOTS, "YEAR", [NONE, "YEAR (detected)", "SUNACTIVITY"], ["SUNACTIVITY"],
     ["1700-01-01", "1701-01-01"], 'Column "YEAR" holds years, so it became the time index'),
    ("co2.csv", CO2, "date", [NONE, "date (detected)", "co2"], ["co2"], ["1958-03-29", "1958-04-05"],
     'Column "date" holds dates written as YYYYMMDD numbers, so it became the time index instead of a series.'),
    ("macro.csv", MACRO, "year", [NONE, "year (detected)", "quarter", "realgdp", "realcons"],
     ["realgdp", "realcons"], ["1959-01-01", "1959-04-01"],
     'Columns "year" and "quarter" hold years and quarters, so together they became the time index'),
])
def test_the_detected_time_column_is_the_default(name, content, time_column, options, series, first_stamps, note):
    at = _upload(run(_app()), name, content)
    control = at.selectbox(key="time_column")
    assert control.value == time_column and control.options == options
    assert at.multiselect(key="series").options == series
    preview = _preview(at)
    assert [trace["name"] for trace in preview] == series
    assert [stamp[:10] for stamp in preview[0]["x"][:2]] == first_stamps
    assert any(text.startswith(note) for text in _notes(at)), _notes(at)
    assert at.query_params["time_column"] == time_column


def test_none_brings_the_year_back_as_a_series_over_row_numbers():
    at = _upload(run(_app()), "nile.csv", NILE)
    at.selectbox(key="time_column").set_value("")
    run(at)
    assert at.multiselect(key="series").options == ["year", "flow"]
    assert at.query_params["time_column"] == ""
    at.multiselect(key="series").set_value(["year", "flow"])
    run(at)
    year, flow = _preview(at)
    assert (year["name"], flow["name"]) == ("year", "flow")
    np.testing.assert_array_equal(plotly_array(year["y"]), np.arange(1871, 1971))
    np.testing.assert_array_equal(plotly_array(flow["y"]), NILE_FLOW)
    np.testing.assert_array_equal(plotly_array(year["x"]), np.arange(100))  # rows numbered from 0
    assert not any("time index" in note for note in _notes(at))
    assert any("(16, 32, 2)" in el.value for el in at.markdown)
    assert at.query_params["series"] == ["year", "flow"]


def test_a_column_that_cannot_be_the_time_index_is_explained_and_the_data_stays():
    at = _upload(run(_app()), "nile.csv", NILE)
    at.selectbox(key="time_column").set_value("flow")
    run(at)
    assert [_unescaped(e.value) for e in at.error] == [
        'Column "flow" cannot be the time index because its values do not increase from row to row; a time column '
        "holds dates, or years, YYYYMM months or YYYYMMDD dates as whole numbers that increase row by row."]
    assert [_unescaped(i.value) for i in at.info] == ['The data stays as first read, with "year" as the time column.']
    assert at.multiselect(key="series").options == ["flow"]
    (flow,) = _preview(at)
    assert flow["x"][0].startswith("1871-01-01")
    assert at.query_params["time_column"] == "flow"  # the link shows the same view, explanation included


def test_a_new_file_starts_from_its_own_detected_time_column():
    at = _upload(run(_app()), "nile.csv", NILE)
    at.selectbox(key="time_column").set_value("")
    run(at)
    _upload(at, "sunspots.csv", SUNSPOTS)
    assert at.selectbox(key="time_column").value == "YEAR"
    assert at.query_params["time_column"] == "YEAR"
    assert [trace["name"] for trace in _preview(at)] == ["SUNACTIVITY"]


def test_a_link_opens_the_sample_with_its_time_column_setting():
    at = _app()
    at.query_params.update({"sample": "us_macro", "time_column": ""})
    run(at)
    assert at.selectbox(key="time_column").value == ""
    assert _notes(at) == ['Column "date" holds dates, but no time column was chosen, so it was dropped.']
    np.testing.assert_array_equal(plotly_array(_preview(at)[0]["x"])[:3], [0, 1, 2])
    at.selectbox(key="time_column").set_value("date")
    run(at)
    assert _notes(at) == [] and _preview(at)[0]["x"][0].startswith("1959-01-01")
    assert at.query_params["time_column"] == "date"


def test_a_link_naming_a_column_that_is_not_time_explains_it():
    at = _app()
    at.query_params.update({"sample": "us_macro", "time_column": "realgdp"})
    run(at)
    assert at.selectbox(key="time_column").value == "realgdp"
    assert len(at.error) == 1
    assert _unescaped(at.error[0].value).startswith('Column "realgdp" cannot be the time index because not all of '
                                                     "its values are whole numbers")
    assert _preview(at)[0]["x"][0].startswith("1959-01-01")


def test_a_link_naming_a_column_the_data_lacks_falls_back_to_the_detected_one():
    at = _app()
    at.query_params.update({"sample": "us_macro", "time_column": "no such column"})
    run(at)
    assert at.selectbox(key="time_column").value == "date" and not at.error
    assert at.query_params["time_column"] == "date"


def test_the_choice_is_remembered_across_pages():
    at = _upload(run(_app(LAYER_TIMEOUT)), "nile.csv", NILE)
    at.selectbox(key="time_column").set_value("")
    run(at)
    at.multiselect(key="series").set_value(["year", "flow"])
    run(at)
    run(at.switch_page(MIXING))
    assert "Batch shape (windows, time steps, series): (16, 32, 2)" in [c.value for c in at.caption]
    run(at.switch_page("app.py"))
    assert at.selectbox(key="time_column").value == ""
    assert at.multiselect(key="series").value == ["year", "flow"]
