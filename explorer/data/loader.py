"""Turn whatever a user uploads into clean numeric series, or say in one sentence why not.

`load_csv` accepts a path, bytes or a binary file-like object and returns a
DataFrame whose columns are float32 series with unique string names and only
finite values, indexed by a sorted, duplicate-free DatetimeIndex when the file
has a time column (dates, periods, or numbers such as years or YYYYMMDD) and by
a RangeIndex otherwise. Every change made on the way (columns dropped, a column
made the time index, gaps filled, rows sorted, values clipped) is described in
plain sentences in `df.attrs["warnings"]`. Anything that cannot be turned into
such a frame raises `DataError`; no other exception escapes.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from explorer.data import calendar
from explorer.data.errors import DataError

MAX_BYTES = 200 * 1024 * 1024
"""Largest input accepted, in bytes (the app's upload limit matches it)."""

MAX_ROWS = 5_000_000
"""Largest number of data rows accepted."""

MAX_COLUMNS = 10_000
"""Largest number of columns accepted."""

# How much of the text is inspected to guess the delimiter, header and decimal mark.
_SAMPLE_CHARS = 64 * 1024
_SAMPLE_RECORDS = 200
# How many values of a text column are inspected before converting all of it.
_PROBE_VALUES = 1000
_DELIMITERS = (",", ";", "\t", "|")
_MAX_NAME_CHARS = 100
_FLOAT32_MAX = float(np.finfo(np.float32).max)

# Leading bytes of common non-text formats, with how to describe them to a user.
_SIGNATURES = (
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"PK\x03\x04", "a zip archive or an Excel .xlsx workbook"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"\xfd7zXZ\x00", "an xz-compressed file"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x28\xb5\x2f\xfd", "a zstd-compressed file"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old-style Excel .xls workbook"),
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"SQLite format 3\x00", "a SQLite database"),
)
_BZIP2 = re.compile(rb"BZh[1-9]1AY&SY")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)", re.IGNORECASE)
_COMMA_DECIMAL = re.compile(r"[+-]?\d+,\d+")
_DOT_DECIMAL = re.compile(r"[+-]?\d*\.\d+")
_DATE_LIKE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T].*)?")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# Control characters other than tab and line breaks: common in binary data, rare in text.
_BINARY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DATE_WORDS = ("date", "time", "timestamp", "datetime", "day", "month", "year", "yr", "period", "ds")


class _Detect:
    def __repr__(self) -> str:
        return "DETECT"


DETECT = _Detect()
"""`load_csv(time_column=DETECT)`, the default: use the column that holds time, if one clearly does."""


def load_csv(source, name: str | None = None, time_column: str | None | _Detect = DETECT) -> pd.DataFrame:
    """Read a CSV into float32 series with a time or row index.

    Args:
        source: a path (str or `os.PathLike`), `bytes`, or a binary file-like
            object such as the one Streamlit's uploader returns (it is read
            from its start).
        name: a short human name for `df.attrs["source"]`; defaults to the
            file name, or "uploaded data" for bytes.
        time_column: which column becomes the time index: `DETECT` (the
            default) finds it, a column name chooses it, None keeps every
            number column a series and numbers the rows.

    Returns:
        A DataFrame of float32 columns with unique string names and only
        finite values. Its index is a sorted, duplicate-free DatetimeIndex
        named after the time column when there is one, else a RangeIndex.
        `df.attrs["warnings"]` lists, as plain sentences, every change made
        to the data; `df.attrs["source"]` holds the name,
        `df.attrs["time_column"]` the time column's name (None without one)
        and `df.attrs["file_columns"]` the names of all the file's columns,
        any of which may be passed as `time_column`.

    Raises:
        DataError: whenever the input cannot become such a frame; the message
            says what is wrong and what to do.

    What is guessed and what is changed (each change is reported):

    - Text encoding: a BOM (UTF-8/16/32), UTF-16 without BOM, else UTF-8,
      else Windows-1252, else Latin-1.
    - Delimiter: whichever of `,` `;` tab `|` splits the first lines into the
      most consistent number of fields (runs of spaces as a last resort);
      Excel's `sep=` first line is honoured; with `;` or tab, values like
      `1,5` are read with a decimal comma.
    - Header: the first line is a header unless it holds only numbers and
      dates. Title lines of a single field above the table are skipped.
    - Columns: mostly-numeric columns are kept (other entries become
      missing); the time column becomes the index; text, empty and further
      date columns are dropped; an unnamed column that only
      numbers the rows (a saved pandas index) is dropped; blank names become
      `column_<position>` and repeated names get a `_2`, `_3`... suffix.
    - Time column: the first text column that reads as dates or periods
      (2024-01-31, 31.01.2024, Jan-1-1995, 1974Q1, 1974 Q1, 1995M01...),
      names saying date or time tried first. Failing that, a number column
      whose name says time (year, date, period...) and that holds, with no
      gaps and increasing row by row, years (1000-2200; with a "quarter" or
      "month" column beside it, the two together), YYYYMM months or
      YYYYMMDD dates; it stops being a series (reported), unless it is the
      only number column. A period is dated by its first day.
    - Rows: rows without a readable date are dropped, rows are sorted by
      time, and rows sharing a timestamp are averaged.
    - Values: infinities become missing; finite values beyond the float32
      range are clipped to it; missing values take the last value before
      them (the first value after, at the very start).

    Example:

    >>> df = load_csv(b"date,a,b\\n2024-01-02,1,2\\n2024-01-01,3,\\n")
    >>> df.attrs["warnings"][0]
    'Rows were not in time order, so they were sorted by "date".'
    >>> df["b"].tolist()
    [2.0, 2.0]
    """
    try:
        raw, default_name = _read_bytes(source)
        return _Loader(raw, name or default_name, time_column).run()
    except DataError:
        raise
    except MemoryError as error:
        raise DataError(
            "This file needs more memory than is available; try a smaller file or fewer columns."
        ) from error
    except Exception as error:
        # Last line of defence for the "only DataError escapes" contract; the
        # tests assert this branch is never reached for any input they try.
        raise DataError(
            f"kflayers could not read this file (internal error {type(error).__name__}); "
            "save it again as a plain comma-separated CSV and retry."
        ) from error


