"""A client for OpenAI-compatible ``/v1/embeddings`` servers.

OpenAI itself, Text Embeddings Inference, vLLM, Infinity and Ollama all speak
this wire format. The client asks once for the full vector (truncation happens
locally, so the funnel gets full and truncated vectors from one request),
batches inputs, runs a bounded number of requests at once, and handles faults
as a careful client does: a timeout on every request; retries with exponential
backoff and jitter on 429, 5xx, timeouts and refused connections, honouring
``Retry-After``; clear errors on 4xx and on malformed answers, which never
contain the API key.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import os
import random
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from mrl_rag._errors import RemoteEmbeddingError
from mrl_rag._validation import check_count, check_texts
from mrl_rag.encoders.base import InputType, with_prompt

__all__ = ["OpenAICompatibleEncoder"]


class _RetryableError(Exception):
    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.wait = reason, wait


class OpenAICompatibleEncoder:
    """Embeds texts through an OpenAI-compatible embeddings API.

    Args:
        model: The model name the server knows, for example
            ``"text-embedding-3-small"`` or ``"nomic-ai/nomic-embed-text-v1.5"``.
        base_url: The API root, ending before ``/embeddings``
            (``"https://api.openai.com/v1"``, ``"http://localhost:8080/v1"``).
        api_key: The key; by default read from the ``api_key_env`` variable.
            Servers that need none (a local TEI) work without it.
        api_key_env: Environment variable holding the key.
        timeout: Seconds allowed for each request.
        max_retries: Retries of one request after a 429, a 5xx, a timeout or a
            refused connection (so at most ``max_retries + 1`` attempts).
        batch_size: Texts per request (OpenAI allows up to 2048).
        max_concurrency: Requests in flight at once.
        backoff: First retry delay in seconds; doubled per retry, with jitter.
        max_backoff: Longest delay between retries, ``Retry-After`` included.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str = "https://api.openai.com/v1",
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 30.0,
        max_retries: int = 5,
        batch_size: int = 256,
        max_concurrency: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 20.0,
    ) -> None:
        if not isinstance(model, str) or not model:
            raise ValueError(f"model must be a non-empty string, got {model!r}.")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive (seconds), got {timeout}.")
        if backoff < 0 or max_backoff < 0:
            raise ValueError(f"backoff and max_backoff must be >= 0, got {backoff}, {max_backoff}.")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an integer >= 0, got {max_retries!r}.")
        self.model = model
        #: Unknown until the first answer: the embedder probes it when it needs it.
        self.full_dim: int | None = None
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key if api_key is not None else os.environ.get(api_key_env)
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.batch_size = check_count(batch_size, name="batch_size")
        self.max_concurrency = check_count(max_concurrency, name="max_concurrency")
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)

    def __repr__(self) -> str:  # never shows the key
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})"

    @property
    def model_name(self) -> str:
        """The model name the server knows (the :class:`~mrl_rag.encoders.Encoder` field)."""
        return self.model

    @property
    def url(self) -> str:
        """The embeddings endpoint."""
        return f"{self.base_url}/embeddings"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    # -- one request ------------------------------------------------------------

    def _parse(self, response: httpx.Response, batch: Sequence[str]) -> list[list[float]]:
        status = response.status_code
        if status == 429 or status >= 500:
            raise _RetryableError(f"HTTP {status}", _retry_after(response))
        if 300 <= status < 400:
            raise RemoteEmbeddingError(
                f"{self.url} answered HTTP {status}, a redirect to "
                f"{response.headers.get('Location', '?')!r}; use that address as base_url."
            )
        if status >= 400:
            detail = response.text
            with contextlib.suppress(Exception):  # keep the raw text as the detail
                detail = str(response.json()["error"]["message"])
            hint = " Check the API key." if status in (401, 403) else ""
            # Redact before cutting, so no part of the key survives the cut.
            raise RemoteEmbeddingError(
                f"{self.url} answered HTTP {status}: {self._redact(detail)[:300]}.{hint}"
            )
        try:
            items = response.json()["data"]
            items = sorted(items, key=lambda item: item["index"])
            indices = [item["index"] for item in items]
            vectors = [item["embedding"] for item in items]
        except Exception as exc:
            raise RemoteEmbeddingError(
                f"{self.url} answered with malformed JSON (expected {{'data': [{{'index', "
                f"'embedding'}}]}}): {self._redact(response.text)[:200]!r}"
            ) from exc
        if len(vectors) != len(batch):
            raise RemoteEmbeddingError(
                f"{self.url} returned {len(vectors)} vectors for {len(batch)} texts; the "
                "server dropped or added inputs (is its batch limit below batch_size?)."
            )
        if indices != list(range(len(batch))):
            raise RemoteEmbeddingError(
                f"{self.url} returned indices {indices[:10]}..., not 0..{len(batch) - 1}."
            )
        try:
            array = np.asarray(vectors, dtype=np.float32)
        except (TypeError, ValueError):
            raise RemoteEmbeddingError(
                f"{self.url} returned embeddings that are not lists of floats (base64? set "
                "encoding_format='float' on the server): {exc}"
            ) from None
        if array.ndim != 2 or not np.isfinite(array).all():
            raise RemoteEmbeddingError(
                f"{self.url} returned embeddings of uneven length or with null/NaN values."
            )
        return vectors

    def _wait(self, attempt: int, retry: _RetryableError) -> float:
        if retry.wait is not None:
            return min(self.max_backoff, retry.wait)
        return min(self.max_backoff, self.backoff * 2**attempt) * (0.5 + random.random() / 2)

    def _give_up(self, retry: _RetryableError) -> RemoteEmbeddingError:
        return RemoteEmbeddingError(
            f"{self.url} failed {self.max_retries + 1} times ({retry.reason}); giving up. "
            "Is the server running and reachable, and within its rate limits?"
        )

    def _body(self, batch: Sequence[str]) -> dict[str, Any]:
        return {"model": self.model, "input": list(batch), "encoding_format": "float"}

    @contextlib.contextmanager
    def _transport_errors(self) -> Iterator[None]:
        """Map httpx's errors: retry timeouts and lost connections, not configuration."""
        try:
            yield
        except httpx.TimeoutException:
            raise _RetryableError(f"no answer within {self.timeout:g} s") from None
        except (httpx.UnsupportedProtocol, httpx.ProxyError) as exc:
            raise RemoteEmbeddingError(
                f"Cannot reach {self.url}: {exc}. Is base_url a full URL such as "
                "'http://localhost:8080/v1'?"
            ) from None
        except httpx.TransportError as exc:
            raise _RetryableError(f"connection failed: {type(exc).__name__}") from None

    def _post(self, client: httpx.Client, batch: Sequence[str]) -> list[list[float]]:
        for attempt in range(self.max_retries + 1):
            try:
                with self._transport_errors():
                    response = client.post(
                        self.url, json=self._body(batch), headers=self._headers()
                    )
                return self._parse(response, batch)
            except _RetryableError as retry:
                if attempt == self.max_retries:
                    raise self._give_up(retry) from None
                time.sleep(self._wait(attempt, retry))
        raise AssertionError("unreachable")

    async def _apost(self, client: httpx.AsyncClient, batch: Sequence[str]) -> list[list[float]]:
        for attempt in range(self.max_retries + 1):
            try:
                with self._transport_errors():
                    response = await client.post(
                        self.url, json=self._body(batch), headers=self._headers()
                    )
                return self._parse(response, batch)
            except _RetryableError as retry:
                if attempt == self.max_retries:
                    raise self._give_up(retry) from None
                await asyncio.sleep(self._wait(attempt, retry))
        raise AssertionError("unreachable")

    # -- many texts -------------------------------------------------------------

    def _batches(self, texts: Sequence[str]) -> list[Sequence[str]]:
        texts = check_texts(texts)
        return [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]

    def encode(
        self, texts: Sequence[str], *, input_type: InputType = "document", prompt: str = ""
    ) -> npt.NDArray[np.float32]:
        """Full vectors of ``texts``, each sent as ``prompt + text``, in order.

        ``input_type`` is not sent: the OpenAI wire format has no such field,
        so queries and documents differ only by their prompt.
        """
        batches = self._batches(with_prompt(texts, prompt))
        if not batches:
            return np.zeros((0, 0), dtype=np.float32)
        limits = httpx.Limits(max_connections=self.max_concurrency)
        with httpx.Client(timeout=self.timeout, limits=limits) as client:
            if len(batches) == 1:
                results = [self._post(client, batches[0])]
            else:
                with ThreadPoolExecutor(self.max_concurrency) as pool:
                    results = list(pool.map(lambda b: self._post(client, b), batches))
        return _stack(results, self.url)

    async def aencode(
        self, texts: Sequence[str], *, input_type: InputType = "document", prompt: str = ""
    ) -> npt.NDArray[np.float32]:
        """:meth:`encode` for asyncio, with at most ``max_concurrency`` requests in flight."""
        batches = self._batches(with_prompt(texts, prompt))
        if not batches:
            return np.zeros((0, 0), dtype=np.float32)
        gate = asyncio.Semaphore(self.max_concurrency)

        async def one(client: httpx.AsyncClient, batch: Sequence[str]) -> list[list[float]]:
            async with gate:
                return await self._apost(client, batch)

        async with httpx.AsyncClient(timeout=self.timeout) as client:
            results = await asyncio.gather(*(one(client, b) for b in batches))
        return _stack(results, self.url)


def _stack(results: Sequence[list[list[float]]], url: str) -> npt.NDArray[np.float32]:
    rows = [vector for batch in results for vector in batch]
    widths = {len(row) for row in rows}
    if len(widths) != 1:
        raise RemoteEmbeddingError(
            f"{url} returned vectors of different lengths: {sorted(widths)}."
        )
    return np.asarray(rows, dtype=np.float32)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # unreadable: fall back to exponential backoff
    return max(0.0, parsed.timestamp() - time.time())
