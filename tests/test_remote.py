"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1.

Why not a third-party server: `infinity-emb` 0.0.78 is on PyPI, but installing it
would downgrade numpy (2.4.6 -> 1.26.4) and huggingface_hub under
sentence-transformers 6.2 (checked with `pip install --dry-run "infinity-emb[server]"`).
So this file runs a small server that speaks the same wire format
(`POST /v1/embeddings` -> `{"data": [{"index", "embedding"}]}`) on top of the real
tiny model, with faults injected on request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import chromadb
import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from mrl_rag import (
    ArgumentTypeError,
    InvalidArgumentError,
    InvalidTextError,
    MatryoshkaEmbedder,
    MatryoshkaStore,
    OpenAICompatibleEncoder,
    RemoteEmbeddingError,
)
from mrl_rag.testing import EmbeddingTestServer

from .conftest import tiny_profile

KEY = "sk-test-secret-key-123"


@pytest.fixture(scope="module")
def st_model(tiny_model_path: Path) -> SentenceTransformer:
    return SentenceTransformer(str(tiny_model_path), device="cpu")


@pytest.fixture
def server(st_model) -> Iterator[EmbeddingTestServer]:
    srv = EmbeddingTestServer(st_model, api_key=KEY)
    yield srv
    srv.close()


def encoder(server: EmbeddingTestServer, **kwargs: object) -> OpenAICompatibleEncoder:
    kwargs = {"api_key": KEY, "timeout": 1.0, "max_retries": 3, "backoff": 0.01, **kwargs}
    return OpenAICompatibleEncoder("tiny-mrl", base_url=server.base_url, **kwargs)


def test_remote_embedder_matches_the_local_model(server, st_model) -> None:
    client = encoder(server)
    remote = MatryoshkaEmbedder(client, profile=tiny_profile())
    local = MatryoshkaEmbedder(st_model, profile=tiny_profile())
    texts = ["the cat and the dog", "paris is a city", "coffee or tea"]
    np.testing.assert_allclose(
        remote.embed_documents(texts), local.embed_documents(texts), atol=1e-5
    )
    np.testing.assert_allclose(
        remote.embed_query("cat", dim=16), local.embed_query("cat", dim=16), atol=1e-5
    )
    # Prefixes were applied by the client, and the full vector was asked for once per text.
    assert server.inputs[0] == [f"passage: {t}" for t in texts]
    assert server.inputs[1] == ["query: cat"]
    assert repr(client) in repr(remote)


def test_batches_run_concurrently_within_the_bound(server) -> None:
    texts = [f"cat {i}" for i in range(40)]
    vectors = encoder(server, batch_size=4, max_concurrency=3).encode(texts)
    assert vectors.shape == (40, 64)
    assert server.requests == 10 and 1 < server.max_in_flight <= 3
    assert [
        t for batch in sorted(server.inputs, key=lambda b: int(b[0].split()[1])) for t in batch
    ] == texts


async def test_async_encode(server, st_model) -> None:
    texts = [f"dog {i}" for i in range(12)]
    async with encoder(server, batch_size=5, max_concurrency=2) as client:
        vectors = await client.aencode(texts)
    np.testing.assert_allclose(vectors, st_model.encode(texts), atol=1e-5)
    assert server.max_in_flight <= 2


def test_429_then_success_honours_retry_after(server) -> None:
    server.plan = ["429", "429"]
    assert encoder(server).encode(["cat"]).shape == (1, 64)
    assert server.requests == 3


def test_repeated_500s_give_up_with_a_clear_error(server) -> None:
    server.plan = ["500"] * 10
    with pytest.raises(RemoteEmbeddingError, match=r"failed 4 times \(HTTP 500\); giving up"):
        encoder(server).encode(["cat"])
    assert server.requests == 4