def _read_bytes(source) -> tuple[bytes, str]:
    """Return the raw bytes of `source` (at most MAX_BYTES) and a short name for it."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
        default_name = "uploaded data"
    elif isinstance(source, (str, os.PathLike)):
        if isinstance(source, str) and ("\n" in source or "\r" in source):
            raise DataError(
                "load_csv was given text with line breaks where a file path was expected; "
                "pass the CSV content as bytes instead (for example text.encode())."
            )
        path = Path(source)
        shown = repr(_shorten(str(path), 80))
        try:
            too_big = path.stat().st_size > MAX_BYTES
            raw = b"" if too_big else path.read_bytes()
        except FileNotFoundError as error:
            raise DataError(f"No file was found at {shown}; check the path.") from error
        except IsADirectoryError as error:
            raise DataError(f"{shown} is a folder, not a file; choose a CSV file.") from error
        except PermissionError as error:
            raise DataError(f"The file {shown} cannot be opened (no permission to read it).") from error
        except (OSError, ValueError) as error:
            raise DataError(f"The file {shown} cannot be read; check the path.") from error
        if too_big:
            raise DataError(_too_big_message())
        default_name = path.name
    elif hasattr(source, "read"):
        if hasattr(source, "seek"):
            try:
                source.seek(0)
            except (OSError, ValueError):
                pass  # not seekable: read from where it stands
        try:
            raw = source.read(MAX_BYTES + 1)
        except (OSError, ValueError) as error:
            raise DataError("The uploaded file could not be read; try uploading it again.") from error
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        if not isinstance(raw, (bytes, bytearray, memoryview)):
            raise DataError("The uploaded file did not give back bytes; upload a CSV file.")
        raw = bytes(raw)
        default_name = Path(str(getattr(source, "name", "") or "uploaded file")).name
    else:
        raise DataError(
            f"Cannot read data from a {type(source).__name__}; give a file path, bytes or an uploaded file."
        )
    if len(raw) > MAX_BYTES:
        raise DataError(_too_big_message())
    return raw, default_name


def _too_big_message() -> str:
    limit = f"{MAX_BYTES // 2**20} MB" if MAX_BYTES >= 2**20 else f"{MAX_BYTES:,} bytes"
    return (
        f"The file is larger than {limit}; "
        "use fewer rows or columns, or a shorter time range."
    )


class _NotUtf8(Exception):
    """Raised when a file that started as valid UTF-8 turns out not to be."""


class _Loader:
    """One pass from raw bytes to the cleaned frame, collecting warnings on the way."""

    def __init__(self, raw: bytes, name: str, time_column: str | None | _Detect):
        self.raw = raw
        self.name = name
        self.time_column = time_column
        self.warnings: list[str] = []

    def run(self) -> pd.DataFrame:
        _reject_binary(self.raw)
        text, encoding = self._decode()
        try:
            return self._load(text, encoding)
        except _NotUtf8:
            # Only the sample was checked up front; a bad byte further on means
            # the whole file is in a legacy single-byte encoding.
            self.warnings.clear()
            return self._load(*self._decode_legacy())

    def _load(self, text: str, encoding: str) -> pd.DataFrame:
        """Parse `text` (the whole file, or only its start when the file is read as UTF-8)."""
        if not text.strip():
            raise DataError("The file is empty; choose a CSV file with a header row and data rows.")
        self._reject_control_characters(text)
        sample = _sample(text)
        delimiter, skipped_chars = _excel_separator_hint(sample)
        if delimiter is None:
            delimiter = _sniff_delimiter(sample)
        records = _split_records(sample[skipped_chars:], delimiter)
        preamble = _preamble_length(records)
        if preamble:
            skipped_chars += _end_of_lines(sample[skipped_chars:], preamble)
            records = records[preamble:]
            self.warnings.append(
                f"The first {_plural(preamble, 'line', f'{preamble} lines')} did not look like part of "
                f"the table and {_plural(preamble, 'was', 'were')} skipped."
            )
        has_header = _has_header(records[0])
        n_columns = _column_count(records, has_header)
        if n_columns > MAX_COLUMNS:
            raise DataError(
                f"The file has {n_columns:,} columns, more than the {MAX_COLUMNS:,} allowed; "
                "keep only the series you need."
            )
        decimal = _sniff_decimal(records[1 if has_header else 0 :], delimiter)
        frame = self._parse(text, encoding, skipped_chars, delimiter, decimal, has_header, n_columns)
        names = self._column_names(records[0] if has_header else [], n_columns)
        frame.columns = range(n_columns)
        return self._clean(frame, names)

    def _decode(self) -> tuple[str, str]:
        """Decode the bytes, trying the BOM first, then UTF-8, Windows-1252 and Latin-1."""
        raw = self.raw
        for bom, encoding in (
            (codecs.BOM_UTF32_LE, "utf-32"),
            (codecs.BOM_UTF32_BE, "utf-32"),
            (codecs.BOM_UTF8, "utf-8-sig"),
            (codecs.BOM_UTF16_LE, "utf-16"),
            (codecs.BOM_UTF16_BE, "utf-16"),
        ):
            if raw.startswith(bom):
                return self._decode_as(encoding), encoding
        bomless_utf16 = _guess_bomless_utf16(raw)
        if bomless_utf16:
            return self._decode_as(bomless_utf16), bomless_utf16
        # UTF-8 is checked on the start only; pandas checks the rest while parsing.
        head = raw[: _sample_end(raw, b"\n" if b"\n" in raw[:_SAMPLE_CHARS] else b"\r")]
        try:
            return head.decode("utf-8"), "utf-8"
        except UnicodeDecodeError as error:
            if len(raw) > _SAMPLE_CHARS and error.start >= len(head) - 3 and error.reason == "unexpected end of data":
                return head[: error.start].decode("utf-8"), "utf-8"
        return self._decode_legacy()

    def _decode_legacy(self) -> tuple[str, str]:
        for encoding, label in (("cp1252", "Windows-1252"), ("latin-1", "Latin-1")):
            try:
                text = self.raw.decode(encoding)
            except UnicodeDecodeError:
                continue
            self.warnings.append(f"The file is not UTF-8, so it was read as {label} text.")
            return text, encoding
        raise AssertionError("Latin-1 decodes every byte string")  # pragma: no cover

    def _decode_as(self, encoding: str) -> str:
        try:
            return self.raw.decode(encoding)
        except UnicodeDecodeError as error:
            raise DataError(
                f"The file looks like {encoding.upper()} text but parts of it are not valid; "
                "save it again as a UTF-8 CSV."
            ) from error

    @staticmethod
    def _reject_control_characters(text: str) -> None:
        sample = text[:_SAMPLE_CHARS]
        if "\x00" in sample or len(_BINARY_CONTROL.findall(sample)) > max(8, len(sample) // 100):
            raise DataError(
                "This file does not look like text (it contains binary data); "
                "export your table as a CSV file and upload that."
            )

    def _parse(self, text, encoding, skipped_chars, delimiter, decimal, has_header, n_columns) -> pd.DataFrame:
        """Parse from `skipped_chars` into the text on, with pandas' C parser."""
        text = text.lstrip("\ufeff")
        if encoding == "utf-8":
            # `text` is only the start of the file: hand pandas the raw bytes.
            start = len(text[:skipped_chars].encode("utf-8"))
            buffer = io.BytesIO(self.raw[start:] if start else self.raw)
        else:
            buffer = io.BytesIO(text[skipped_chars:].encode("utf-8", errors="surrogatepass"))
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                frame = pd.read_csv(
                    buffer,
                    sep=r"\s+" if delimiter == " " else delimiter,
                    decimal=decimal,
                    header=0 if has_header else None,
                    names=list(range(n_columns)),
                    index_col=False,
                    skip_blank_lines=True,
                    on_bad_lines="warn",
                    nrows=MAX_ROWS + 1,
                    encoding="utf-8",
                    engine="c",
                )
        except UnicodeDecodeError as error:
            if encoding == "utf-8":
                raise _NotUtf8 from error
            raise DataError("The file's text encoding could not be read; save it again as a UTF-8 CSV.") from error
        except pd.errors.EmptyDataError as error:
            raise DataError("The file is empty; choose a CSV file with a header row and data rows.") from error
        except pd.errors.ParserError as error:
            if "EOF inside string" in str(error):
                raise DataError(
                    'A quote mark (") opens a value that is never closed; fix or remove the stray quote.'
                ) from error
            raise DataError(
                "The file could not be read as a table; check that every row has the same columns."
            ) from error
        except (ValueError, OverflowError, UnicodeError, csv.Error) as error:
            raise DataError(
                "The file could not be read as a table; save it again as a plain CSV and retry."
            ) from error
        skipped = sum(str(w.message).count("Skipping line") for w in caught)
        if skipped:
            self.warnings.append(
                f"{skipped:,} {_rows(skipped)} had more values than the header has columns and "
                f"{'were' if skipped > 1 else 'was'} skipped."
            )
        if len(frame) > MAX_ROWS:
            raise DataError(
                f"The file has more than {MAX_ROWS:,} rows; keep a shorter time range or fewer rows."
            )
        if len(frame) == 0:
            raise DataError("The file has a header but no data rows; add rows of numbers below the header.")
        return frame

    def _column_names(self, header: list[str], n_columns: int) -> list[str | None]:
        """Header fields as plain text (None where blank), padded to the column count."""
        names: list[str | None] = []
        shortened = []
        for field in list(header)[:n_columns] + [""] * (n_columns - len(header)):
            cleaned = " ".join(_CONTROL.sub(" ", field.lstrip("\ufeff")).split())
            if len(cleaned) > _MAX_NAME_CHARS:
                cleaned = cleaned[: _MAX_NAME_CHARS - 1] + "…"
                shortened.append(cleaned)
            names.append(cleaned or None)
        if shortened:
            self.warnings.append(
                f"{len(shortened)} column {_plural(len(shortened), 'name was', 'names were')} "
                f"longer than {_MAX_NAME_CHARS} characters and shortened."
            )
        return names

    def _clean(self, frame: pd.DataFrame, names: list[str | None]) -> pd.DataFrame:
        names = self._drop_row_number_column(frame, names)
        names = self._unique_names(names)
        values, time_index, time_name = self._classify_columns(frame, names)
        if time_index is not None:
            values = self._index_by_time(values, time_index, time_name)
        result = self._fill_gaps(values)
        result.attrs["warnings"] = self.warnings
        result.attrs["source"] = self.name
        result.attrs["time_column"] = time_name
        result.attrs["file_columns"] = [n for n in names if n is not False]
        return result

    def _drop_row_number_column(self, frame: pd.DataFrame, names: list[str | None]) -> list[str | None]:
        """Drop an unnamed first column that only counts rows, as pandas' to_csv writes."""
        if not names or names[0] is not None or len(names) < 2:
            return names
        first = frame[0]
        if pd.api.types.is_integer_dtype(first) and len(first) > 0:
            start = int(first.iloc[0])
            if start in (0, 1) and np.array_equal(first.to_numpy(), np.arange(start, start + len(first))):
                self.warnings.append(
                    "The first column had no name and only numbered the rows, so it was dropped."
                )
                return [False] + names[1:]  # False marks a column to leave out
        return names

    def _unique_names(self, names: list) -> list:
        """Give blank names a position-based name and make every name unique."""
        taken = Counter(n for n in names if isinstance(n, str))
        seen: set[str] = set()
        renamed = []
        unique: list = []
        for position, name in enumerate(names):
            if name is False:
                unique.append(False)
                continue
            candidate = name if isinstance(name, str) else f"column_{position + 1}"
            if candidate in seen:
                suffix = 2
                while f"{candidate}_{suffix}" in seen or f"{candidate}_{suffix}" in taken:
                    suffix += 1
                renamed.append((candidate, f"{candidate}_{suffix}"))
                candidate = f"{candidate}_{suffix}"
            seen.add(candidate)
            unique.append(candidate)
        if renamed:
            shown = ", ".join(f'"{old}" became "{new}"' for old, new in renamed[:5])
            more = f" and {len(renamed) - 5} more" if len(renamed) > 5 else ""
            self.warnings.append(f"Some columns shared a name, so they were renamed: {shown}{more}.")
        return unique

    def _classify_columns(self, frame, names):
        """Numeric columns as one float64 frame, the time stamps, and the time column's name; the rest is dropped."""
        kept = [p for p, n in enumerate(names) if n is not False]
        self._check_time_choice(names)
        dtypes = frame.dtypes
        plain = {p for p in kept if _is_numeric(dtypes.iloc[p])}
        converted: dict[int, pd.Series] = {}
        time_index = None
        time_name = None
        dropped_text, dropped_empty, other_dates = [], [], []
        # Text columns, those whose name says date/time first (the preferred time index).
        for position in sorted((p for p in kept if p not in plain), key=lambda p: not _sounds_like_time(names[p])):
            column = frame[position]
            name = names[position]
            present = column.dropna()
            may_index = time_index is None and self._may_index(name)
            if len(present) == 0:
                self._refuse_if_chosen(name, "it has no values")
                dropped_empty.append(name)
                continue
            as_number = self._as_number(column, present, name)
            if as_number is not None:
                converted[position] = as_number
            elif may_index and (parsed := _as_datetime(column, present)) is not None:
                time_index, time_name = parsed, name
            elif not may_index and _as_datetime(head := present.head(_PROBE_VALUES), head) is not None:
                other_dates.append(name)
            else:
                self._refuse_if_chosen(name, "its text does not read as dates")
                dropped_text.append(name)
        numeric = {p: converted[p] if p in converted else frame[p] for p in sorted(plain | converted.keys())}
        if time_index is None and (found := self._number_time(numeric, names)) is not None:
            time_index, time_name, used = found
            numeric = {p: column for p, column in numeric.items() if p not in used}
        values = pd.DataFrame(self._float32_matrix(numeric.values(), len(frame)),
                              columns=[names[p] for p in numeric])
        if dropped_text:
            self.warnings.append(
                f"{_plural(len(dropped_text), 'Column', 'Columns')} {_quote_list(dropped_text)} "
                f"{_plural(len(dropped_text), 'holds', 'hold')} text, not numbers, and "
                f"{_plural(len(dropped_text), 'was', 'were')} dropped."
            )
        if dropped_empty:
            self.warnings.append(
                f"{_plural(len(dropped_empty), 'Column', 'Columns')} {_quote_list(dropped_empty)} "
                f"{_plural(len(dropped_empty), 'has', 'have')} no usable values and "
                f"{_plural(len(dropped_empty), 'was', 'were')} dropped."
            )
        if other_dates:
            self._note_unused_dates(other_dates, time_name)
        if not numeric:
            raise DataError(
                "No column in this file holds numbers; the data needs at least one numeric column "
                "(and optionally a date or time column)."
            )
        return values, time_index, time_name

    def _check_time_choice(self, names) -> None:
        """A chosen time column has to be in the file."""
        chosen = self.time_column
        if isinstance(chosen, str) and chosen not in names:
            raise DataError(f'The file has no column called "{chosen}"; choose one of its columns, or none.')

    def _may_index(self, name: str) -> bool:
        """Whether column `name` may become the time index: any column when detecting, else only the chosen one."""
        return self.time_column is DETECT or name == self.time_column

    def _refuse_if_chosen(self, name: str, reason: str) -> None:
        if name == self.time_column:
            raise DataError(
                f'Column "{name}" cannot be the time index because {reason}; a time column holds dates, '
                f"or years, YYYYMM months or YYYYMMDD dates as whole numbers that increase row by row."
            )

    def _number_time(self, numeric: dict[int, pd.Series], names) -> tuple[pd.Series, str, set[int]] | None:
        """Time held in number columns: the stamps, the time column's name and the positions it used.

        When detecting, only columns whose name says time are tried, and only while another column
        stays to be a series; a chosen column is tried whatever its name.
        """
        if self.time_column is None:
            return None
        if self.time_column is DETECT:
            candidates = [p for p in numeric if _sounds_like_time(names[p])]
        else:
            candidates = [p for p in numeric if names[p] == self.time_column]
        partners = [(months, p) for p in numeric if (months := calendar.subperiod_months(names[p])) is not None]
        for position in candidates:
            values = numeric[position].to_numpy(dtype=np.float64)
            others = [(p, months, numeric[p].to_numpy(dtype=np.float64))
                      for months, p in sorted(partners) if p != position]
            found = calendar.read_numbers(values, others)
            if found is None:
                self._refuse_if_chosen(names[position], calendar.why_not_numbers(values))
                continue
            used = {position} if found.partner is None else {position, found.partner}
            if len(used) == len(numeric):
                if self.time_column is DETECT:
                    continue
                raise DataError(
                    f'With "{names[position]}" as the time index no column of numbers is left to be a series; '
                    "choose no time column to keep it as one."
                )
            partner = [] if found.partner is None else [names[found.partner]]
            self._note_number_time(found, [names[position], *partner])
            return pd.Series(found.stamps), names[position], used
        return None

    def _note_number_time(self, found: calendar.NumberTime, columns: list[str]) -> None:
        dated = f" ({found.dated})" if found.dated else ""
        if len(columns) == 1:
            self.warnings.append(
                f'Column "{columns[0]}" holds {found.holds}, so it became the time index{dated} '
                "instead of a series."
            )
        else:
            self.warnings.append(
                f'Columns "{columns[0]}" and "{columns[1]}" hold {found.holds}, so together they became '
                f"the time index{dated} instead of series."
            )

    def _note_unused_dates(self, names: list[str], time_name: str | None) -> None:
        columns = f"{_plural(len(names), 'Column', 'Columns')} {_quote_list(names)}"
        they = _plural(len(names), "it was", "they were")
        if time_name is None:
            self.warnings.append(
                f"{columns} {_plural(len(names), 'holds', 'hold')} dates, but no time column was chosen, "
                f"so {they} dropped."
            )
        else:
            self.warnings.append(
                f"{columns} also {_plural(len(names), 'holds', 'hold')} dates; only \"{time_name}\" is used "
                f"as the time index, so {they} dropped."
            )

    def _as_number(self, column: pd.Series, present: pd.Series, name: str):
        """The column as float64 when most of its values are numbers, else None."""
        probe = present.head(_PROBE_VALUES).astype(str).str.strip()
        if pd.to_numeric(probe, errors="coerce").notna().mean() < 0.5:
            if probe.str.fullmatch(_THOUSANDS.pattern).mean() < 0.5:
                return None
        numbers = pd.to_numeric(column.astype(object).map(_number_text), errors="coerce").astype(np.float64)
        readable = int(numbers.notna().sum())
        if readable < 0.5 * len(present):
            return None
        unreadable = len(present) - readable
        if unreadable:
            example = column[numbers.isna() & column.notna()].iloc[0]
            self.warnings.append(
                f'{unreadable:,} {_plural(unreadable, "value", "values")} in column "{name}" '
                f"{_plural(unreadable, 'is', 'are')} not a number (for example {_short(example)}) "
                f"and {_plural(unreadable, 'was', 'were')} treated as missing."
            )
        return numbers

    def _index_by_time(self, values: pd.DataFrame, stamps: pd.Series, time_name: str) -> pd.DataFrame:
        unreadable = stamps.isna().to_numpy()
        if unreadable.any():
            count = int(unreadable.sum())
            self.warnings.append(
                f'{count:,} {_rows(count)} had no readable date in "{time_name}" and '
                f"{_plural(count, 'was', 'were')} dropped."
            )
            values = values.loc[~unreadable]
            stamps = stamps[~unreadable]
        if len(values) == 0:
            raise DataError(f'No row has a readable date in "{time_name}"; check the date column.')
        values.index = pd.DatetimeIndex(stamps.to_numpy(), name=time_name)
        if not values.index.is_monotonic_increasing:
            values = values.sort_index(kind="stable")
            self.warnings.append(f'Rows were not in time order, so they were sorted by "{time_name}".')
        if not values.index.is_unique:
            before = len(values)
            values = values.groupby(level=0, sort=False).mean().astype(np.float32)
            repeated = before - len(values)
            self.warnings.append(
                f"{repeated:,} {_rows(repeated)} repeated an earlier timestamp; rows sharing a "
                "timestamp were replaced by their average."
            )
        return values

    def _float32_matrix(self, columns, n_rows: int) -> np.ndarray:
        """Stack float columns as float32, infinities made missing and values beyond float32 clipped."""
        columns = list(columns)
        # Column-major, so each column is written contiguously and pandas keeps it as one block.
        matrix = np.empty((n_rows, len(columns)), dtype=np.float32, order="F")
        n_infinite = n_clipped = 0
        for i, column in enumerate(columns):
            array = column.to_numpy(dtype=np.float64)
            infinite = np.isinf(array)
            if infinite.any():
                n_infinite += int(infinite.sum())
                array = np.where(infinite, np.nan, array)
            with np.errstate(over="ignore"):
                matrix[:, i] = array
            too_large = np.isinf(matrix[:, i])  # finite in float64, beyond float32 once rounded
            if too_large.any():
                n_clipped += int(too_large.sum())
                matrix[too_large, i] = np.copysign(_FLOAT32_MAX, array[too_large])
        if n_infinite:
            self.warnings.append(
                f"{n_infinite:,} infinite {_plural(n_infinite, 'value was', 'values were')} treated as missing."
            )
        if n_clipped:
            self.warnings.append(
                f"{n_clipped:,} {_plural(n_clipped, 'value was', 'values were')} beyond the 32-bit float range "
                f"and {_plural(n_clipped, 'was', 'were')} clipped to ±{_FLOAT32_MAX:.3g}."
            )
        return matrix

    def _fill_gaps(self, values: pd.DataFrame) -> pd.DataFrame:
        """Drop columns without a single number, then fill each gap from the value before it."""
        missing = values.isna().sum()
        unusable = missing == len(values)
        if unusable.any():
            empty = list(values.columns[unusable.to_numpy()])
            self.warnings.append(
                f"{_plural(len(empty), 'Column', 'Columns')} {_quote_list(empty)} "
                f"{_plural(len(empty), 'has', 'have')} no usable values and "
                f"{_plural(len(empty), 'was', 'were')} dropped."
            )
            if unusable.all():
                raise DataError(
                    "No column in this file holds numbers; the data needs at least one numeric column "
                    "(and optionally a date or time column)."
                )
            values = values.loc[:, ~unusable.to_numpy()]
            missing = missing[~unusable]
        total = int(missing.sum())
        if total:
            gappy = list(missing.index[missing.to_numpy() > 0])
            values = values.ffill().bfill()
            self.warnings.append(
                f"{total:,} missing {_plural(total, 'value', 'values')} in "
                f"{_plural(len(gappy), 'column', 'columns')} {_quote_list(gappy)} "
                f"{_plural(total, 'was', 'were')} filled with the last value before "
                f"{_plural(total, 'it', 'them')} (or the first value after, at the start)."
            )
        return values


