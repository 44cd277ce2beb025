"""A client for OpenAI-compatible ``/v1/embeddings`` servers.

OpenAI itself, Text Embeddings Inference, vLLM, Infinity and Ollama all speak
this wire format. The client asks once for the full vector (truncation happens
locally, so the funnel gets full and truncated vectors from one request),
batches inputs, runs a bounded number of requests at once over pooled
connections, and handles faults as a careful client does: a deadline on every
request attempt, a cap on the size of an answer, retries with exponential
backoff and jitter on 429, 5xx, timeouts and refused connections, honouring
``Retry-After``; clear errors on 4xx and on malformed answers, which never
contain the API key.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import numbers
import os
import random
import threading
import time
import unicodedata
from collections.abc import AsyncGenerator, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from mrl_rag._errors import ArgumentTypeError, InvalidArgumentError, RemoteEmbeddingError
from mrl_rag._validation import check_count, check_positive_number, check_texts
from mrl_rag.encoders.base import InputType, refuse_options, with_prompt

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "OpenAICompatibleEncoder"]

#: The default cap on one answer's body: 64 MiB. JSON spends about 20 bytes per
#: number, so a full batch of 256 texts at 3072 dimensions (OpenAI's largest
#: model) is about 16 MiB, a quarter of the cap, while a broken or hostile server
#: cannot make the client hold gigabytes.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 2**20


_NO_OPTIONS = (
    "the OpenAI embeddings format cannot carry them. Use the provider's own client "
    "(wrapped with LangChainEncoder or LlamaIndexEncoder), or a profile without them."
)


class _RetryableError(Exception):
    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.wait = reason, wait


class OpenAICompatibleEncoder:
    """Embeds texts through an OpenAI-compatible embeddings API.

    The encoder keeps one ``httpx.Client`` for :meth:`encode` (shared by its
    threads) and one ``httpx.AsyncClient`` per running event loop for
    :meth:`aencode`, so consecutive calls reuse their connections. Release them
    with :meth:`close` / :meth:`aclose` or by using the encoder as a (sync or
    async) context manager; a later call opens new connections. An async client
    is also closed when its loop is shut down by ``asyncio.run``.

    Args:
        model: The model name the server knows, for example
            ``"text-embedding-3-small"`` or ``"nomic-ai/nomic-embed-text-v1.5"``.
        base_url: The API root, ending before ``/embeddings``
            (``"https://api.openai.com/v1"``, ``"http://localhost:8080/v1"``).
        api_key: The key; by default read from the ``api_key_env`` variable.
            Servers that need none (a local TEI) work without it. A key with
            leading or trailing whitespace, a control character (a newline) or a
            non-ASCII character is refused here, at construction.
        api_key_env: Environment variable holding the key.
        timeout: Seconds allowed for each attempt of a request, from sending it
            to the last byte of the answer. The deadline is checked when the
            headers arrive and after every chunk of the body, and every network
            wait (for a pooled connection, connecting, sending, each read) is
            limited to the time left when the attempt started. So a server that
            trickles its answer is cut off at the first chunk after the
            deadline, and one that goes silent by that wait limit: once the
            headers have arrived, an attempt ends at most ``2 * timeout`` after
            it started. A timed-out attempt is retried like a 5xx.
        max_retries: Retries of one request after a 429, a 5xx, a timeout or a
            refused connection (so at most ``max_retries + 1`` attempts).
        batch_size: Texts per request (OpenAI allows up to 2048).
        max_concurrency: Requests in flight at once (and pooled connections).
        backoff: First retry delay in seconds; doubled per retry, with jitter.
        max_backoff: Longest delay between retries, ``Retry-After`` included.
        max_response_bytes: The largest answer body accepted, in bytes (see
            :data:`DEFAULT_MAX_RESPONSE_BYTES`). A larger ``Content-Length``, or
            more bytes received, is a :class:`~mrl_rag.RemoteEmbeddingError`
            and is not retried. Raise it for ``batch_size * full_dim * 20``
            bytes above the default.

    Attributes:
        full_dim: ``None`` until the first answer, then the width of the
            server's vectors; an answer of another width is an error.

    Raises:
        InvalidArgumentError: If a number is out of range, not finite or not a
            number, or the API key (given or from ``api_key_env``) holds
            whitespace at an end, a control character or a non-ASCII character.
        ArgumentTypeError: If ``model``, ``base_url``, ``api_key`` or
            ``api_key_env`` is not a string.
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
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        for name, value in (("model", model), ("base_url", base_url), ("api_key_env", api_key_env)):
            if not isinstance(value, str):
                raise ArgumentTypeError(f"{name} must be a string, got {type(value).__name__}.")
            if not value:
                raise InvalidArgumentError(f"{name} must be a non-empty string, got ''.")
        if isinstance(max_retries, bool) or not isinstance(max_retries, numbers.Integral):
            raise InvalidArgumentError(
                f"max_retries must be an integer >= 0, got {max_retries!r} "
                f"({type(max_retries).__name__})."
            )
        if max_retries < 0:
            raise InvalidArgumentError(f"max_retries must be an integer >= 0, got {max_retries}.")
        self.model = model
        #: Unknown until the first answer: the embedder probes it when it needs it.
        self.full_dim: int | None = None
        self.base_url = base_url.rstrip("/")
        self._api_key = _checked_key(api_key, api_key_env)
        self.timeout = check_positive_number(timeout, name="timeout")
        self.max_retries = int(max_retries)
        self.batch_size = check_count(batch_size, name="batch_size")
        self.max_concurrency = check_count(max_concurrency, name="max_concurrency")
        self.backoff = check_positive_number(backoff, name="backoff", allow_zero=True)
        self.max_backoff = check_positive_number(max_backoff, name="max_backoff", allow_zero=True)
        self.max_response_bytes = check_count(max_response_bytes, name="max_response_bytes")
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._async_clients: dict[
            asyncio.AbstractEventLoop, tuple[httpx.AsyncClient, AsyncGenerator[None, None]]
        ] = {}

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

    # -- pooled clients ---------------------------------------------------------

    def _limits(self) -> httpx.Limits:
        return httpx.Limits(
            max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency
        )

    def _sync_client(self) -> httpx.Client:
        with self._lock:
            if self._client is None or self._client.is_closed:
                self._client = httpx.Client(timeout=self.timeout, limits=self._limits())
            return self._client

    async def _async_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            for other in [other for other in self._async_clients if other.is_closed()]:
                del self._async_clients[other]  # its loop is gone; nothing can close it now
            held = self._async_clients.get(loop)
            if held is not None and not held[0].is_closed:
                return held[0]
            client = httpx.AsyncClient(timeout=self.timeout, limits=self._limits())
            keeper = _closed_at_loop_shutdown(client)
            self._async_clients[loop] = (client, keeper)
        # Starting the generator registers it with the loop, whose shutdown_asyncgens()
        # (run by asyncio.run) closes it, and so the client, in the loop it belongs to.
        await keeper.__anext__()
        return client

    def close(self) -> None:
        """Close the pooled connections of :meth:`encode` (a later call opens new ones).

        Async clients belong to their event loops: close them with :meth:`aclose`.
        """
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the running loop's async client and the sync client of :meth:`encode`."""
        self.close()
        with self._lock:
            held = self._async_clients.pop(asyncio.get_running_loop(), None)
        if held is not None:
            client, keeper = held
            await keeper.aclose()
            await client.aclose()

    def __del__(self) -> None:
        # An encoder dropped without close() still releases its sockets, as one
        # client per call did before pooling. Async clients need their loop.
        client = getattr(self, "_client", None)
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def __enter__(self) -> OpenAICompatibleEncoder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> OpenAICompatibleEncoder:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- one request ------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _parse(
        self, status: int, headers: Mapping[str, str], body: bytes, batch: Sequence[str]
    ) -> npt.NDArray[np.float32]:
        if status == 429 or status >= 500:
            raise _RetryableError(f"HTTP {status}", _retry_after(headers))
        text = body.decode("utf-8", "replace")
        if 300 <= status < 400:
            raise RemoteEmbeddingError(
                f"{self.url} answered HTTP {status}, a redirect to "
                f"{headers.get('Location', '?')!r}; use that address as base_url."
            )
        if status >= 400:
            detail = text
            with contextlib.suppress(Exception):  # keep the raw text as the detail
                detail = str(json.loads(body)["error"]["message"])
            hint = " Check the API key." if status in (401, 403) else ""
            # Redact before cutting, so no part of the key survives the cut.
            raise RemoteEmbeddingError(
                f"{self.url} answered HTTP {status}: {self._redact(detail)[:300]}.{hint}"
            )
        try:
            items = sorted(json.loads(body)["data"], key=lambda item: item["index"])
            indices = [item["index"] for item in items]
            vectors = [item["embedding"] for item in items]
        except Exception as exc:
            raise RemoteEmbeddingError(
                f"{self.url} answered with malformed JSON (expected {{'data': [{{'index', "
                f"'embedding'}}]}}): {self._redact(text)[:200]!r}"
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
        except (TypeError, ValueError) as exc:
            raise RemoteEmbeddingError(
                f"{self.url} returned embeddings that are not lists of floats of one length "
                f"(base64? the client asks for encoding_format='float'): {exc}"
            ) from None
        if array.ndim != 2 or array.shape[1] == 0 or not np.isfinite(array).all():
            raise RemoteEmbeddingError(
                f"{self.url} returned embeddings that are empty, of uneven length or with "
                "null/NaN values."
            )
        self._check_width(array.shape[1])
        return array

    def _check_width(self, width: int) -> None:
        with self._lock:
            if self.full_dim is None:
                self.full_dim = width
            elif width != self.full_dim:
                raise RemoteEmbeddingError(
                    f"{self.url} returned {width}-dimensional vectors, but its earlier answers "
                    f"were {self.full_dim}-dimensional; did the model behind the server change? "
                    "Use a new encoder (and a new store) for another model."
                )

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

    def _time_left(self, deadline: float) -> float:
        """Seconds to ``deadline``, or a retryable timeout once it has passed."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise _RetryableError(f"no complete answer within {self.timeout:g} s")
        return left

    def _check_length(self, response: httpx.Response) -> None:
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.max_response_bytes:
            raise self._too_large(f"its Content-Length is {int(length)}")

    def _take(self, body: bytearray, chunk: bytes, deadline: float) -> None:
        body += chunk
        if len(body) > self.max_response_bytes:
            raise self._too_large(f"{len(body)} bytes arrived before the client stopped")
        self._time_left(deadline)

    def _too_large(self, what: str) -> RemoteEmbeddingError:
        return RemoteEmbeddingError(
            f"{self.url} sent an answer larger than max_response_bytes="
            f"{self.max_response_bytes} ({what}); not retried. If answers this large are "
            "expected (about 20 bytes per number: batch_size x full_dim x 20), pass a larger "
            "max_response_bytes=... or a smaller batch_size."
        )

    @contextlib.contextmanager
    def _transport_errors(self) -> Iterator[None]:
        """Map httpx's errors: retry timeouts and lost connections, not configuration."""
        try:
            yield
        except httpx.TimeoutException:
            raise _RetryableError(f"no complete answer within {self.timeout:g} s") from None
        except (httpx.UnsupportedProtocol, httpx.ProxyError) as exc:
            raise RemoteEmbeddingError(
                f"Cannot reach {self.url}: {exc}. Is base_url a full URL such as "
                "'http://localhost:8080/v1'?"
            ) from None
        except httpx.TransportError as exc:
            raise _RetryableError(f"connection failed: {type(exc).__name__}") from None
        except httpx.HTTPError as exc:  # an undecodable body, for example
            raise RemoteEmbeddingError(f"{self.url} answered unreadably: {exc}") from None

    def _attempt(self, client: httpx.Client, batch: Sequence[str]) -> npt.NDArray[np.float32]:
        deadline = time.monotonic() + self.timeout
        body = bytearray()
        with (
            self._transport_errors(),
            client.stream(
                "POST",
                self.url,
                json=self._body(batch),
                headers=self._headers(),
                timeout=self._time_left(deadline),
            ) as response,
        ):
            self._time_left(deadline)
            self._check_length(response)
            for chunk in response.iter_bytes():
                self._take(body, chunk, deadline)
        return self._parse(response.status_code, response.headers, bytes(body), batch)

    async def _aattempt(
        self, client: httpx.AsyncClient, batch: Sequence[str]
    ) -> npt.NDArray[np.float32]:
        deadline = time.monotonic() + self.timeout
        body = bytearray()
        with self._transport_errors():
            async with client.stream(
                "POST",
                self.url,
                json=self._body(batch),
                headers=self._headers(),
                timeout=self._time_left(deadline),
            ) as response:
                self._time_left(deadline)
                self._check_length(response)
                async for chunk in response.aiter_bytes():
                    self._take(body, chunk, deadline)
        return self._parse(response.status_code, response.headers, bytes(body), batch)

    def _post(self, client: httpx.Client, batch: Sequence[str]) -> npt.NDArray[np.float32]:
        for attempt in range(self.max_retries + 1):
            try:
                return self._attempt(client, batch)
            except _RetryableError as retry:
                if attempt == self.max_retries:
                    raise self._give_up(retry) from None
                time.sleep(self._wait(attempt, retry))
        raise AssertionError("unreachable")

    async def _apost(
        self, client: httpx.AsyncClient, batch: Sequence[str]
    ) -> npt.NDArray[np.float32]:
        for attempt in range(self.max_retries + 1):
            try:
                return await self._aattempt(client, batch)
            except _RetryableError as retry:
                if attempt == self.max_retries:
                    raise self._give_up(retry) from None
                await asyncio.sleep(self._wait(attempt, retry))
        raise AssertionError("unreachable")

    # -- many texts -------------------------------------------------------------

    def _batches(self, texts: Sequence[str], prompt: str) -> list[list[str]]:
        checked = with_prompt(check_texts(texts), prompt)
        return [checked[i : i + self.batch_size] for i in range(0, len(checked), self.batch_size)]

    def _empty(self) -> npt.NDArray[np.float32]:
        return np.zeros((0, self.full_dim or 0), dtype=np.float32)

    def encode(
        self,
        texts: Sequence[str],
        *,
        input_type: InputType = "document",
        prompt: str = "",
        **options: Any,
    ) -> npt.NDArray[np.float32]:
        """Full vectors of ``texts``, each sent as ``prompt + text``, in order.

        ``input_type`` is not sent: the OpenAI wire format has no such field,
        so queries and documents differ only by their prompt, and a profile's
        model options (jina's ``task``) cannot be sent: they are refused. Batches
        run in a thread pool over the encoder's pooled ``httpx.Client``; the
        first failing batch stops those not yet started.

        Raises:
            InvalidTextError: If ``texts`` is not a list of non-empty strings.
            RemoteEmbeddingError: If the server fails after the retries, refuses
                the request, or answers something unusable or too large.
        """
        refuse_options(options, why=_NO_OPTIONS)
        batches = self._batches(texts, prompt)
        if not batches:
            return self._empty()
        client = self._sync_client()
        if len(batches) == 1:
            return self._post(client, batches[0])
        pool = ThreadPoolExecutor(min(self.max_concurrency, len(batches)))
        try:
            futures = [pool.submit(self._post, client, batch) for batch in batches]
            return np.concatenate([future.result() for future in futures])
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    async def aencode(
        self,
        texts: Sequence[str],
        *,
        input_type: InputType = "document",
        prompt: str = "",
        **options: Any,
    ) -> npt.NDArray[np.float32]:
        """:meth:`encode` for asyncio, with at most ``max_concurrency`` requests in flight.

        Uses the running loop's pooled ``httpx.AsyncClient``; the first failing
        batch cancels the others.
        """
        refuse_options(options, why=_NO_OPTIONS)
        batches = self._batches(texts, prompt)
        if not batches:
            return self._empty()
        client = await self._async_client()
        gate = asyncio.Semaphore(self.max_concurrency)

        async def one(batch: Sequence[str]) -> npt.NDArray[np.float32]:
            async with gate:
                return await self._apost(client, batch)

        tasks = [asyncio.ensure_future(one(batch)) for batch in batches]
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return np.concatenate(results)


async def _closed_at_loop_shutdown(client: httpx.AsyncClient) -> AsyncGenerator[None, None]:
    """Hold ``client`` open until the generator is closed, then close it."""
    try:
        yield
    finally:
        await client.aclose()


def _checked_key(api_key: str | None, api_key_env: str) -> str | None:
    """The API key, refused (without showing it) if a header cannot carry it as is."""
    source = "api_key"
    if api_key is None:
        api_key = os.environ.get(api_key_env)
        source = f"The environment variable {api_key_env}"
    if api_key is None:
        return None
    if not isinstance(api_key, str):
        raise ArgumentTypeError(f"api_key must be a string or None, got {type(api_key).__name__}.")
    bad = next(
        (c for c in api_key if unicodedata.category(c) == "Cc" or not c.isascii()),
        None,
    )
    if bad is not None:
        kind = (
            "a control character" if unicodedata.category(bad) == "Cc" else "a non-ASCII character"
        )
        problem = f"{kind} (U+{ord(bad):04X})"
    elif api_key != api_key.strip():
        problem = "leading or trailing whitespace"
    else:
        return api_key or None
    raise InvalidArgumentError(
        f"{source} holds an API key with {problem}, which an HTTP header cannot carry; "
        "remove it (a key copied with its newline?). The key is not shown."
    )


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
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