def test_slow_answers_time_out_and_are_retried(server) -> None:
    server.plan = ["slow"]
    start = time.perf_counter()
    assert encoder(server, timeout=0.5).encode(["cat"]).shape == (1, 64)
    assert time.perf_counter() - start < 5
    server.plan = ["slow"] * 4
    with pytest.raises(RemoteEmbeddingError, match=r"no complete answer within 0.5 s"):
        encoder(server, timeout=0.5, max_retries=1).encode(["cat"])


def test_connection_refused() -> None:
    closed = OpenAICompatibleEncoder(
        "m", base_url="http://127.0.0.1:9/v1", max_retries=1, backoff=0.01
    )
    with pytest.raises(
        RemoteEmbeddingError, match=r"connection failed: ConnectError.*Is the server running"
    ):
        closed.encode(["cat"])


def test_malformed_json_and_wrong_counts_are_errors(server) -> None:
    server.plan = ["malformed"]
    with pytest.raises(RemoteEmbeddingError, match="malformed JSON"):
        encoder(server).encode(["cat"])
    server.plan = ["wrong_count"]
    with pytest.raises(RemoteEmbeddingError, match="returned 1 vectors for 2 texts"):
        encoder(server).encode(["cat", "dog"])


def test_4xx_errors_never_show_the_key(server) -> None:
    with pytest.raises(RemoteEmbeddingError) as caught:
        OpenAICompatibleEncoder("m", base_url=server.base_url, api_key="sk-wrong-key").encode(
            ["cat"]
        )
    assert "HTTP 401: bad key. Check the API key." in str(caught.value)
    assert "sk-wrong-key" not in str(caught.value) and "sk-wrong" not in repr(caught.value)
    assert KEY not in repr(encoder(server))


def test_key_is_read_from_the_environment(server, monkeypatch) -> None:
    monkeypatch.setenv("MY_EMBEDDINGS_KEY", KEY)
    remote = OpenAICompatibleEncoder("m", base_url=server.base_url, api_key_env="MY_EMBEDDINGS_KEY")
    assert remote.encode(["cat"]).shape == (1, 64)


def test_failed_add_leaves_the_store_as_it_was(server, tmp_path: Path) -> None:
    embedder = MatryoshkaEmbedder(encoder(server, max_retries=1), profile=tiny_profile())
    for client in (
        chromadb.PersistentClient(path=str(tmp_path / "db")),
        chromadb.EphemeralClient(),
    ):
        store = MatryoshkaStore(
            embedder, client=client, collection=f"remote-{id(client)}", search_dim=8
        )
        store.add(["cat and dog", "tea in tokyo"], ids=["a", "b"])
        before = [(h.id, h.score) for h in store.search("cat", k=2)]
        server.plan = ["500"] * 2
        with pytest.raises(RemoteEmbeddingError):
            store.add(["paris", "london", "berlin"], ids=["c", "d", "e"], batch_size=3)
        assert store.count() == 2
        assert [(h.id, h.score) for h in store.search("cat", k=2)] == before
        store.add(["paris", "london", "berlin"], ids=["c", "d", "e"])  # the rerun completes it
        assert store.count() == 5


def test_unknown_remote_model_gets_a_probed_profile(server) -> None:
    remote = MatryoshkaEmbedder(encoder(server))
    assert (remote.full_dim, remote.profile.matryoshka, remote.profile.name) == (
        64,
        False,
        "tiny-mrl",
    )