def _reject_binary(raw: bytes) -> None:
    for signature, description in _SIGNATURES:
        if raw.startswith(signature):
            raise DataError(
                f"This is {description}, not a CSV text file; extract or export the table as CSV and upload that."
            )
    if _BZIP2.match(raw[:10]):
        raise DataError(
            "This is a bzip2-compressed file, not a CSV text file; extract it and upload the CSV inside."
        )
    if raw.startswith(b"PAR1") and raw.endswith(b"PAR1"):
        raise DataError("This is a Parquet file, not a CSV text file; export it as CSV and upload that.")


def _guess_bomless_utf16(raw: bytes) -> str | None:
    """UTF-16 without a BOM shows as a NUL byte in every other position of ASCII text."""
    sample = raw[:4096]
    if len(sample) < 4:
        return None
    half = len(sample) // 2
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    if odd_nuls > 0.6 * half and even_nuls < 0.1 * half:
        return "utf-16-le"
    if even_nuls > 0.6 * half and odd_nuls < 0.1 * half:
        return "utf-16-be"
    return None


def _sample_end(data, newline) -> int:
    """Where the sniffing sample ends: the first 64 KiB cut at a line end, and never less than three whole lines."""
    if len(data) <= _SAMPLE_CHARS:
        return len(data)
    end = 0
    for _ in range(3):
        found = data.find(newline, end)
        if found < 0:
            return len(data)
        end = found + 1
    return max(end, data.rfind(newline, 0, _SAMPLE_CHARS) + 1)


