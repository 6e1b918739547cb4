"""load_csv on a corpus of odd files: each keeps the whole contract and its specific promise."""

import bz2
import gzip
import io
import re
import zipfile

import numpy as np
import pandas as pd
import pytest
from data_contract import assert_clean_refusal, assert_contract

from explorer.data import MAX_BYTES, MAX_COLUMNS, MAX_ROWS, DataError, load_csv
from explorer.data import loader

PLAIN = "date,a,b\n2024-01-01,1.5,10\n2024-01-02,2.5,20\n2024-01-03,3.5,30\n"


def load(text_or_bytes, **kwargs):
    raw = text_or_bytes.encode("utf-8") if isinstance(text_or_bytes, str) else text_or_bytes
    df = load_csv(raw, **kwargs)
    assert_contract(df)
    return df


def refuse(raw, match):
    with pytest.raises(DataError, match=match) as caught:
        load_csv(raw)
    assert_clean_refusal(caught.value)
    return str(caught.value)


def warnings_of(df):
    return " ".join(df.attrs["warnings"])


def assert_plain(df):
    """PLAIN read correctly, whatever its encoding or layout."""
    assert list(df.columns) == ["a", "b"]
    assert list(df.index) == list(pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]))
    assert df.index.name == "date"
    np.testing.assert_array_equal(df["a"].to_numpy(), np.float32([1.5, 2.5, 3.5]))
    np.testing.assert_array_equal(df["b"].to_numpy(), np.float32([10, 20, 30]))


# --- delimiters, encodings, line endings -------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(delimiter):
    df = load(PLAIN.replace(",", delimiter))
    assert_plain(df)
    assert df.attrs["warnings"] == []


def test_semicolon_file_with_decimal_commas():
    df = load("date;a;b\n2024-01-01;1,5;10\n2024-01-02;2,5;20\n2024-01-03;3,5;30\n")
    assert_plain(df)


def test_crlf_and_lone_cr_line_endings():
    assert_plain(load(PLAIN.replace("\n", "\r\n")))
    assert_plain(load(PLAIN.replace("\n", "\r")))


def test_utf8_bom_is_not_part_of_the_first_name():
    df = load(b"\xef\xbb\xbf" + PLAIN.encode())
    assert_plain(df)
    assert df.attrs["warnings"] == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_with_or_without_bom(encoding):
    assert_plain(load(PLAIN.encode(encoding)))


def test_latin1_text_is_decoded_and_reported():
    text = "date,température,b\n2024-01-01,1.5,10\n2024-01-02,2.5,20\n2024-01-03,3.5,30\n"
    df = load(text.encode("latin-1"))
    assert list(df.columns) == ["température", "b"]
    assert "not UTF-8" in warnings_of(df)


def test_non_utf8_byte_after_the_sniffed_start_falls_back_to_a_legacy_encoding():
    rows = "".join(f"{i},{i * 0.5}\n" for i in range(20_000))
    raw = ("n,value\n" + rows).encode() + "1,2\n".encode() + "9,ñ\n".encode("latin-1")
    assert len(raw) > 70_000
    df = load(raw)
    assert len(df) == 20_002
    assert "Windows-1252" in warnings_of(df)


def test_multibyte_character_across_the_sniffing_boundary_stays_utf8():
    header = "a,t" + "t" * 1529 + "\n"
    prefix = header + "1,x\n" * 16_000
    raw = (prefix + "2,é\n").encode("utf-8")
    assert raw.index("é".encode()) == 65_535  # first byte inside the sniffed 64 KiB, second outside
    df = load(raw)
    assert "not UTF-8" not in warnings_of(df)
    assert len(df) == 16_001


# --- values ------------------------------------------------------------------------------


def test_quoted_numbers_are_numbers():
    df = load('a,b\n"1.5","2"\n"3",4\n')
    np.testing.assert_array_equal(df.to_numpy(), np.float32([[1.5, 2], [3, 4]]))
    assert df.attrs["warnings"] == []


