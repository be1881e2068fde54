"""`ddi-cds serve --production`: the service under gunicorn.

Why these choices:
- **workers = cores** (or `DDI_CDS_WORKERS`): scoring pairs is CPU work in torch, one thread
  per worker, so more workers than cores only contend;
- **gthread, `DDI_CDS_THREADS` threads a worker** (4): a hook call may wait on the EHR's FHIR
  server (up to its 1.2 s budget), and the other threads keep the worker's core busy meanwhile;
- **preload**: the drug index, the knowledge and the model (about 400 MB) are loaded once in the
  master, and the forked workers share those pages copy-on-write;
- **graceful timeouts**: on SIGTERM (a Kubernetes rollout) a worker finishes the calls it holds
  (well under the 20 s grace) before it exits; a worker stuck for 30 s is replaced;
- **metrics across workers**: prometheus-client's multi-process mode, in a folder made fresh at
  each start (`PROMETHEUS_MULTIPROC_DIR`, set before anything imports prometheus-client's values).

`deploy/gunicorn.conf.py` gives the same options to a plain `gunicorn` command line.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from cds_service.config import Settings

GRACEFUL_TIMEOUT_S = 20
WORKER_TIMEOUT_S = 30
KEEPALIVE_S = 5  # EHRs reuse connections between the hooks of one order session


def gunicorn_options(settings: Settings, bind: str) -> dict[str, Any]:
    """`bind` is the service's address; /metrics gets a listener of its own on the same host
    (`Settings.metrics_port_in_use`), which answers nothing else."""
    metrics_port = settings.metrics_port_in_use
    host = bind.rsplit(":", 1)[0]
    return {
        "bind": [bind] + ([f"{host}:{metrics_port}"] if metrics_port is not None else []),
        "workers": settings.workers or os.cpu_count() or 1,
        "worker_class": "gthread",
        "threads": settings.threads,
        "preload_app": True,
        "timeout": WORKER_TIMEOUT_S,
        "graceful_timeout": GRACEFUL_TIMEOUT_S,
        "keepalive": KEEPALIVE_S,
        "accesslog": None,  # the service logs each hook call itself, pseudonymised
        "errorlog": "-",
        "post_fork": post_fork,
        "child_exit": child_exit,
        "when_ready": when_ready,
    }


def prepare_metrics_folder() -> Path:
    """A fresh folder for the workers' metric files (stale files would add old counts)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    path = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="ddi-cds-metrics-"))
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path


def post_fork(server: Any, worker: Any) -> None:
    import torch  # already loaded by the preloaded app: this only sets the worker's threads

    torch.set_num_threads(1)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def when_ready(server: Any) -> None:
    host, port = server.LISTENERS[0].sock.getsockname()[:2]  # the port, when 0 was asked for
    print(f"ddi-cds: serving CDS Hooks on http://{host}:{port}/cds-services", flush=True)
    for listener in server.LISTENERS[1:]:
        host, port = listener.sock.getsockname()[:2]
        print(f"ddi-cds: serving /metrics on http://{host}:{port}/metrics", flush=True)


class ProductionServer(BaseApplication):
    def __init__(self, settings: Settings, bind: str) -> None:
        self.settings = settings
        self.options = gunicorn_options(settings, bind)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from cds_service.app import create_app

        return create_app(self.settings)


def serve(settings: Settings, host: str, port: int) -> int:
    prepare_metrics_folder()
    ProductionServer(settings, f"{host}:{port}").run()
    return 0