def test_adapters_run_end_to_end_on_the_remote_backend(server, st_model) -> None:
    import uuid

    from langchain_mrl_rag import MatryoshkaEmbeddings, MatryoshkaRetriever, MatryoshkaVectorStore
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.embeddings.mrl_rag import MatryoshkaEmbedding
    from llama_index.vector_stores.mrl_rag import MatryoshkaVectorStore as LlamaVectorStore

    remote = MatryoshkaEmbedder(encoder(server), profile=tiny_profile())
    local = MatryoshkaEmbedder(st_model, profile=tiny_profile())
    texts = ["the cat and the dog", "paris is a city", "coffee or tea"]

    lc = MatryoshkaEmbeddings.from_embedder(remote)
    np.testing.assert_allclose(lc.embed_documents(texts), local.embed_documents(texts), atol=1e-5)
    lc_store = MatryoshkaVectorStore(
        lc, client=chromadb.EphemeralClient(), collection_name=f"lc-{uuid.uuid4().hex[:8]}"
    )
    lc_store.add_texts(texts, ids=["a", "b", "c"])
    hits = MatryoshkaRetriever(store=lc_store.store, k=3).invoke("coffee or tea")
    assert {d.id for d in hits} == {"a", "b", "c"} and hits[0].metadata["mrl_score"] <= 1.0

    li = MatryoshkaEmbedding(embedder=remote)
    li_store = LlamaVectorStore.from_embedding(
        li, client=chromadb.EphemeralClient(), collection_name=f"li-{uuid.uuid4().hex[:8]}"
    )
    index = VectorStoreIndex.from_documents(
        [Document(text=t, doc_id=f"d{i}") for i, t in enumerate(texts)],
        storage_context=StorageContext.from_defaults(vector_store=li_store),
        embed_model=li,
    )
    nodes = index.as_retriever(similarity_top_k=3).retrieve("coffee or tea")
    assert {n.node.ref_doc_id for n in nodes} == {"d0", "d1", "d2"}
    assert all(
        any(t.startswith("passage: ") for t in batch) or any(t.startswith("query: ") for t in batch)
        for batch in server.inputs
    )


@pytest.mark.integration
def test_the_offline_model_served_over_http(minilm_path) -> None:
    """The real all-MiniLM-L6-v2 behind the server gives the same vectors as in-process."""
    local = MatryoshkaEmbedder(minilm_path, profile="sentence-transformers/all-MiniLM-L6-v2")
    with EmbeddingTestServer(local.model, api_key=KEY) as srv:
        remote = MatryoshkaEmbedder(encoder(srv), profile="sentence-transformers/all-MiniLM-L6-v2")
        texts = ["Mitochondria produce ATP.", "The Eiffel Tower is in Paris."]
        np.testing.assert_allclose(
            remote.embed_documents(texts), local.embed_documents(texts), atol=1e-5
        )


# -- regressions found in review ------------------------------------------------


class _Answer:
    """A canned HTTP answer for the client's parser."""

    def __init__(self, status: int, body: str, headers: dict | None = None) -> None:
        self.status, self.body, self.headers = status, body.encode(), headers or {}

    def parse(self, client: OpenAICompatibleEncoder, texts: list[str]) -> np.ndarray:
        return client._parse(self.status, self.headers, self.body, texts)


def test_errors_never_show_any_part_of_the_key() -> None:
    client = OpenAICompatibleEncoder(
        "m", base_url="http://127.0.0.1:9/v1", api_key="sk-SECRET-1234567"
    )
    body = json.dumps({"error": {"message": "x" * 290 + " bad key sk-SECRET-1234567"}})
    with pytest.raises(RemoteEmbeddingError) as caught:
        _Answer(400, body).parse(client, ["a"])
    assert "sk-" not in str(caught.value) and "SECRET" not in str(caught.value)


