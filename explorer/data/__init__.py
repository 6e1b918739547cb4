"""Data for the layers: bundled real samples, a synthetic generator, a forgiving CSV loader, windows.

Only numpy and pandas are used here (no TensorFlow, no Streamlit), so the app's
home page can load data without importing a deep-learning framework.
"""

from explorer.data.errors import DataError
from explorer.data.loader import DETECT, MAX_BYTES, MAX_COLUMNS, MAX_ROWS, load_csv
from explorer.data.samples import SAMPLES, load_sample
from explorer.data.synthetic import synthetic
from explorer.data.windows import Windows, windows

__all__ = [
    "DETECT",
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
