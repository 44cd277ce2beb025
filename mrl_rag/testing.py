"""Test helpers: an OpenAI-compatible embeddings server over a real model, with faults.

Useful for testing code that talks to a remote embeddings API without the
network: it speaks the ``POST /v1/embeddings`` wire format on 127.0.0.1, runs a
real ``SentenceTransformer``, and can be told to answer the next requests with
a fault (429, 500, a slow answer, malformed JSON, a wrong number of vectors,
401).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["EmbeddingTestServer"]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (it timed out) is part of the tests; anything else is not."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class EmbeddingTestServer:
    """An OpenAI-compatible embeddings server on 127.0.0.1 with a fault plan.

    Args:
        model: Anything with ``encode(texts) -> array`` (a ``SentenceTransformer``).
        api_key: The key the server expects as ``Authorization: Bearer ...``
            (``None`` accepts any request).
        delay: Seconds each successful answer waits, to let requests overlap.

    Attributes:
        plan: Faults for the next requests, consumed in order; then every
            request succeeds. ``"429"``, ``"500"``, ``"401"``; ``"slow"`` (the
            headers after 1.5 s); ``"drip"`` (a correct answer, its body one
            byte every ``drip_interval`` seconds); ``"huge"`` (a valid answer of
            ``huge_bytes`` bytes, with its ``Content-Length``) and
            ``"huge_chunked"`` (the same, chunked, without a length);
            ``"malformed"``; ``"wrong_count"`` (one vector too few);
            ``"wider"`` (each vector one number longer); ``"strings"`` (each
            embedding a base64-like string).
        drip_interval: Seconds between the bytes of a ``"drip"`` answer.
        huge_bytes: The size of a ``"huge"`` answer.
        base_url: The API root to give a client (ends in ``/v1``).
        requests, max_in_flight, inputs: What the server saw.
        client_ports: The client's port for each request, in order of arrival;
            a repeated port is a reused connection.
    """

    def __init__(self, model: Any, *, api_key: str | None = None, delay: float = 0.02) -> None:
        self.model = model
        self.api_key = api_key
        self.delay = delay
        self.plan: list[str] = []
        self.drip_interval = 0.5
        self.huge_bytes = 4 * 2**20
        self.inputs: list[list[str]] = []
        self.client_ports: list[int] = []
        self.closed = threading.Event()
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.http = _QuietServer(("127.0.0.1", 0), self._handler())
        self.base_url = f"http://127.0.0.1:{self.http.server_address[1]}/v1"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    @property
    def connections(self) -> int:
        """How many distinct connections the requests so far arrived on."""
        return len(set(self.client_ports))

    def close(self) -> None:
        """Stop the server (a trickling answer stops at its next byte)."""
        self.closed.set()
        self.http.shutdown()
        self.http.server_close()

    def __enter__(self) -> EmbeddingTestServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, so clients can pool connections
            timeout = 60  # an idle kept-alive connection is dropped after a minute

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests += 1
                    server.client_ports.append(self.client_address[1])
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    fault = server.plan.pop(0) if server.plan else "ok"
                try:
                    self._answer(body, fault)
                except OSError:  # the client hung up mid-answer (it timed out, or gave up)
                    self.close_connection = True
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _send(self, status: int, payload: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _drip(self, payload: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.flush()
                for i in range(len(payload)):
                    if server.closed.wait(server.drip_interval):
                        break
                    self.wfile.write(payload[i : i + 1])
                self.close_connection = True

            def _chunked(self, payload: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                step = 64 * 1024
                for start in range(0, len(payload), step):
                    part = payload[start : start + step]
                    self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")

            def _answer(self, body: dict, fault: str) -> None:
                expected = f"Bearer {server.api_key}"
                if fault == "401" or (
                    server.api_key and self.headers.get("Authorization") != expected
                ):
                    error = {"error": {"message": "bad key"}}
                    return self._send(401, json.dumps(error).encode())
                if fault == "429":
                    return self._send(429, b"{}", {"Retry-After": "0"})
                if fault == "500":
                    return self._send(500, b"{}")
                if fault == "slow":
                    time.sleep(1.5)
                if fault == "malformed":
                    return self._send(200, b"{not json")
                if fault in ("huge", "huge_chunked"):
                    payload = b"".join(_huge_answer(len(body["input"]), server.huge_bytes))
                    if fault == "huge":
                        return self._send(200, payload)
                    return self._chunked(payload)
                texts = body["input"]
                with server.lock:
                    server.inputs.append(list(texts))
                vectors = [[float(x) for x in v] for v in server.model.encode(texts)]
                if fault == "wrong_count":
                    vectors = vectors[:-1]
                if fault == "wider":
                    vectors = [[*v, 0.5] for v in vectors]
                data = [
                    {
                        "object": "embedding",
                        "index": i,
                        "embedding": "AAAAAA==" if fault == "strings" else v,
                    }
                    for i, v in enumerate(vectors)
                ]
                time.sleep(server.delay)
                answer = {"object": "list", "data": data, "model": body.get("model")}
                payload = json.dumps(answer).encode()
                if fault == "drip":
                    return self._drip(payload)
                return self._send(200, payload)

        return Handler


def _huge_answer(n: int, size: int) -> Iterator[bytes]:
    """A valid answer of about ``size`` bytes: ``n`` vectors of many small numbers."""
    numbers = max(1, size // (n * 5))  # "0.25," is 5 bytes
    vector = b"[" + b"0.25," * (numbers - 1) + b"0.25]"
    yield b'{"object": "list", "data": ['
    for i in range(n):
        yield b"," if i else b""
        yield b'{"object": "embedding", "index": %d, "embedding": ' % i + vector + b"}"
    yield b"]}"