def _sample(text: str) -> str:
    """The start of the text that the delimiter, header and decimal mark are guessed from."""
    text = text.lstrip("\ufeff")
    return text[: _sample_end(text, "\n" if "\n" in text[:_SAMPLE_CHARS] else "\r")]


def _excel_separator_hint(sample: str) -> tuple[str | None, int]:
    """Excel may write a first line such as "sep=;" naming the delimiter: use it and skip that line."""
    match = re.match(r"sep=(.)\r?\n?", sample)
    if match and match.group(1) in _DELIMITERS:
        return match.group(1), match.end()
    return None, 0


def _preamble_length(records: list[list[str]]) -> int:
    """How many leading one-field lines (titles, export notes) precede a table of several columns."""
    modal = Counter(len(r) for r in records).most_common(1)[0][0]
    if modal < 2:
        return 0
    count = 0
    while count < len(records) - 1 and len(records[count]) == 1:
        count += 1
    return count


def _end_of_lines(text: str, count: int) -> int:
    """Character offset just after the first `count` non-blank lines of `text`."""
    offset = 0
    for line in text.splitlines(keepends=True):
        offset += len(line)
        if line.strip():
            count -= 1
            if count == 0:
                break
    return offset


def _split_records(sample: str, delimiter: str) -> list[list[str]]:
    """The first non-blank records of the sample, split on the delimiter."""
    records = []
    if delimiter == " ":
        reader = (line.split() for line in sample.splitlines())
    else:
        reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter, skipinitialspace=True, strict=False)
    try:
        for record in reader:
            if any(field.strip() for field in record):
                records.append(record)
            if len(records) >= _SAMPLE_RECORDS:
                break
    except csv.Error:
        pass  # a huge or malformed field: judge by the records read so far
    if not records:
        raise DataError("The file has no rows of data; choose a CSV file with a header row and data rows.")
    return records