def test_quoted_thousands_separators_are_read():
    df = load('a,b\n"1,234.5",1\n"12,000",2\n')
    np.testing.assert_array_equal(df["a"].to_numpy(), np.float32([1234.5, 12000]))


def test_missing_values_are_filled_forward_then_backward_and_counted():
    df = load("a,b\n,1\n2,NA\n,NaN\n4,null\n5,6\n")
    np.testing.assert_array_equal(df["a"].to_numpy(), np.float32([2, 2, 2, 4, 5]))
    np.testing.assert_array_equal(df["b"].to_numpy(), np.float32([1, 1, 1, 1, 6]))
    assert '5 missing values in columns "a", "b" were filled' in warnings_of(df)


def test_infinities_become_missing_and_are_reported():
    df = load("a\n1\ninf\n-inf\n4\n")
    np.testing.assert_array_equal(df["a"].to_numpy(), np.float32([1, 1, 1, 4]))
    assert "2 infinite values were treated as missing." in df.attrs["warnings"]


def test_values_beyond_float32_are_clipped_and_reported():
    df = load("a\n1e300\n-1e39\n2\n")
    big = np.finfo(np.float32).max
    np.testing.assert_array_equal(df["a"].to_numpy(), np.float32([big, -big, 2]))
    assert "2 values were beyond the 32-bit float range" in warnings_of(df)


def test_mixed_type_column_keeps_its_numbers():
    df = load("a,b\n1,x\n2,y\nabc,z\n4,w\n")
    np.testing.assert_array_equal(df["a"].to_numpy(), np.float32([1, 2, 2, 4]))
    text = warnings_of(df)
    assert "1 value in column \"a\" is not a number (for example 'abc')" in text
    assert 'Column "b" holds text, not numbers, and was dropped.' in text


def test_boolean_column_becomes_zero_and_one():
    np.testing.assert_array_equal(load("a\nTrue\nFalse\n")["a"].to_numpy(), np.float32([1, 0]))


def test_empty_column_is_dropped_and_reported():
    df = load("a,empty,b\n1,,2\n3,,4\n")
    assert list(df.columns) == ["a", "b"]
    assert 'Column "empty" has no usable values and was dropped.' in df.attrs["warnings"]


def test_trailing_delimiter_on_every_row_adds_no_column():
    df = load("a,b,\n1,2,\n3,4,\n")
    assert list(df.columns) == ["a", "b"]


def test_rows_with_too_many_fields_are_skipped_and_counted():
    df = load("a,b\n1,2\n3,4,5\n6,7\n8,9\n")
    np.testing.assert_array_equal(df["a"].to_numpy(), np.float32([1, 6, 8]))
    assert "1 row had more values than the header has columns and was skipped." in df.attrs["warnings"]


def test_short_rows_are_padded_with_missing_values():
    df = load("a,b\n1,2\n3\n5,6\n")
    np.testing.assert_array_equal(df["b"].to_numpy(), np.float32([2, 2, 6]))


# --- names -------------------------------------------------------------------------------


def test_duplicate_names_are_made_unique():
    df = load("a,a,b,a_2\n1,2,3,4\n")
    assert list(df.columns) == ["a", "a_3", "b", "a_2"]
    assert 'Some columns shared a name, so they were renamed: "a" became "a_3".' in df.attrs["warnings"]


def test_unnamed_index_column_from_pandas_is_dropped():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]})
    df = load(frame.to_csv())
    assert list(df.columns) == ["a", "b"]
    assert "The first column had no name and only numbered the rows, so it was dropped." in df.attrs["warnings"]


def test_unnamed_first_column_with_data_is_kept_under_a_position_name():
    df = load(",a\n5,1\n9,2\n")
    assert list(df.columns) == ["column_1", "a"]


def test_names_that_look_like_html_or_formulas_are_kept_as_plain_text():
    names = ["<script>alert(1)</script>", "=SUM(A1:A2)", "+cmd|' /C calc'!A0", "@user", "<b>bold</b>"]
    header = ",".join('"' + n.replace('"', '""') + '"' for n in names)
    df = load(header + "\n" + ",".join(["1"] * len(names)) + "\n")
    assert list(df.columns) == names


