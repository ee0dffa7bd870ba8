"""Test doubles for services that cannot exist in the test environment.

Each fake here stands in for a remote service the tests must never reach (the Hetzner Cloud API,
the Hetzner metadata service at 169.254.169.254). They listen on loopback only, are driven by the
real client code, and check what they send against the published contract where one exists.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

S = TypeVar("S", bound="LoopbackServer")


class LoopbackServer:
    """What every fake shares: an HTTP server on loopback in a daemon thread, started by
    :meth:`start` (which subclasses define, building their handler and calling :meth:`_serve`),
    stopped by :meth:`stop`, usable as a context manager."""

    host: str = "127.0.0.1"
    thread_name: str = "fake"
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def start(self) -> Any:
        raise NotImplementedError

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._httpd = ThreadingHTTPServer((self.host, 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.02,), name=self.thread_name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self: S) -> S:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