def _sniff_delimiter(sample: str) -> str:
    """The candidate delimiter that splits the sample into the most consistent number (>1) of fields."""
    best, best_score = ",", (0.0, 0)
    for delimiter in _DELIMITERS:
        if delimiter not in sample:
            continue
        try:
            counts = [len(r) for r in _split_records(sample, delimiter)]
        except DataError:
            continue
        modal, times = Counter(counts).most_common(1)[0]
        if modal < 2:
            continue
        score = (times / len(counts), modal)
        if score > best_score:
            best, best_score = delimiter, score
    if best_score == (0.0, 0) and " " in sample.strip():
        counts = [len(line.split()) for line in sample.splitlines() if line.strip()][:_SAMPLE_RECORDS]
        modal, times = Counter(counts).most_common(1)[0]
        if modal >= 2 and times >= 0.8 * len(counts):
            return " "  # columns separated by runs of spaces
    return best


def _looks_like_value(field: str) -> bool:
    field = field.strip()
    return bool(_NUMBER.fullmatch(field) or _DATE_LIKE.fullmatch(field) or _COMMA_DECIMAL.fullmatch(field))


def _has_header(first: list[str]) -> bool:
    """A first row made only of numbers and dates is data, anything else is a header."""
    filled = [f for f in first if f.strip()]
    return not filled or not all(_looks_like_value(f) for f in filled)