def test_names_with_newlines_and_extreme_length_are_tidied():
    long_name = "x" * 150
    df = load(f'"two\nlines",{long_name}\n1,2\n')
    assert df.columns[0] == "two lines"
    assert df.columns[1] == "x" * 99 + "…"
    assert "1 column name was longer than 100 characters and shortened." in df.attrs["warnings"]


def test_headerless_numeric_file_gets_position_names():
    df = load("1,2\n3,4\n")
    assert list(df.columns) == ["column_1", "column_2"]
    assert len(df) == 2


# --- time index --------------------------------------------------------------------------


def test_unsorted_timestamps_are_sorted():
    df = load("date,a\n2024-01-03,3\n2024-01-01,1\n2024-01-02,2\n")
    np.testing.assert_array_equal(df["a"].to_numpy(), np.float32([1, 2, 3]))
    assert 'Rows were not in time order, so they were sorted by "date".' in df.attrs["warnings"]


def test_duplicate_timestamps_are_averaged():
    df = load("time,a\n2024-01-01,1\n2024-01-02,2\n2024-01-01,5\n")
    assert len(df) == 2
    np.testing.assert_array_equal(df["a"].to_numpy(), np.float32([3, 2]))
    assert "1 row repeated an earlier timestamp" in warnings_of(df)


def test_rows_without_a_readable_date_are_dropped():
    df = load("date,a\n2024-01-01,1\nnot a date,2\n2024-01-03,3\n2024-01-04,4\n2024-01-05,5\n")
    np.testing.assert_array_equal(df["a"].to_numpy(), np.float32([1, 3, 4, 5]))
    assert '1 row had no readable date in "date" and was dropped.' in df.attrs["warnings"]


def test_dates_in_other_formats_and_time_zones():
    df = load("when,a\n01/02/2024 10:00,1\n01/03/2024 10:00,2\n")
    assert list(df.index) == list(pd.to_datetime(["2024-01-02 10:00", "2024-01-03 10:00"]))
    df = load("t,a\n2024-01-01T00:00:00+02:00,1\n2024-01-01T00:00:00+00:00,2\n")
    assert list(df.index) == list(pd.to_datetime(["2023-12-31 22:00", "2024-01-01 00:00"]))


def test_date_column_does_not_have_to_come_first_and_extra_date_columns_are_dropped():
    df = load("a,stamp,other\n1,2024-01-01,2023-05-05\n2,2024-01-02,2023-05-06\n")
    assert df.index.name == "stamp" and list(df.columns) == ["a"]
    assert 'Column "other" also holds dates; only "stamp" is used as the time index' in warnings_of(df)


def test_without_dates_the_index_is_a_range():
    df = load("a,b\n1,2\n3,4\n")
    assert isinstance(df.index, pd.RangeIndex)


# --- shapes ------------------------------------------------------------------------------


def test_single_row():
    df = load("a,b\n1,2\n")
    assert df.shape == (1, 2)


def test_single_column():
    np.testing.assert_array_equal(load("a\n1\n2\n")["a"].to_numpy(), np.float32([1, 2]))


def test_very_wide_file():
    n = 3000
    header = ",".join(f"s{i}" for i in range(n))
    rows = "\n".join(",".join(str(r * n + i) for i in range(n)) for r in range(4))
    df = load(header + "\n" + rows + "\n")
    assert df.shape == (4, n)
    assert df.iloc[3, n - 1] == np.float32(4 * n - 1)


# --- sources -----------------------------------------------------------------------------


