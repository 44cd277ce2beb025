"""Test helpers: an OpenAI-compatible embeddings server over a real model, with faults.

Useful for testing code that talks to a remote embeddings API without the
network: it speaks the ``POST /v1/embeddings`` wire format on 127.0.0.1, runs a
real ``SentenceTransformer``, and can be told to answer the next requests with
a fault (429, 500, a slow answer, malformed JSON, a wrong number of vectors,
401).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["EmbeddingTestServer"]


class EmbeddingTestServer:
    """An OpenAI-compatible embeddings server on 127.0.0.1 with a fault plan.

    Args:
        model: Anything with ``encode(texts) -> array`` (a ``SentenceTransformer``).
        api_key: The key the server expects as ``Authorization: Bearer ...``
            (``None`` accepts any request).
        delay: Seconds each successful answer waits, to let requests overlap.

    Attributes:
        plan: Faults for the next requests, consumed in order: ``"429"``,
            ``"500"``, ``"401"``, ``"slow"`` (1.5 s), ``"malformed"``,
            ``"wrong_count"``; then every request succeeds.
        base_url: The API root to give a client (ends in ``/v1``).
        requests, max_in_flight, inputs: What the server saw.
    """

    def __init__(self, model: Any, *, api_key: str | None = None, delay: float = 0.02) -> None:
        self.model = model
        self.api_key = api_key
        self.delay = delay
        self.plan: list[str] = []
        self.inputs: list[list[str]] = []
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base_url = f"http://127.0.0.1:{self.http.server_address[1]}/v1"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop the server."""
        self.http.shutdown()
        self.http.server_close()

    def __enter__(self) -> EmbeddingTestServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests += 1
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    fault = server.plan.pop(0) if server.plan else "ok"
                try:
                    self._answer(body, fault)
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
                texts = body["input"]
                with server.lock:
                    server.inputs.append(list(texts))
                vectors = server.model.encode(texts)
                if fault == "wrong_count":
                    vectors = vectors[:-1]
                data = [
                    {"object": "embedding", "index": i, "embedding": [float(x) for x in v]}
                    for i, v in enumerate(vectors)
                ]
                time.sleep(server.delay)
                answer = {"object": "list", "data": data, "model": body.get("model")}
                return self._send(200, json.dumps(answer).encode())

        return Handler
