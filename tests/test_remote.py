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
    remote = MatryoshkaEmbedder(encoder(server), profile=tiny_profile())
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
    assert "remote=" in repr(remote)


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
    vectors = await encoder(server, batch_size=5, max_concurrency=2).aencode(texts)
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
    with pytest.raises(RemoteEmbeddingError, match=r"no answer within 0.5 s"):
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
        import httpx

        self.response = httpx.Response(status, text=body, headers=headers or {})


def test_errors_never_show_any_part_of_the_key() -> None:
    client = OpenAICompatibleEncoder(
        "m", base_url="http://127.0.0.1:9/v1", api_key="sk-SECRET-1234567"
    )
    body = json.dumps({"error": {"message": "x" * 290 + " bad key sk-SECRET-1234567"}})
    with pytest.raises(RemoteEmbeddingError) as caught:
        client._parse(_Answer(400, body).response, ["a"])
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
            client._parse(answer.response, texts)
    # An unreadable Retry-After falls back to exponential backoff instead of crashing.
    from mrl_rag._remote import _retry_after

    assert _retry_after(_Answer(429, "", {"Retry-After": "soon"}).response) is None


def test_configuration_mistakes_are_not_retried() -> None:
    start = time.perf_counter()
    with pytest.raises(RemoteEmbeddingError, match="Is base_url a full URL"):
        OpenAICompatibleEncoder("m", base_url="localhost:8080/v1", backoff=1.0).encode(["cat"])
    assert time.perf_counter() - start < 1.0
    with pytest.raises(InvalidTextError, match="got a single str"):
        OpenAICompatibleEncoder("m").encode("hello")
    with pytest.raises(ValueError, match="backoff and max_backoff must be >= 0"):
        OpenAICompatibleEncoder("m", backoff=-1)