def test_path_file_like_and_text_file_like_sources(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text(PLAIN)
    for source in (path, str(path)):
        df = load_csv(source)
        assert_contract(df)
        assert_plain(df)
        assert df.attrs["source"] == "plain.csv"
    stream = io.BytesIO(PLAIN.encode())
    stream.read()  # an uploader may hand over a stream that was already read
    stream.name = "upload.csv"
    df = load_csv(stream)
    assert_plain(df)
    assert df.attrs["source"] == "upload.csv"
    assert_plain(load_csv(io.StringIO(PLAIN)))
    assert load_csv(PLAIN.encode(), name="mine").attrs["source"] == "mine"


def test_missing_path_directory_and_wrong_type_are_refused(tmp_path):
    refuse_path = lambda source, match: pytest.raises(DataError, match=match)  # noqa: E731
    with refuse_path(None, "No file was found"):
        load_csv(tmp_path / "nope.csv")
    with refuse_path(None, "is a folder, not a file"):
        load_csv(tmp_path)
    with refuse_path(None, "Cannot read data from a int"):
        load_csv(42)


# --- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", b"   \n\t\r\n  ", b"\n\n\n"])
def test_empty_or_whitespace_only(raw):
    refuse(raw, "The file is empty")


def test_header_without_rows():
    refuse(b"a,b,c\n", "has a header but no data rows")


def test_no_numeric_column():
    refuse(b"name,city\nann,paris\nbob,rome\n", "No column in this file holds numbers")
    refuse(b"date\n2024-01-01\n2024-01-02\n", "No column in this file holds numbers")


@pytest.mark.parametrize(
    "raw, match",
    [
        (gzip.compress(PLAIN.encode()), "gzip-compressed"),
        (bz2.compress(PLAIN.encode()), "bzip2-compressed"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "PNG image"),
        (b"%PDF-1.7\n" + bytes(range(256)), "PDF document"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "Excel .xls"),
        (bytes(range(256)) * 8, "does not look like text"),
        (b"a,b\n1,2\x00\x00\x003\n", "does not look like text"),
    ],
)
def test_binary_and_compressed_bytes(raw, match):
    refuse(raw, match)


def test_zip_archive():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.csv", PLAIN)
    refuse(buffer.getvalue(), "zip archive")


def test_unclosed_quote():
    refuse(b'a,b\n"1,2\n3,4\n', "quote mark")


def test_limits_are_named_constants_with_clear_messages(monkeypatch, tmp_path):
    assert MAX_BYTES == 200 * 1024 * 1024 and MAX_ROWS > 1_000_000 and MAX_COLUMNS >= 1000
    monkeypatch.setattr(loader, "MAX_COLUMNS", 3)
    refuse(b"a,b,c,d\n1,2,3,4\n", "4 columns, more than the 3 allowed")
    monkeypatch.setattr(loader, "MAX_ROWS", 3)
    refuse(b"a\n1\n2\n3\n4\n", "more than 3 rows")
    assert len(load("a\n1\n2\n3\n")) == 3
    monkeypatch.setattr(loader, "MAX_BYTES", 10)
    refuse(b"a\n1\n2\n3\n4\n5\n", "larger than")
    path = tmp_path / "big.csv"
    path.write_bytes(b"a\n1\n2\n3\n4\n5\n")
    with pytest.raises(DataError, match="larger than"):
        load_csv(path)


# --- preambles, hints and layouts seen in exported files ------------------------------------


def test_title_lines_before_the_table_are_skipped():
    df = load("Exported from SomeTool\n\nSensor report 2024\n" + PLAIN)
    assert_plain(df)
    assert "The first 2 lines did not look like part of the table and were skipped." in df.attrs["warnings"]


def test_excel_separator_hint_line():
    assert_plain(load("sep=;\n" + PLAIN.replace(",", ";")))


def test_columns_separated_by_runs_of_spaces():
    df = load("a    b\n  1.5   10\n2.5 20\n")
    assert list(df.columns) == ["a", "b"]
    np.testing.assert_array_equal(df.to_numpy(), np.float32([[1.5, 10], [2.5, 20]]))


def test_header_longer_than_the_sniffing_sample():
    n = 9000  # names of 10+ characters: the header alone is far beyond 64 KiB
    header = ",".join(f"sensor_{i:05d}" for i in range(n))
    df = load(header + "\n" + ",".join(["1"] * n) + "\n" + ",".join(["2"] * n) + "\n")
    assert df.shape == (2, n) and df.columns[-1] == f"sensor_{n - 1:05d}"


def test_more_columns_than_allowed_even_when_the_header_is_huge():
    header = ",".join(f"sensor_{i:05d}" for i in range(MAX_COLUMNS + 1))
    raw = (header + "\n" + ",".join(["1"] * (MAX_COLUMNS + 1)) + "\n").encode()
    refuse(raw, "more than the 10,000 allowed")


def test_csv_text_passed_as_a_path_gets_a_hint():
    with pytest.raises(DataError, match=r"pass the CSV content as bytes instead \(for example text.encode\(\)\)"):
        load_csv(PLAIN)
    with pytest.raises(DataError, match=r"The file '/x{78}…' cannot be read; check the path\."):
        load_csv("/" + "x" * 300)  # too long for a file name; the message shows it shortened


# --- time held as numbers or period codes (shaped like public data sets) ------------------


def _csv(header, rows):
    return header + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows)


