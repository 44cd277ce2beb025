"""One encoder interface: every backend gives the embedder, store and adapters the same vectors.

The framework backends wrap the frameworks' own Hugging Face embedding classes
(``langchain_community.embeddings.HuggingFaceEmbeddings`` and
``llama_index.embeddings.huggingface.HuggingFaceEmbedding``) around the same
offline model that runs in-process, so any difference in vectors, rankings or
adapter results is the interface's fault.
"""

from __future__ import annotations

import asyncio
import uuid
import warnings
from collections.abc import Sequence

import chromadb
import numpy as np
import pytest

from mrl_rag import (
    ArgumentTypeError,
    Encoder,
    InvalidArgumentError,
    InvalidVectorError,
    MatryoshkaEmbedder,
    MatryoshkaStore,
    OpenAICompatibleEncoder,
    ProfileError,
    StoreMismatchError,
)
from mrl_rag.encoders import SentenceTransformerEncoder, with_prompt

from .conftest import TINY_DIM, record_model_calls, tiny_profile

DOCS = [
    "the cat sat in the tree",
    "paris and london are cities",
    "coffee and tea and bread",
    "a fast red train to tokyo",
    "matryoshka dolls nest inside",
    "the river and the old bird",
]
QUERIES = ["cat in a tree", "city trains", "nesting dolls"]


@pytest.fixture(scope="module")
def in_process(tiny_model_path) -> MatryoshkaEmbedder:
    return MatryoshkaEmbedder(tiny_model_path, profile=tiny_profile(), device="cpu")


