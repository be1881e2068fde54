"""`ddi-cds serve` as a real process on a free loopback port, for tests and benchmarks that talk
to the service over HTTP (pytest-free: `bench/` scripts use it too).

The port is chosen before the start (the kernel's pick for a socket bound to port 0, then
closed), because the service must know its own URL when it starts: with trusted issuers it
checks tokens' `aud` against DDI_CDS_PUBLIC_BASE_URL, set here to the server's root unless the
caller sets it. Should another process take the port in between, the start is retried.

    server = start_server(data_dir, no_auth=False, env={"DDI_CDS_TRUSTED_ISSUERS_FILE": ...})
    requests.get(server.url)  # http://127.0.0.1:PORT/cds-services
    server.stop()             # SIGTERM, as an orchestrator would; server.kill() for SIGKILL

Another copy of the code (an older commit, exported) runs with `program=[sys.executable, "-m",
"cds_service"]`, `cwd=` its root and PYTHONPATH=its root in `env`: the console script would
import the package installed in this venv.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

CONSOLE_SCRIPT = Path(sys.executable).with_name("ddi-cds")
URL_PREFIX = "ddi-cds: serving CDS Hooks on "
STARTUP_TIMEOUT_S = 90.0
START_ATTEMPTS = 3  # a port taken between the choice and the bind


@dataclass
class ServerProcess:
    process: subprocess.Popen[str]
    root: str  # "http://127.0.0.1:PORT"
    data_dir: Path
    log: Path  # the server's stderr (its log)
    metrics_port: int | None = None  # its own /metrics port (--production), else the service's

    @property
    def metrics_url(self) -> str:
        if self.metrics_port is None:
            return f"{self.root}/metrics"
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def url(self) -> str:
        return f"{self.root}/cds-services"

    def memory_kib(self, field_name: str = "VmRSS") -> int:
        """A memory figure of /proc/<pid>/status (VmRSS: now, VmHWM: the peak so far), in KiB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(rf"^{field_name}:\s+(\d+) kB", status, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"no {field_name} in /proc/{self.process.pid}/status")
        return int(match.group(1))

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def log_since(self, offset: int) -> str:
        """The server's log from byte `offset` on (a 500's traceback is logged there)."""
        with self.log.open("rb") as log:
            log.seek(offset)
            return log.read(20_000).decode("utf-8", "replace")

    def log_tail(self, characters: int = 4000) -> str:
        return self.log_text()[-characters:]

    def stop(self) -> None:
        """SIGTERM: the service shuts its server down cleanly (SIGKILL after 10 s)."""
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close()

    def kill(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._close()

    def _close(self) -> None:
        if self.process.stdout:
            self.process.stdout.close()


def start_server(
    data_dir: Path,
    *,
    no_auth: bool,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    production: bool = False,
    program: Sequence[str] | None = None,
    cwd: Path | None = None,
) -> ServerProcess:
    """`ddi-cds serve --port <free port>` (plus `--no-auth`, `--production`), once its printed
    URL is read and /healthz answers; raises `RuntimeError` with the log's tail when it does not
    come up. `program` replaces the `ddi-cds` command (default: this venv's console script),
    `cwd` the working folder (default: this one)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log = log or data_dir / "server.log"
    for attempt in range(START_ATTEMPTS):
        offset = log.stat().st_size if log.exists() else 0
        try:
            return _start(data_dir, free_port(), no_auth, env or {}, log, production, program, cwd)
        except RuntimeError:
            text = _read_from(log, offset)  # Werkzeug's words, then gunicorn's
            lost_port = "Address already in use" in text or "Connection in use" in text
            if not lost_port or attempt == START_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def free_port() -> int:
    """A loopback port free now (the kernel's choice for port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _read_from(log: Path, offset: int) -> str:
    with log.open("rb") as text:
        text.seek(offset)
        return text.read().decode("utf-8", "replace")


def _start(
    data_dir: Path,
    port: int,
    no_auth: bool,
    env: Mapping[str, str],
    log: Path,
    production: bool,
    program: Sequence[str] | None = None,
    cwd: Path | None = None,
) -> ServerProcess:
    ddi_cds = list(program or [str(CONSOLE_SCRIPT)])
    command = [*ddi_cds, "serve", "--host", "127.0.0.1", "--port", str(port)]
    environment = {
        **os.environ,
        "DDI_CDS_DATA_DIR": str(data_dir),
        "DDI_CDS_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "PYTHONUNBUFFERED": "1",
        # --production serves /metrics on a port of its own (9464 unless told): a free one
        **({"DDI_CDS_METRICS_PORT": str(free_port())} if production else {}),
        **env,
    }
    metrics_port = environment.get("DDI_CDS_METRICS_PORT")
    with log.open("ab") as log_file:
        process = subprocess.Popen(  # noqa: S603 - the `ddi-cds` command, our arguments
            [
                *command,
                *(["--no-auth"] if no_auth else []),
                *(["--production"] if production else []),
            ],
            stdout=subprocess.PIPE,
            stderr=log_file,
            stdin=subprocess.DEVNULL,
            env=environment,
            cwd=cwd,
            text=True,
        )
    assert process.stdout is not None
    stdout = process.stdout
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    server = ServerProcess(process, "", data_dir, log, int(metrics_port) if metrics_port else None)
    try:
        try:
            line = lines.get(timeout=STARTUP_TIMEOUT_S)
        except queue.Empty:
            waited = f"{STARTUP_TIMEOUT_S:.0f} s"
            raise RuntimeError(f"ddi-cds serve printed no URL in {waited}") from None
        if not line.startswith(URL_PREFIX):
            raise RuntimeError(f"the server printed {line!r}; log:\n{server.log_tail()}")
        server.root = line.removeprefix(URL_PREFIX).strip().removesuffix("/cds-services")
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            try:
                if requests.get(f"{server.root}/healthz", timeout=2).status_code == 200:
                    return server
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline or not server.alive():
                raise RuntimeError(f"/healthz never answered 200; log:\n{server.log_tail()}")
            time.sleep(0.05)
    except BaseException:
        server.kill()
        raise