def _flows(n, seed=0):
    return np.random.default_rng(seed).integers(456, 1370, size=n)


def test_integer_year_column_becomes_the_index():
    flows = _flows(100)
    df = load(_csv("year,flow", zip(range(1871, 1971), flows)))  # the Nile's annual flow
    assert list(df.columns) == ["flow"] and df.index.name == "year"
    assert list(df.index) == [pd.Timestamp(year, 1, 1) for year in range(1871, 1971)]
    np.testing.assert_array_equal(df["flow"].to_numpy(), flows.astype(np.float32))
    assert df.attrs["warnings"] == [
        'Column "year" holds years, so it became the time index (each year dated 1 January) instead of a series.']
    assert df.attrs["time_column"] == "year" and df.attrs["file_columns"] == ["year", "flow"]


def test_upper_case_year_written_as_decimals_becomes_the_index():
    rows = [(f"{year}.0", f"{(year * 7) % 190}.0") for year in range(1700, 1989)]  # yearly sunspot counts
    df = load(_csv('"YEAR","SUNACTIVITY"', rows))
    assert list(df.columns) == ["SUNACTIVITY"] and df.index.name == "YEAR"
    assert df.index[0] == pd.Timestamp("1700-01-01") and df.index[-1] == pd.Timestamp("1988-01-01")
    assert 'Column "YEAR" holds years' in warnings_of(df)


def test_yyyymmdd_integers_become_the_index():
    days = pd.date_range("1958-03-29", periods=150, freq="7D")  # weekly CO2 readings
    df = load(_csv("date,co2", ((f"{day:%Y%m%d}", 316 + i / 100) for i, day in enumerate(days))))
    assert list(df.columns) == ["co2"]
    assert list(df.index) == list(days)
    assert df.attrs["warnings"] == [
        'Column "date" holds dates written as YYYYMMDD numbers, so it became the time index instead of a series.']


def test_yyyymm_integers_become_the_index():
    months = pd.date_range("1926-07-01", periods=30, freq="MS")
    df = load(_csv("date,returns", ((f"{month:%Y%m}", i % 5 - 2) for i, month in enumerate(months))))
    assert list(df.index) == list(months) and list(df.columns) == ["returns"]
    assert 'Column "date" holds months written as YYYYMM numbers, so it became the time index (each month dated ' \
           "by its first day) instead of a series." in df.attrs["warnings"]


def test_year_and_quarter_columns_together_become_the_index():
    quarters = pd.date_range("1959-01-01", periods=203, freq="QS")  # the US macro data's layout
    rows = ((f"{q.year}.0", f"{q.quarter}.0", 2700 + i, 28 + i / 10) for i, q in enumerate(quarters))
    df = load(_csv("year,quarter,realgdp,cpi", rows))
    assert list(df.columns) == ["realgdp", "cpi"]
    assert list(df.index) == list(quarters) and df.index.name == "year"
    assert df.attrs["warnings"] == [
        'Columns "year" and "quarter" hold years and quarters, so together they became the time index '
        "(each quarter dated by its first day) instead of series."]


