#!/usr/bin/env python3
"""Set up the project and run it: the README's two commands.

    python3 dev.py app    # create .venv, install, start the Streamlit app
    python3 dev.py test   # create .venv, install, run the whole test suite

Only the standard library is used here, because this script runs before
anything is installed. The virtual environment is reinstalled only when
pyproject.toml changes (a hash of it is kept in .venv/.installed).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
CHROMIUM = Path("/usr/bin/chromium")


def _say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def _run(*cmd: str | Path, **kwargs) -> None:
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def ensure_venv(extra: str) -> None:
    """Create .venv and install the project (with the optional `extra`), unless already current."""
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extra.encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    if not PYTHON.exists():
        _say(f"creating virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    target = f".[{extra}]" if extra else "."
    _say(f"installing {target} (the first run downloads TensorFlow: a few minutes)")
    _run(PYTHON, "-m", "pip", "install", "--upgrade", "pip", "--quiet")
    _run(PYTHON, "-m", "pip", "install", "-e", target, cwd=ROOT)
    STAMP.write_text(wanted)


def ensure_chromium() -> None:
    """The browser tests drive Debian's chromium; Playwright cannot download its own here."""
    if CHROMIUM.exists():
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        _say("chromium is missing and cannot be installed here (need root and apt-get); "
             "browser tests will fail. Install it with: apt-get install -y chromium")
        return
    _say("installing Debian's chromium for the browser tests")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    _run("apt-get", "update", "-qq", env=env)
    _run("apt-get", "install", "-y", "-qq", "chromium", env=env)


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else ""
    if command == "app":
        ensure_venv("app")
        args = [str(BIN / "streamlit"), "run", str(ROOT / "app.py"), *argv[2:]]
        os.chdir(ROOT)
        os.execv(args[0], args)
    if command == "test":
        ensure_venv("app,test")
        ensure_chromium()
        result = subprocess.run([str(PYTHON), "-m", "pytest", *argv[2:]], cwd=ROOT)
        return result.returncode
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