def test_bad_answers_are_clear_errors() -> None:
    client = OpenAICompatibleEncoder("m", base_url="http://127.0.0.1:9/v1")

    def data(*items: dict) -> str:
        return json.dumps({"data": list(items)})

    cases = [
        (
            _Answer(302, "", {"Location": "https://elsewhere/v1/embeddings"}),
            "a redirect to 'https://elsewhere",
        ),
        (_Answer(200, data({"index": 0, "embedding": "AAAA"})), "not lists of floats"),
        (_Answer(200, data({"index": 0, "embedding": [0.1, None]})), "null/NaN"),
        (
            _Answer(200, data({"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [1.0]})),
            "returned indices",
        ),
    ]
    for answer, message in cases:
        texts = ["a", "b"] if "indices" in message else ["a"]
        with pytest.raises(RemoteEmbeddingError, match=message):
            answer.parse(client, texts)
    # An unreadable Retry-After falls back to exponential backoff instead of crashing.
    from mrl_rag.encoders.openai import _retry_after

    assert _retry_after({"Retry-After": "soon"}) is None


def test_configuration_mistakes_are_not_retried() -> None:
    start = time.perf_counter()
    with pytest.raises(RemoteEmbeddingError, match="Is base_url a full URL"):
        OpenAICompatibleEncoder("m", base_url="localhost:8080/v1", backoff=1.0).encode(["cat"])
    assert time.perf_counter() - start < 1.0
    with pytest.raises(InvalidTextError, match="got a single str"):
        OpenAICompatibleEncoder("m").encode("hello")
    with pytest.raises(InvalidArgumentError, match="backoff must be a finite number >= 0, got -1"):
        OpenAICompatibleEncoder("m", backoff=-1)


# -- the whole-request deadline, the size cap, configuration, pooling, width ---------


def test_a_trickling_answer_is_cut_off_at_the_deadline(server) -> None:
    """One byte every 0.5 s used to keep a timeout=2 call alive for 55.7 s."""
    server.plan = ["drip"]
    start = time.perf_counter()
    with pytest.raises(RemoteEmbeddingError, match=r"no complete answer within 1 s"):
        encoder(server, timeout=1, max_retries=0).encode(["cat"])
    assert time.perf_counter() - start < 3
    assert server.requests == 1


async def test_a_trickling_answer_is_cut_off_at_the_deadline_async(server) -> None:
    server.plan = ["drip"]
    start = time.perf_counter()
    async with encoder(server, timeout=1, max_retries=0) as client:
        with pytest.raises(RemoteEmbeddingError, match=r"no complete answer within 1 s"):
            await client.aencode(["cat"])
    assert time.perf_counter() - start < 3


def test_a_timed_out_trickle_is_retried(server) -> None:
    server.plan = ["drip"]
    start = time.perf_counter()
    assert encoder(server, timeout=1, max_retries=1).encode(["cat"]).shape == (1, 64)
    assert time.perf_counter() - start < 4
    assert server.requests == 2


@pytest.mark.parametrize("fault", ["huge", "huge_chunked"])
def test_an_oversized_answer_is_refused_and_not_retried(server, fault) -> None:
    server.plan = [fault] * 3
    server.huge_bytes = 4 * 2**20
    client = encoder(server, max_response_bytes=2**20)
    with pytest.raises(RemoteEmbeddingError) as caught:
        client.encode(["cat"])
    message = str(caught.value)
    assert "larger than max_response_bytes=1048576" in message
    assert "pass a larger max_response_bytes=" in message and "not retried" in message
    assert ("Content-Length is" in message) == (fault == "huge")
    assert server.requests == 1
    # The same answer fits under a raised cap: it was refused for its size only.
    server.plan = [fault]
    big = encoder(server, max_response_bytes=8 * 2**20).encode(["cat"])
    assert big.shape[0] == 1 and big.shape[1] > 100_000


def test_the_default_size_cap() -> None:
    from mrl_rag.encoders.openai import DEFAULT_MAX_RESPONSE_BYTES

    client = OpenAICompatibleEncoder("m")
    assert client.max_response_bytes == DEFAULT_MAX_RESPONSE_BYTES == 64 * 2**20


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1.0}, "timeout"),
        ({"timeout": "2"}, "timeout"),
        ({"timeout": float("inf")}, "timeout"),
        ({"backoff": -0.5}, "backoff"),
        ({"backoff": float("nan")}, "backoff"),
        ({"max_backoff": -1}, "max_backoff"),
        ({"max_backoff": float("nan")}, "max_backoff"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"max_response_bytes": 0}, "max_response_bytes"),
        ({"batch_size": 0}, "batch_size"),
        ({"model": ""}, "model"),
    ],
)
def test_bad_numbers_name_the_parameter_and_value(kwargs, name) -> None:
    kwargs = {"model": "m", **kwargs}
    value = kwargs[name]
    with pytest.raises(InvalidArgumentError) as caught:
        OpenAICompatibleEncoder(**kwargs)
    assert str(caught.value).startswith(f"{name} must be")
    assert repr(value) in str(caught.value) or str(value) in str(caught.value)