def test_year_and_month_columns_together_become_the_index():
    months = pd.date_range("2000-01-01", periods=40, freq="MS")
    df = load(_csv("Year,Month,orders", ((m.year, m.month, 90 + i) for i, m in enumerate(months))))
    assert list(df.index) == list(months) and list(df.columns) == ["orders"]
    assert 'Columns "Year" and "Month" hold years and months' in warnings_of(df)


@pytest.mark.parametrize("spelling, first, second", [
    ("{y}Q{q}", "1974Q1", "1974Q2"),
    ("{y}-Q{q}", "1974-Q1", "1974-Q2"),
    ("{y} Q{q}", "1974 Q1", "1974 Q2"),
    ("Q{q} {y}", "Q1 1974", "Q2 1974"),
    ("{y}:Q{q}", "1974:Q1", "1974:Q2"),
])
def test_quarters_in_several_spellings_become_the_index(spelling, first, second):
    quarters = pd.date_range("1974-01-01", periods=12, freq="QS")
    codes = [spelling.format(y=q.year, q=q.quarter) for q in quarters]
    assert codes[:2] == [first, second]
    df = load(_csv("period,m2", ((code, i) for i, code in enumerate(codes))))  # like the Danish money data
    assert list(df.index) == list(quarters) and list(df.columns) == ["m2"]
    assert df.attrs["warnings"] == []  # a text column read as time was never a series: nothing to report


@pytest.mark.parametrize("spelling", ["%b-%-d-%Y", "%Y-%m", "%YM%m", "%b %Y", "%B %Y", "%Y-%m-%d"])
def test_months_in_several_spellings_become_the_index(spelling):
    months = pd.date_range("1995-01-01", periods=14, freq="MS")  # like the electrical equipment orders
    df = load(_csv("date,orders", ((f"{m:{spelling}}", i) for i, m in enumerate(months))))
    assert list(df.index) == list(months), spelling


@pytest.mark.parametrize("spelling", ["%d.%m.%Y", "%m/%d/%Y", "%Y/%m/%d", "%d %b %Y", "%Y%m%d"])
def test_days_in_several_spellings_become_the_index(spelling):
    days = pd.date_range("1995-01-25", periods=14, freq="D")  # days past the 12th tell day from month
    df = load(_csv("date,orders", ((f"{d:{spelling}}", i) for i, d in enumerate(days))))
    assert list(df.index) == list(days), spelling


@pytest.mark.parametrize("header, rows, why", [
    ("year,v", [(1990, 1), (1989, 2), (1991, 3)], "not increasing"),
    ("year,v", [(1, 1), (2, 2), (3, 3)], "years since the start, not calendar years"),
    ("year,v", [(1990, 1), ("", 2), (1992, 3)], "a year is missing"),
    ("year,v", [(1990.5, 1), (1991.5, 2)], "not whole years"),
    ("date,v", [(19580329, 1), (19580231, 2), (19580412, 3)], "30 February is no date"),
    ("date,v", [(19581301, 1), (19581401, 2)], "no month 13"),
    ("count,v", [(1990, 1), (1991, 2), (1992, 3)], "increasing, but the name says nothing of time"),
    ("year,quarter,v", [(1990, 1, 1), (1990, 5, 2), (1991, 1, 3)], "no quarter 5"),
    ("year,quarter,v", [(1990, 2, 1), (1990, 1, 2), (1991, 1, 3)], "quarters out of order"),
])
def test_columns_that_only_may_be_time_stay_series(header, rows, why):
    df = load(_csv(header, rows))
    assert list(df.columns) == header.split(","), why
    assert isinstance(df.index, pd.RangeIndex) and df.attrs["time_column"] is None, why
    assert "time index" not in warnings_of(df), why