def _column_count(records: list[list[str]], has_header: bool) -> int:
    """Header width, widened when the data rows are consistently wider (e.g. trailing delimiters)."""
    data = records[1:] if has_header else records
    width = len(records[0])
    if data:
        width = max(width, Counter(len(r) for r in data).most_common(1)[0][0])
    return width


def _sniff_decimal(records: list[list[str]], delimiter: str) -> str:
    """A decimal comma when the delimiter is not a comma and values like 1,5 outnumber 1.5."""
    if delimiter == ",":
        return "."
    fields = [f.strip() for r in records for f in r]
    comma = sum(1 for f in fields if _COMMA_DECIMAL.fullmatch(f))
    dot = sum(1 for f in fields if _DOT_DECIMAL.fullmatch(f))
    return "," if comma > dot else "."


def _number_text(value):
    """A cell with surrounding spaces and thousands separators (1,234.5) removed, ready for to_numeric."""
    if not isinstance(value, str):
        return value
    value = value.strip()
    return value.replace(",", "") if _THOUSANDS.fullmatch(value) else value


def _as_datetime(column: pd.Series, present: pd.Series):
    """The column parsed as naive UTC timestamps when most of it reads as dates, else None."""
    probe = present.head(_PROBE_VALUES).astype(str).str.strip()
    if probe.str.contains(r"\d").mean() < 0.8:  # words such as "now" or "today" are not dates here
        return None
    if (probe.str.len() != present.head(_PROBE_VALUES).astype(str).str.len()).any():
        column = column.str.strip()
    for parse in (_to_datetime, _to_mixed_datetime, calendar.period_stamps):
        if parse(probe).notna().mean() >= 0.8:
            parsed = parse(column)
            if parsed.notna().sum() >= 0.8 * len(present):
                return parsed.reset_index(drop=True)
    return None


