"""Bundled samples: real, wide enough, documented, loaded like any CSV; explorer.data imports no framework."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from data_contract import assert_contract

from explorer.data import SAMPLES, DataError, load_sample
from explorer.data.samples import SAMPLE_DIR

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_sample_is_a_clean_multivariate_time_series(name):
    df = load_sample(name)
    assert_contract(df)
    assert df.shape[0] >= 100 and df.shape[1] >= 5
    assert isinstance(df.index, pd.DatetimeIndex)
    assert df.attrs["warnings"] == [] and df.attrs["source"] == name
    description = SAMPLES[name]
    assert description and "\n" not in description and description.endswith(".")


def test_at_least_three_samples_each_documented_in_the_readme():
    readme = (SAMPLE_DIR / "README.md").read_text()
    assert len(SAMPLES) >= 3
    for name in SAMPLES:
        section = readme.split(f"## `{name}.csv`")[1].split("\n## ")[0]
        for field in ("Source:", "Licence:", "Cite:", "Changes:"):
            assert field in section, (name, field)
    assert sorted(p.stem for p in SAMPLE_DIR.glob("*.csv")) == sorted(SAMPLES)


def test_sample_values_match_the_published_figures():
    # First observations as documented by the sources (statsmodels macrodata, BLS CES via vega-datasets).
    macro = load_sample("us_macro")
    assert macro.index[0] == pd.Timestamp("1959-01-01") and macro.index[-1] == pd.Timestamp("2009-07-01")
    np.testing.assert_array_equal(macro.iloc[0][["realgdp", "realcons", "unemp"]], np.float32([2710.349, 1707.4, 5.8]))
    jobs = load_sample("us_employment")
    assert jobs.index[0] == pd.Timestamp("2006-01-01") and len(jobs) == 120
    assert jobs["nonfarm"].iloc[0] == np.float32(135450)
    stocks = load_sample("tech_stocks")
    np.testing.assert_array_equal(stocks.iloc[0].to_numpy(), np.ones(6, np.float32))


def test_unknown_sample_lists_the_known_ones():
    with pytest.raises(DataError, match=r"no sample called 'etth1'; choose one of \"us_macro\", \"us_employment\""):
        load_sample("etth1")


def test_data_package_imports_neither_a_deep_learning_framework_nor_streamlit():
    # Stub the top-level package so only kflayers/data/ itself is imported.
    code = (
        "import sys, types\n"
        "package = types.ModuleType('kflayers')\n"
        f"package.__path__ = [{str(ROOT / 'kflayers')!r}]\n"
        "sys.modules['kflayers'] = package\n"
        "import explorer.data as data\n"
        "data.windows(data.load_sample('us_macro'), 8)\n"
        "data.synthetic(n_steps=50)\n"
        "data.load_csv(b'a,b\\n1,2\\n')\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'streamlit', 'torch', 'jax') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("module_name", ["loader", "samples", "synthetic", "windows"])
def test_docstring_examples_run(module_name):
    import doctest
    import importlib

    module = importlib.import_module(f"explorer.data.{module_name}")
    failures, attempted = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert attempted > 0 and failures == 0