def test_a_year_column_alone_stays_a_series():
    df = load(_csv("year", [(1990,), (1991,), (1992,)]))
    assert list(df.columns) == ["year"] and isinstance(df.index, pd.RangeIndex)


def test_a_text_date_column_wins_over_a_year_column():
    df = load("date,year,v\n2024-01-01,2024,1\n2025-01-01,2025,2\n")
    assert df.index.name == "date" and list(df.columns) == ["year", "v"]


# --- choosing the time column --------------------------------------------------------------


def test_no_time_column_keeps_year_and_quarter_as_series():
    text = _csv("year,quarter,gdp", [(1959, 1, 10), (1959, 2, 11), (1959, 3, 12)])
    df = load(text, time_column=None)
    assert list(df.columns) == ["year", "quarter", "gdp"] and isinstance(df.index, pd.RangeIndex)
    np.testing.assert_array_equal(df["year"].to_numpy(), np.float32([1959, 1959, 1959]))
    assert df.attrs["warnings"] == [] and df.attrs["time_column"] is None


def test_no_time_column_drops_a_date_text_column_and_says_so():
    df = load(PLAIN, time_column=None)
    assert list(df.columns) == ["a", "b"] and isinstance(df.index, pd.RangeIndex)
    assert df.attrs["warnings"] == ['Column "date" holds dates, but no time column was chosen, so it was dropped.']


def test_a_chosen_number_column_becomes_the_index_whatever_its_name():
    df = load(_csv("t,v", [(1990, 1), (1991, 2), (1992, 3)]), time_column="t")
    assert list(df.index) == list(pd.to_datetime(["1990-01-01", "1991-01-01", "1992-01-01"]))
    assert 'Column "t" holds years' in warnings_of(df)


def test_a_chosen_date_column_replaces_the_detected_one():
    df = load("a,stamp,other\n1,2024-01-01,2023-05-05\n2,2024-01-02,2023-05-06\n", time_column="other")
    assert df.index.name == "other" and list(df.index) == list(pd.to_datetime(["2023-05-05", "2023-05-06"]))
    assert 'Column "stamp" also holds dates; only "other" is used as the time index, so it was dropped.' \
        in df.attrs["warnings"]


def test_a_chosen_year_column_takes_its_quarter_column_along():
    df = load(_csv("year,quarter,gdp", [(1959, 1, 10), (1959, 2, 11)]), time_column="year")
    assert list(df.index) == list(pd.to_datetime(["1959-01-01", "1959-04-01"])) and list(df.columns) == ["gdp"]


@pytest.mark.parametrize("text, column, match", [
    (_csv("year,flow", [(1871, 1120), (1872, 1160), (1873, 963)]), "flow",
     'Column "flow" cannot be the time index because its values do not increase from row to row; a time column '
     "holds dates, or years, YYYYMM months or YYYYMMDD dates as whole numbers that increase row by row."),
    (_csv("year,flow", [(1871, 20), (1872, 160), (1873, 963)]), "flow",
     "because its values are not years from 1000 to 2200, YYYYMM months or YYYYMMDD dates"),
    (_csv("year,flow", [(1871, 2.5), (1872, 3), (1873, 4)]), "flow", "because not all of its values are whole"),
    (_csv("year,flow", [(1871, 2000), (1872, ""), (1873, 2002)]), "flow", "because some of its values are missing"),
    ("city,v\nparis,1\nrome,2\n", "city", 'Column "city" cannot be the time index because its text does not read '
                                         "as dates"),
    ("empty,v\n,1\n,2\n", "empty", "because it has no values"),
    (PLAIN, "nope", 'The file has no column called "nope"; choose one of its columns, or none.'),
    (_csv("year", [(1990,), (1991,)]), "year",
     'With "year" as the time index no column of numbers is left to be a series; choose no time column'),
])
def test_a_column_that_cannot_be_the_time_index_is_refused_with_the_reason(text, column, match):
    with pytest.raises(DataError, match=re.escape(match)) as caught:
        load_csv(text.encode(), time_column=column)
    assert_clean_refusal(caught.value)
