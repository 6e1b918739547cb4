"""Run a Streamlit script on loopback and launch Debian's chromium for it.

Shared by the browser tests and benchmarks/bench_app.py, so that every
measurement and test starts the app the same way. Playwright cannot download
its own browsers here, so it drives /usr/bin/chromium.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(script: Path = ROOT / "app.py", start_seconds: float = 120):
    """`streamlit run script` from the repository root on a free loopback port.

    Yields (url, process, launched): `launched` is the perf_counter time of
    the launch, for start-up measurements. The server's log goes to a
    temporary file (a pipe nobody reads could fill up and stall the server)
    and is shown if the server does not come up.
    """
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    with tempfile.TemporaryFile() as log:
        launched = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        url = f"http://127.0.0.1:{port}"
        try:
            while True:
                with contextlib.suppress(OSError):
                    if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                        break
                if process.poll() is not None or time.perf_counter() > launched + start_seconds:
                    log.seek(0)
                    raise RuntimeError(f"streamlit did not start for {script}:\n"
                                       + log.read().decode(errors="replace"))
                time.sleep(0.02)
            yield url, process, launched
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def launch_chromium(playwright):
    """Debian's chromium, headless, through Playwright; a clear failure if it is not installed."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing; install Debian's chromium (apt-get install -y chromium).")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
