#!/usr/bin/env python3
"""Set up the project and run it: the README's commands.

    python3 dev.py app      # create .venv, install, start the Streamlit app
    python3 dev.py test     # create .venv, install, run the whole test suite
    python3 dev.py deploy   # create .venv, install, serve the app from replicas behind nginx
                            # (deploy/README.md; options go to deploy/launch.py, e.g. --replicas 4 --port 80)

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
# Debian package -> (the file of it that is used, what uses it).
SYSTEM_PACKAGES = {
    "chromium": (Path("/usr/bin/chromium"), "the browser tests (Playwright cannot download its own browser here)"),
    "nginx": (Path("/usr/sbin/nginx"), "the scale-out test and `dev.py deploy`"),
}


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


def ensure_system_packages(*packages: str) -> None:
    """Install those of `packages` (keys of SYSTEM_PACKAGES; PyPI has none of them) that are missing."""
    missing = [package for package in packages if not SYSTEM_PACKAGES[package][0].exists()]
    if not missing:
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        for package in missing:
            _say(f"{package} is missing and cannot be installed here (need root and apt-get), so "
                 f"{SYSTEM_PACKAGES[package][1]} will fail. Install it with: apt-get install -y {package}")
        return
    _say(f"installing Debian's {' and '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    _run("apt-get", "update", "-qq", env=env)
    _run("apt-get", "install", "-y", "-qq", *missing, env=env)


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else ""
    if command == "app":
        ensure_venv("app")
        args = [str(BIN / "streamlit"), "run", str(ROOT / "app.py"), *argv[2:]]
        os.chdir(ROOT)
        os.execv(args[0], args)
    if command == "deploy":
        ensure_venv("app")
        ensure_system_packages("nginx")
        os.execv(str(PYTHON), [str(PYTHON), str(ROOT / "deploy" / "launch.py"), *argv[2:]])
    if command == "test":
        ensure_venv("app,test")
        ensure_system_packages("chromium", "nginx")
        result = subprocess.run([str(PYTHON), "-m", "pytest", *argv[2:]], cwd=ROOT)
        return result.returncode
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
