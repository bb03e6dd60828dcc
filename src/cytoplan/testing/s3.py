"""A local S3 server for tests and benchmarks (moto on 127.0.0.1), counting bytes served.

Needs the ``test`` extra (``moto[server]``, ``boto3``). Nothing here talks to
any address but the loopback server it starts.

The server wraps moto's WSGI application in a middleware that

* records every request (method, path, ``Range`` header, status, bytes of body
  sent), so a test can assert how many bytes a lazy scan read, and
* can answer the next *n* requests for a path with an error (``503 SlowDown``
  by default), to exercise retries.

Examples
--------
>>> with LocalS3Server() as server:  # doctest: +SKIP
...     server.create_bucket("cellpainting-gallery", public=True)
...     server.put("cellpainting-gallery", "a/b.parquet", b"...", public=True)
...     opts = server.storage_options(anonymous=True)
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from types import TracebackType

__all__ = ["LocalS3Server", "Request"]

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"
_FAULT_CODES = {403: "AccessDenied", 404: "NoSuchKey", 500: "InternalError", 503: "SlowDown"}


@dataclass(frozen=True)
class Request:
    """One request the server answered."""

    method: str
    path: str
    range: str | None
    status: int
    body_bytes: int


class _Middleware:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.requests: list[Request] = []
        self.faults: dict[str, list[int]] = {}
        self.in_flight = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "")
        with self.lock:
            pending = self.faults.get(path)
            fault = pending.pop(0) if pending else None
            self.in_flight += 1
        if fault is not None:
            code = _FAULT_CODES.get(fault, "InternalError")
            body = f"<Error><Code>{code}</Code><Message>injected fault</Message></Error>".encode()
            headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
            start_response(f"{fault} {code}", headers)
            return self._counted(method, path, environ, [fault], [body])
        status: list[int] = []

        def recording_start(code: str, headers: Any, *rest: Any) -> Any:
            status.append(int(code.split()[0]))
            return start_response(code, headers, *rest)

        try:
            body_iter = self.app(environ, recording_start)
        except BaseException:
            with self.lock:
                self.in_flight -= 1
            raise
        return self._counted(method, path, environ, status, body_iter)

    def _counted(
        self,
        method: str,
        path: str,
        environ: dict[str, Any],
        status: list[int],
        body: Iterable[bytes],
    ) -> Iterator[bytes]:
        """Yield the body; count a chunk once the server has written it to the socket.

        A client that hangs up early (e.g. after the headers of a full GET) is
        charged only for what was sent.
        """
        sent = 0
        try:
            for chunk in body:
                yield chunk
                sent += len(chunk)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            code = status[0] if status else 0
            with self.lock:
                self.requests.append(Request(method, path, environ.get("HTTP_RANGE"), code, sent))
                self.in_flight -= 1


class LocalS3Server:
    """moto's S3 on ``127.0.0.1`` with a free port; a context manager.

    Attributes
    ----------
    endpoint : str
        ``http://127.0.0.1:<port>``.
    """

    def __init__(self) -> None:
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._middleware: _Middleware | None = None
        self.endpoint = ""

    # -- lifecycle
    def start(self) -> LocalS3Server:
        """Start the server thread; return self."""
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._middleware = _Middleware(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            "127.0.0.1", 0, self._middleware, threaded=True, request_handler=MotoRequestHandler
        )
        host, port = self._server.server_address[:2]
        self.endpoint = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down and wait for its thread."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> LocalS3Server:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- clients and options
    def client(self) -> Any:
        """A boto3 S3 client with the dummy credentials."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def storage_options(self, *, anonymous: bool = False) -> dict[str, str]:
        """Polars/cytoplan storage options for this server (credentialed or anonymous)."""
        options = {"aws_endpoint_url": self.endpoint, "aws_region": REGION}
        if anonymous:
            options["aws_skip_signature"] = "true"
        else:
            options["aws_access_key_id"] = ACCESS_KEY
            options["aws_secret_access_key"] = SECRET_KEY
        return options

    def environment(self) -> dict[str, str]:
        """``AWS_*`` variables that point clients (and the CLI) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_ALLOW_HTTP": "true",
        }

    # -- content
    def create_bucket(self, bucket: str, *, public: bool = False) -> None:
        """Create ``bucket``; ``public`` grants anonymous reads (like the gallery)."""
        s3 = self.client()
        s3.create_bucket(Bucket=bucket)
        if public:
            s3.put_bucket_acl(Bucket=bucket, ACL="public-read")

    def put(self, bucket: str, key: str, body: bytes, *, public: bool = False) -> None:
        """Store one object (``public``: readable without credentials)."""
        extra = {"ACL": "public-read"} if public else {}
        self.client().put_object(Bucket=bucket, Key=key, Body=body, **extra)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key under ``prefix`` (sorted)."""
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    # -- accounting and faults
    @property
    def requests(self) -> list[Request]:
        """Every request answered since the last :meth:`reset_log`."""
        assert self._middleware is not None, "start() the server first"
        deadline = time.monotonic() + 5.0
        while self._middleware.in_flight and time.monotonic() < deadline:
            time.sleep(0.005)  # a response the client has read may still be closing
        with self._middleware.lock:
            return list(self._middleware.requests)

    def reset_log(self) -> None:
        """Forget the requests recorded so far."""
        assert self._middleware is not None, "start() the server first"
        self.requests  # noqa: B018 - wait for responses still closing
        with self._middleware.lock:
            self._middleware.requests.clear()

    def bytes_served(self, path_prefix: str = "/", method: str = "GET") -> int:
        """Body bytes sent for ``method`` requests whose path starts with ``path_prefix``."""
        return sum(
            r.body_bytes
            for r in self.requests
            if r.method == method and r.path.startswith(path_prefix)
        )

    def fail_next(self, path: str, times: int, status: int = 503) -> None:
        """Answer the next ``times`` requests for ``path`` (``/bucket/key``) with ``status``.

        The body carries the S3 error code of the status (503 ``SlowDown``,
        500 ``InternalError``, 403 ``AccessDenied``, 404 ``NoSuchKey``).
        """
        assert self._middleware is not None, "start() the server first"
        with self._middleware.lock:
            self._middleware.faults.setdefault(path, []).extend([status] * times)
