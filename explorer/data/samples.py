"""Real multivariate series shipped with kflayers (see sample_data/README.md for provenance)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from explorer.data.errors import DataError
from explorer.data.loader import DETECT, load_csv

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_data"

SAMPLES = {
    "us_macro": "US quarterly macroeconomic data 1959-2009: GDP, consumption, investment, prices, "
    "rates, unemployment (12 series, 203 quarters).",
    "us_employment": "US monthly employment by sector 2006-2015, seasonally adjusted, thousands of "
    "jobs (22 series, 120 months).",
    "tech_stocks": "Weekly closing prices of six tech stocks 2018-2019, each divided by its first "
    "week's price (6 series, 105 weeks).",
}
"""Name -> one-line description of every bundled sample."""


def load_sample(name: str, time_column=DETECT) -> pd.DataFrame:
    """Load a bundled sample by name, as `load_csv` would load its CSV.

    Args:
        name: a key of `SAMPLES`.
        time_column: as for `load_csv` (by default its date column).

    Returns:
        A float32 DataFrame, by default with a DatetimeIndex; `attrs["source"]` is `name`.

    Raises:
        DataError: the name is unknown (the message lists the known names) or
            the sample file is missing from this installation.

    Example:

    >>> load_sample("us_macro").shape
    (203, 12)
    """
    if name not in SAMPLES:
        known = ", ".join(f'"{n}"' for n in SAMPLES)
        raise DataError(f"There is no sample called {name!r}; choose one of {known}.")
    path = SAMPLE_DIR / f"{name}.csv"
    if not path.is_file():
        raise DataError(
            f"The sample file {path.name} is missing from {SAMPLE_DIR}; reinstall kflayers from its repository."
        )
    return load_csv(path, name=name, time_column=time_column)
