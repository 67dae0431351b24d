"""The worker's HTTP endpoint: Prometheus metrics on /metrics, its health on /healthz (and
/-/healthy), served from a daemon thread while the worker runs.

Healthy means a cycle succeeded, or a batch of the running job ended, within the last
``unhealthy_after_cycles`` cycle intervals and never less than MIN_UNHEALTHY_SECONDS: a nightly
reconcile holds cycles back for many minutes while its batches go on ending. Before the first
success the worker's start counts as one, so a worker that is starting is healthy.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from feedgen.config import MetricsConfig
from feedgen.errors import ConfigError

from .metrics import WorkerMetrics

HEALTH_PATHS = ("/healthz", "/-/healthy")
# A batch (200 feeds, a storage listing) can take a minute on a slow store: not a hang.
MIN_UNHEALTHY_SECONDS = 120.0
StartResponse = Callable[..., Any]


class Health:
    def __init__(
        self,
        metrics: WorkerMetrics,
        cycle_seconds: float,
        after_cycles: int,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.metrics = metrics
        self.limit = max(cycle_seconds * after_cycles, MIN_UNHEALTHY_SECONDS)
        self.clock = clock or metrics.clock

    def check(self) -> tuple[bool, str]:
        """Healthy or not, and a line saying why."""
        last = self.metrics.succeeded_at("cycle")
        since = last if last is not None else self.metrics.started_at
        if self.clock() - max(since, self.metrics.progressed_at) <= self.limit:
            return True, "ok"
        when = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        what = "since" if last is not None else "since the worker started at"
        return False, f"no cycle succeeded {what} {when} ({self.clock() - since:.0f} s ago)"


def make_app(metrics: WorkerMetrics, health: Health) -> Callable[..., Iterable[bytes]]:
    """prometheus_client's WSGI app, with the health paths answered before it."""
    prometheus = make_wsgi_app(metrics.registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in HEALTH_PATHS:
            ok, line = health.check()
            status = "200 OK" if ok else "503 Service Unavailable"
            start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
            return [f"{line}\n".encode()]
        return prometheus(environ, start_response)  # type: ignore[no-any-return]

    return app


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        """A scrape every 15 s is not worth a log line."""


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a client that hangs never holds the worker's exit

    def __init__(self, address: tuple[str, int], *args: Any, **kwargs: Any) -> None:
        if ":" in address[0]:  # an IPv6 address such as "::"
            self.address_family = socket.AF_INET6
        super().__init__(address, *args, **kwargs)


class MetricsServer:
    """The endpoint on ``address``:``port`` (port 0: a free one, see ``self.port``)."""

    def __init__(self, metrics: WorkerMetrics, health: Health, address: str, port: int) -> None:
        try:
            self.server = make_server(
                address, port, make_app(metrics, health), _Server, handler_class=_Quiet
            )
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ConfigError(
                "metrics.port", f"cannot listen on {address}:{port}: {reason} (0 serves nothing)"
            ) from None
        self.address = address
        self.port = self.server.server_port
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="feedgen-metrics", daemon=True
        )

    @classmethod
    def from_config(
        cls, metrics: WorkerMetrics, config: MetricsConfig, cycle_seconds: float
    ) -> MetricsServer | None:
        if not config.port:
            return None
        health = Health(metrics, cycle_seconds, config.unhealthy_after_cycles)
        return cls(metrics, health, config.address, config.port)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        if self.thread.is_alive():  # shutdown() waits for a serve_forever that never began
            self.server.shutdown()
            self.thread.join()
        self.server.server_close()

    def __enter__(self) -> MetricsServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