def _to_mixed_datetime(values: pd.Series) -> pd.Series:
    """Dates whose format changes from row to row."""
    return _to_datetime(values, "mixed")


def _to_datetime(values: pd.Series, fmt: str | None = None) -> pd.Series:
    if fmt is None and (fast := _arrow_iso_datetime(values)) is not None:
        return fast
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(values, errors="coerce", utc=True, format=fmt)
        except (ValueError, TypeError, OverflowError):
            return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    return parsed.dt.tz_localize(None)


def _arrow_iso_datetime(values: pd.Series) -> pd.Series | None:
    """Clean ISO-8601 text parsed by pyarrow (about 10x faster than pandas), or None if it cannot."""
    dtype = values.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return None
    import pyarrow as pa  # present whenever pandas stores strings with pyarrow
    import pyarrow.compute as pc

    try:
        stamps = pc.cast(pa.array(values), pa.timestamp("us"))
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        return None  # a value pyarrow does not read as ISO-8601: pandas parses the column instead
    return pd.Series(stamps.to_numpy(zero_copy_only=False), index=values.index)


def _is_numeric(dtype) -> bool:
    return pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype)


def _sounds_like_time(name) -> bool:
    if not isinstance(name, str):
        return False
    lowered = name.lower()
    return any(word == lowered or lowered.startswith(word) or lowered.endswith(word) for word in _DATE_WORDS)


def _plural(count: int, one: str, many: str) -> str:
    return one if count == 1 else many


def _rows(count: int) -> str:
    return _plural(count, "row", "rows")


def _quote_list(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(f'"{n}"' for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(value) -> str:
    return repr(_shorten(str(value), 20))