def test_wrong_types_are_argument_type_errors() -> None:
    with pytest.raises(ArgumentTypeError, match="model must be a string, got int"):
        OpenAICompatibleEncoder(3)
    with pytest.raises(ArgumentTypeError, match="api_key must be a string or None, got bytes"):
        OpenAICompatibleEncoder("m", api_key=b"sk-1")


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("sk-abc123\n", r"a control character \(U\+000A\)"),
        (" sk-abc123", "leading or trailing whitespace"),
        ("sk-abc123 ", "leading or trailing whitespace"),
        ("sk-abc\t123", r"a control character \(U\+0009\)"),
        ("sk-abc\x00123", r"a control character \(U\+0000\)"),
        ("sk-abc123\u201d", r"a non-ASCII character \(U\+201D\)"),
    ],
)
def test_a_key_a_header_cannot_carry_is_refused_at_construction(key, problem, monkeypatch) -> None:
    with pytest.raises(
        InvalidArgumentError, match=rf"^api_key holds an API key with {problem}"
    ) as caught:
        OpenAICompatibleEncoder("m", api_key=key)
    assert "abc" not in str(caught.value)
    if "\x00" in key:
        return  # no environment variable can hold a NUL
    monkeypatch.setenv("MY_EMBEDDINGS_KEY", key)
    with pytest.raises(
        InvalidArgumentError,
        match=rf"environment variable MY_EMBEDDINGS_KEY holds an API key with {problem}",
    ) as caught:
        OpenAICompatibleEncoder("m", api_key_env="MY_EMBEDDINGS_KEY")
    assert "abc" not in str(caught.value)


def test_strings_for_vectors_name_the_cause(server) -> None:
    server.plan = ["strings"]
    with pytest.raises(RemoteEmbeddingError) as caught:
        encoder(server).encode(["cat"])
    message = str(caught.value)
    assert "not lists of floats" in message
    assert "{exc}" not in message and "could not convert string to float" in message


def test_consecutive_calls_reuse_one_connection(server) -> None:
    with encoder(server) as client:
        client.encode(["cat"])
        client.encode(["dog"])
        client.encode(["eel"])
        assert server.requests == 3 and server.connections == 1
    # Closed: the next call opens a new connection.
    client.encode(["fox"])
    assert server.requests == 4 and server.connections == 2
    client.close()


def test_threads_share_the_pooled_connections(server) -> None:
    client = encoder(server, batch_size=2, max_concurrency=2)
    try:
        for _ in range(3):
            client.encode([f"cat {i}" for i in range(8)])
    finally:
        client.close()
    assert server.requests == 12 and server.connections <= 2


async def test_async_calls_reuse_one_connection(server) -> None:
    async with encoder(server) as client:
        await client.aencode(["cat"])
        await client.aencode(["dog"])
        assert server.requests == 2 and server.connections == 1


def test_async_clients_belong_to_their_loop(server) -> None:
    import asyncio
    import gc
    import warnings

    client = encoder(server)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        for _ in range(2):  # asyncio.run closes the loop's client as it shuts the loop down
            assert asyncio.run(client.aencode(["cat"])).shape == (1, 64)
        gc.collect()
    assert server.requests == 2 and server.connections == 2
    held = list(client._async_clients.values())
    assert len(held) == 1 and held[0][0].is_closed


def test_full_dim_is_learned_and_kept(server) -> None:
    client = encoder(server)
    assert client.full_dim is None
    assert client.encode([]).shape == (0, 0)
    client.encode(["cat"])
    assert client.full_dim == 64
    assert client.encode([]).shape == (0, 64)
    server.plan = ["wider"]
    with pytest.raises(
        RemoteEmbeddingError,
        match=r"returned 65-dimensional vectors, but its earlier answers were 64-dimensional",
    ):
        client.encode(["dog"])
    assert client.full_dim == 64
