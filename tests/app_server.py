"""Servers and a browser for the browser tests and the latency benchmark.

The servers are started by deploy/launch.py (one `streamlit run` on loopback, or replicas behind nginx),
so tests, measurements and a deployment run the app the same way. Playwright cannot download its own
browsers here, so it drives Debian's chromium at /usr/bin/chromium.
"""

from __future__ import annotations

from pathlib import Path

from deploy.launch import ROOT, free_port, scale_out, streamlit_server  # noqa: F401  (shared with the tests)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def launch_chromium(playwright):
    """Debian's chromium, headless, through Playwright; a clear failure if it is not installed."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing; install Debian's chromium (apt-get install -y chromium).")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