@pytest.fixture(scope="module")
def langchain_hf(tiny_model_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # langchain-community's deprecation notice
        from langchain_community.embeddings import HuggingFaceEmbeddings

        return HuggingFaceEmbeddings(model_name=str(tiny_model_path))


@pytest.fixture(scope="module")
def llamaindex_hf(tiny_model_path):
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    return HuggingFaceEmbedding(model_name=str(tiny_model_path), device="cpu")


@pytest.fixture(params=["langchain", "llamaindex"])
def wrapped(request, langchain_hf, llamaindex_hf) -> MatryoshkaEmbedder:
    """The tiny model through a framework's own embeddings class, as a backend."""
    if request.param == "langchain":
        from langchain_mrl_rag import LangChainEncoder

        encoder = LangChainEncoder(langchain_hf)
    else:
        from llama_index.embeddings.mrl_rag import LlamaIndexEncoder

        encoder = LlamaIndexEncoder(llamaindex_hf)
    assert isinstance(encoder, Encoder)
    return MatryoshkaEmbedder(encoder, profile=tiny_profile())


def test_wrapped_framework_embeddings_give_the_in_process_vectors(wrapped, in_process) -> None:
    for dim in (None, 32, 8):
        np.testing.assert_allclose(
            wrapped.embed_documents(DOCS, dim=dim),
            in_process.embed_documents(DOCS, dim=dim),
            atol=1e-5,
        )
        np.testing.assert_allclose(
            wrapped.embed_queries(QUERIES, dim=dim),
            in_process.embed_queries(QUERIES, dim=dim),
            atol=1e-5,
        )
    # The profile's prefixes reached the framework object: without them the vectors differ.
    bare = in_process.model.encode(QUERIES, normalize_embeddings=True)
    assert not np.allclose(wrapped.encode(QUERIES, input_type="query"), bare, atol=1e-3)
    asynced = asyncio.run(wrapped.aembed_documents(DOCS, dim=16))
    np.testing.assert_allclose(asynced, in_process.embed_documents(DOCS, dim=16), atol=1e-5)
    one = asyncio.run(wrapped.aembed_query(QUERIES[0]))
    np.testing.assert_allclose(one, in_process.embed_query(QUERIES[0]), atol=1e-5)


def test_wrapped_backend_runs_the_funnel_store(wrapped, in_process, tmp_path) -> None:
    results = []
    for name, embedder in (("wrapped", wrapped), ("local", in_process)):
        with MatryoshkaStore(embedder, path=tmp_path / name, search_dim=16, shortlist=4) as store:
            store.add(DOCS, ids=[f"d{i}" for i in range(len(DOCS))])
            results.append(
                [[(h.id, round(h.score, 4)) for h in store.search(q, k=3)] for q in QUERIES]
            )
    assert results[0] == results[1]


def test_langchain_adapter_end_to_end_on_a_wrapped_provider(langchain_hf, tiny_model_path) -> None:
    from langchain_mrl_rag import MatryoshkaEmbeddings, MatryoshkaVectorStore

    embeddings = MatryoshkaEmbeddings.from_embeddings(langchain_hf, profile=None)
    assert embeddings.matryoshka_embedder.full_dim == TINY_DIM
    local = MatryoshkaEmbeddings(model=str(tiny_model_path))
    np.testing.assert_allclose(
        embeddings.embed_documents(DOCS), local.embed_documents(DOCS), atol=1e-5
    )
    store = MatryoshkaVectorStore(
        embeddings,
        client=chromadb.EphemeralClient(),
        collection_name=f"lc-{uuid.uuid4().hex[:8]}",
        search_dim=16,
    )
    store.add_texts(DOCS, ids=[f"d{i}" for i in range(len(DOCS))])
    exact = local.embed_documents(DOCS) @ np.asarray(local.embed_query(QUERIES[2]))
    hits = store.similarity_search(QUERIES[2], k=2)
    assert hits[0].id == f"d{int(np.argmax(exact))}"
    async_hits = asyncio.run(store.asimilarity_search(QUERIES[2], k=2))
    assert [d.id for d in async_hits] == [d.id for d in hits]
    store.store.drop()


def test_llamaindex_adapter_end_to_end_on_a_wrapped_provider(
    llamaindex_hf, tiny_model_path
) -> None:
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.embeddings.mrl_rag import MatryoshkaEmbedding
    from llama_index.vector_stores.mrl_rag import MatryoshkaVectorStore

    embed_model = MatryoshkaEmbedding.from_embed_model(llamaindex_hf, profile=None)
    local = MatryoshkaEmbedding(model_name=str(tiny_model_path))
    vector_store = MatryoshkaVectorStore.from_embedding(
        embed_model,
        client=chromadb.EphemeralClient(),
        collection_name=f"li-{uuid.uuid4().hex[:8]}",
        search_dim=16,
    )
    index = VectorStoreIndex.from_documents(
        [Document(text=t, id_=f"d{i}") for i, t in enumerate(DOCS)],
        storage_context=StorageContext.from_defaults(vector_store=vector_store),
        embed_model=embed_model,
    )
    nodes = index.as_retriever(similarity_top_k=2).retrieve(QUERIES[1])
    exact = np.asarray(local.get_text_embedding_batch(DOCS)) @ np.asarray(
        local.get_query_embedding(QUERIES[1])
    )
    assert nodes[0].node.get_content() == DOCS[int(np.argmax(exact))]
    assert nodes[0].score == pytest.approx(float(np.max(exact)), abs=1e-4)


class _QueryAwareEncoder:
    """A new backend in a few lines: queries and documents go to different endpoints."""

    model_name = "tiny-mrl"

    def __init__(self, model) -> None:
        self.model, self.full_dim, self.seen = model, None, []

    def encode(self, texts: Sequence[str], *, input_type="document", prompt="", **options):
        self.seen.append((input_type, prompt, options) if options else (input_type, prompt))
        return self.model.encode(with_prompt(texts, prompt))

    async def aencode(self, texts: Sequence[str], *, input_type="document", prompt="", **options):
        return self.encode(texts, input_type=input_type, prompt=prompt, **options)


def test_a_new_backend_needs_only_the_protocol(in_process, monkeypatch) -> None:
    from mrl_rag._profiles import _registry

    encoder = _QueryAwareEncoder(in_process.model)
    assert isinstance(encoder, Encoder)
    monkeypatch.setitem(_registry, "tiny-mrl", tiny_profile())  # registered for this test only
    embedder = MatryoshkaEmbedder(encoder)  # found by its model_name: the registered profile
    assert embedder.profile == tiny_profile()
    np.testing.assert_allclose(
        embedder.embed_queries(QUERIES, dim=8), in_process.embed_queries(QUERIES, dim=8), atol=1e-5
    )
    assert encoder.seen[-1] == ("query", "query: ")
    embedder.embed_documents(DOCS)
    assert encoder.seen[-1] == ("document", "passage: ")


def test_unknown_dimension_is_probed_once_and_checked(in_process) -> None:
    encoder = _QueryAwareEncoder(in_process.model)
    encoder.model_name = "not-registered"
    embedder = MatryoshkaEmbedder(encoder)
    assert embedder.full_dim == TINY_DIM and len(encoder.seen) == 1
    assert not embedder.profile.matryoshka
    with pytest.raises(ProfileError, match="full_dim=32, but the model produces 64"):
        MatryoshkaEmbedder(
            SentenceTransformerEncoder(in_process.model),
            profile=tiny_profile(full_dim=32, matryoshka_dims=(16,)),
        )


@pytest.mark.parametrize("answer", [3.5, "vectors", [[]], np.ones((2, 4))])
def test_a_probe_answer_that_is_not_one_vector_is_an_error(in_process, answer) -> None:
    encoder = _QueryAwareEncoder(in_process.model)
    encoder.model_name, encoder.encode = "not-registered", lambda texts, **kw: answer  # type: ignore[method-assign]
    with pytest.raises(ProfileError, match=r"answered one probe text with .*not one vector"):
        MatryoshkaEmbedder(encoder)


def test_backend_output_of_the_wrong_shape_is_an_error(in_process) -> None:
    encoder = _QueryAwareEncoder(in_process.model)
    encoder.encode = lambda texts, **kw: np.ones((len(texts) + 1, TINY_DIM))  # type: ignore[method-assign]
    embedder = MatryoshkaEmbedder(encoder, profile=tiny_profile())
    with pytest.raises(ProfileError, match=r"shape \(3, 64\) for 2 texts"):
        embedder.embed_documents(DOCS[:2])


def test_loading_options_belong_to_a_model_loaded_by_name(in_process, langchain_hf) -> None:
    from langchain_mrl_rag import LangChainEncoder, MatryoshkaEmbeddings

    with pytest.raises(ArgumentTypeError, match="device, trust_remote_code configure a model"):
        MatryoshkaEmbedder(LangChainEncoder(langchain_hf), device="cpu", trust_remote_code=True)
    with pytest.raises(ArgumentTypeError, match="not MatryoshkaEmbeddings"):
        LangChainEncoder(MatryoshkaEmbeddings.from_embedder(in_process))
    with pytest.raises(ArgumentTypeError, match="model must be a hub id"):
        MatryoshkaEmbedder(object())  # type: ignore[arg-type]


def test_one_backend_call_per_embed_call(in_process, monkeypatch) -> None:
    calls = record_model_calls(monkeypatch, in_process)
    in_process.embed_query("cat", dim=8)
    in_process.embed_documents(DOCS, dim=16)
    asyncio.run(in_process.aembed_documents(DOCS))
    assert [len(c) for c in calls] == [1, len(DOCS), len(DOCS)]


def test_embed_query_validates_its_dim_once_and_truncates_once(in_process, monkeypatch) -> None:
    import mrl_rag._embedder as embedder_module
    from mrl_rag import ModelProfile

    validations, truncations = [], []
    validate, cut = ModelProfile.validate_dim, embedder_module.truncate
    monkeypatch.setattr(
        ModelProfile,
        "validate_dim",
        lambda self, dim, **kw: validations.append(dim) or validate(self, dim, **kw),
    )
    monkeypatch.setattr(
        embedder_module,
        "truncate",
        lambda vectors, dim: truncations.append(dim) or cut(vectors, dim),
    )
    vector = in_process.embed_query("cat", dim=8)
    assert vector.shape == (8,) and validations == [8] and truncations == [8]
    validations.clear(), truncations.clear()
    in_process.embed_documents(DOCS)  # the embedder's default dim: nothing to validate
    assert validations == [] and truncations == [TINY_DIM]


JINA_LIKE = {"query_options": {"task": "retrieval.query"}, "document_options": {"task": "doc"}}


def test_model_options_reach_the_backend_or_are_refused(in_process, langchain_hf) -> None:
    from langchain_mrl_rag import LangChainEncoder

    encoder = _QueryAwareEncoder(in_process.model)
    embedder = MatryoshkaEmbedder(encoder, profile=tiny_profile(**JINA_LIKE))
    embedder.embed_query("cat")
    asyncio.run(embedder.aembed_documents(["dog"]))
    assert encoder.seen == [
        ("query", "query: ", {"task": "retrieval.query"}),
        ("document", "passage: ", {"task": "doc"}),
    ]
    # Backends that cannot pass them per call refuse them instead of dropping them.
    for backend in (
        LangChainEncoder(langchain_hf),
        OpenAICompatibleEncoder("m", base_url="http://127.0.0.1:9/v1", max_retries=0),
    ):
        wrapped = MatryoshkaEmbedder(backend, profile=tiny_profile(**JINA_LIKE))
        with pytest.raises(InvalidArgumentError, match="options"):
            wrapped.embed_documents(["dog"])


def test_a_store_refuses_other_document_options(in_process, tmp_path) -> None:
    encoder = _QueryAwareEncoder(in_process.model)
    with MatryoshkaStore(
        MatryoshkaEmbedder(encoder, profile=tiny_profile(**JINA_LIKE)), path=tmp_path / "s"
    ) as store:
        store.add(["cat"], ids=["c"])
    for options in ({}, {"task": "text-matching"}):
        other = MatryoshkaEmbedder(encoder, profile=tiny_profile(document_options=options))
        with pytest.raises(StoreMismatchError, match="document_options"):
            MatryoshkaStore(other, path=tmp_path / "s")
    # A store made without options opens with a profile without them.
    with MatryoshkaStore(in_process, path=tmp_path / "plain") as store:
        store.add(["cat"], ids=["c"])
    MatryoshkaStore(in_process, path=tmp_path / "plain").close()


def test_nan_or_ragged_backend_output_is_an_error(in_process) -> None:
    encoder = _QueryAwareEncoder(in_process.model)
    embedder = MatryoshkaEmbedder(encoder, profile=tiny_profile())
    encoder.encode = lambda texts, **kw: np.full((len(texts), TINY_DIM), np.nan)  # type: ignore[method-assign]
    with pytest.raises(InvalidVectorError, match="NaN or infinite values for text 0"):
        embedder.embed_query("cat")
    encoder.encode = lambda texts, **kw: [[0.1] * TINY_DIM, [0.2]]  # type: ignore[method-assign]
    with pytest.raises(ProfileError, match="not an array"):
        embedder.embed_documents(["a", "b"])


def test_settings_given_with_an_embedder_are_refused(in_process) -> None:
    from langchain_mrl_rag import MatryoshkaEmbeddings
    from llama_index.embeddings.mrl_rag import MatryoshkaEmbedding

    with pytest.raises(ArgumentTypeError, match="query_prefix configure a model loaded here"):
        MatryoshkaEmbeddings.from_embedder(in_process, query_prefix="q: ")
    with pytest.raises(ArgumentTypeError, match="text_prefix configure a model loaded here"):
        MatryoshkaEmbedding(embedder=in_process, text_prefix="d: ")
    assert MatryoshkaEmbeddings.from_embedder(in_process, dim=8).embed_query("cat").__len__() == 8
