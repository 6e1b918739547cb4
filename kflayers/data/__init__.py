"""Data for the layers: bundled real samples, a synthetic generator, a forgiving CSV loader, windows.

Only numpy and pandas are used here (no TensorFlow, no Streamlit), so the app's
home page can load data without importing a deep-learning framework.
"""

from kflayers.data.errors import DataError
from kflayers.data.loader import MAX_BYTES, MAX_COLUMNS, MAX_ROWS, load_csv
from kflayers.data.samples import SAMPLES, load_sample
from kflayers.data.synthetic import synthetic
from kflayers.data.windows import Windows, windows

__all__ = [
    "DataError",
    "MAX_BYTES",
    "MAX_COLUMNS",
    "MAX_ROWS",
    "SAMPLES",
    "Windows",
    "load_csv",
    "load_sample",
    "synthetic",
    "windows",
]
