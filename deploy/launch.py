"""Serve the app from several Streamlit replicas behind nginx, each browser session sticking to one replica.

    python3 deploy/launch.py --replicas 2 --port 8080              # http://127.0.0.1:8080
    python3 deploy/launch.py --replica-ports 8601,8602 --host 0.0.0.0 --port 80

Each replica is `streamlit run app.py` on its own loopback port; they share nothing but the checkout they
read (code and sample data) and one cookie secret. nginx gets a config generated from
deploy/nginx.conf.template in a temporary run directory, which also holds every log. Ctrl-C (or SIGTERM)
stops nginx and the replicas and removes the run directory.

The tests and benchmarks start their servers through `streamlit_server` and `scale_out` here, so that a
test, a measurement and a deployment run the app the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
TEMPLATE = Path(__file__).with_name("nginx.conf.template")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"  # /usr/sbin is not on every PATH
START_SECONDS = 120.0
STOP_SECONDS = 15.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Replica:
    url: str
    process: subprocess.Popen
    log: Path


@dataclass
class Deployment:
    url: str
    """The proxy's address, the one users open."""
    replicas: list[Replica]
    run_dir: Path
    """nginx's config and logs (access.log: `status method uri replica=host:port session=name` per request)
    and each replica's log."""
    launched: float
    """time.perf_counter() when the launch began, for start-up measurements."""


def _start_replica(script: Path, port: int, log: Path, environment: dict[str, str]) -> Replica:
    """Launch `streamlit run script` on loopback port `port` (with `environment` added) without waiting for it."""
    command = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1",
               "--server.fileWatcherType", "none"]  # usage statistics: off in .streamlit/config.toml
    # The log goes to a file: a pipe nobody reads could fill up and stall the server.
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **environment))
    return Replica(f"http://127.0.0.1:{port}", process, log)


def _wait_until_healthy(url: str, processes: list[subprocess.Popen], logs: list[Path], deadline: float) -> None:
    """Poll `url`'s health endpoint until it answers; fail with the logs if a process dies or time runs out.

    `logs[i]` is the log of `processes[i]`.
    """
    while True:
        with contextlib.suppress(OSError):
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                return
        exited = [log.stem for process, log in zip(processes, logs) if process.poll() is not None]
        if exited or time.perf_counter() > deadline:
            why = f"{', '.join(exited)} exited" if exited else "time ran out"
            shown = "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')}" for log in logs if log.exists())
            raise RuntimeError(f"{url} did not come up ({why}); the logs:\n{shown}")
        time.sleep(0.02)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def streamlit_server(script: Path = APP, start_seconds: float = START_SECONDS):
    """One `streamlit run script` on a free loopback port, stopped on exit.

    Yields (url, process, launched): `launched` is the perf_counter time of the launch.
    """
    with tempfile.TemporaryDirectory(prefix="kf-streamlit-") as folder:
        launched = time.perf_counter()
        replica = _start_replica(script, free_port(), Path(folder) / "streamlit.log", {})
        try:
            _wait_until_healthy(replica.url, [replica.process], [replica.log], launched + start_seconds)
            yield replica.url, replica.process, launched
        finally:
            _stop(replica.process)


def nginx_config(listen: str, replica_ports: list[int], run_dir: Path) -> str:
    """deploy/nginx.conf.template filled in for these replicas, with every file nginx writes in `run_dir`."""
    # A replica that refuses a connection is skipped for 5 s; on loopback that means it is down.
    servers = "\n".join(f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in replica_ports)
    return (TEMPLATE.read_text().replace("@RUN_DIR@", str(run_dir)).replace("@LISTEN@", listen)
            .replace("@SERVERS@", servers))


@contextlib.contextmanager
def scale_out(script: Path = APP, replicas: int = 2, port: int | None = None, host: str = "127.0.0.1",
              replica_ports: list[int] | None = None, start_seconds: float = START_SECONDS):
    """`replicas` Streamlit replicas of `script` behind nginx on host:port; yields a Deployment.

    Ports default to free loopback ports. All replicas start at once; this yields when every replica, and
    then the proxy, answers a health check.
    """
    if not Path(NGINX).exists():
        raise RuntimeError(f"nginx is missing ({NGINX}); install Debian's nginx with `apt-get install -y nginx` "
                           "(python3 dev.py test does so when run as root).")
    replica_ports = replica_ports or [free_port() for _ in range(replicas)]
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="kf-scale-out-") as folder:
        run_dir = Path(folder)
        run_dir.chmod(0o755)  # nginx's workers run as an unprivileged user when nginx is started as root
        launched = time.perf_counter()
        # One cookie secret for all replicas, so the cookies Streamlit signs (its XSRF token) hold on any of them.
        # (Streamlit takes the secret from its environment only, never from the command line.)
        shared = {"STREAMLIT_SERVER_COOKIE_SECRET": secrets.token_hex(32)}
        started = []
        try:
            for index, replica_port in enumerate(replica_ports):
                started.append(_start_replica(script, replica_port, run_dir / f"replica-{index}.log", shared))
            config = run_dir / "nginx.conf"
            config.write_text(nginx_config(f"{host}:{port}", replica_ports, run_dir))
            error_log = run_dir / "nginx-error.log"
            nginx = subprocess.Popen([NGINX, "-p", str(run_dir), "-c", str(config), "-e", str(error_log)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                logs = [r.log for r in started] + [error_log]
                processes = [r.process for r in started] + [nginx]
                deadline = launched + start_seconds
                for replica in started:
                    _wait_until_healthy(replica.url, processes, logs, deadline)
                proxy_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
                url = f"http://{proxy_host}:{port}"
                _wait_until_healthy(url, processes, logs, deadline)
                yield Deployment(url, started, run_dir, launched)
            finally:
                _stop(nginx)  # SIGTERM: nginx's fast shutdown, which does not wait for open websockets
        finally:
            for replica in started:
                _stop(replica.process)


def _interrupt(signum, frame):
    """SIGTERM ends the run as Ctrl-C does, so nginx and the replicas are stopped either way."""
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=2, help="number of Streamlit replicas (default 2)")
    parser.add_argument("--replica-ports", type=lambda text: [int(p) for p in text.split(",")],
                        help="comma-separated loopback ports of the replicas (sets their number; default: free ports)")
    parser.add_argument("--port", type=int, default=8080, help="port nginx listens on (default 8080)")
    parser.add_argument("--host", default="127.0.0.1", help="address nginx listens on (0.0.0.0 for every interface)")
    parser.add_argument("--script", type=Path, default=APP, help="the Streamlit script (default app.py)")
    args = parser.parse_args()
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with scale_out(args.script, args.replicas, args.port, args.host, args.replica_ports) as deployment:
            print(f"serving {args.script.name} at {deployment.url} from "
                  + ", ".join(r.url for r in deployment.replicas), flush=True)
            print(f"config and logs in {deployment.run_dir}; Ctrl-C stops everything", flush=True)
            signal.pause()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
