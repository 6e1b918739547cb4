"""Write the bundled sample CSVs once, from the packages that carry the data.

Run from the repository root with a Python that has statsmodels, vega_datasets
and plotly installed:

    python3 sample_data/make_samples.py

kflayers itself never imports these packages; it only reads the CSVs written
here. Provenance, licences and citations are in sample_data/README.md.
"""

from pathlib import Path

import pandas as pd
import plotly.express as px
from statsmodels.datasets import macrodata
from vega_datasets import local_data

HERE = Path(__file__).resolve().parent


def us_macro() -> pd.DataFrame:
    """statsmodels' macrodata, with its year/quarter columns turned into a quarter-start date."""
    raw = macrodata.load_pandas().data
    dates = pd.PeriodIndex.from_fields(
        year=raw["year"].astype(int), quarter=raw["quarter"].astype(int), freq="Q"
    ).to_timestamp()
    values = raw.drop(columns=["year", "quarter"])
    values.insert(0, "date", dates.strftime("%Y-%m-%d"))
    return values


def us_employment() -> pd.DataFrame:
    """vega-datasets' us-employment without its derived month-on-month change column."""
    raw = local_data.us_employment()
    values = raw.drop(columns=["nonfarm_change"])
    values["month"] = pd.to_datetime(values["month"]).dt.strftime("%Y-%m-%d")
    return values


def tech_stocks() -> pd.DataFrame:
    """plotly's weekly tech stock prices, each divided by its first week's price."""
    return px.data.stocks()


def main() -> None:
    for name, build in (("us_macro", us_macro), ("us_employment", us_employment), ("tech_stocks", tech_stocks)):
        frame = build()
        path = HERE / f"{name}.csv"
        frame.to_csv(path, index=False, lineterminator="\n")
        print(f"wrote {path.relative_to(HERE.parent)}: {frame.shape[0]} rows x {frame.shape[1] - 1} series")


if __name__ == "__main__":
    main()
