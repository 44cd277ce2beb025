"""Adopting plain Chroma collections (langchain-chroma, ChromaVectorStore) without the model."""

from __future__ import annotations

import sys
from pathlib import Path

import chromadb
import numpy as np
import pytest

from mrl_rag import MatryoshkaStore, StoreMismatchError, StoreNotFoundError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

from _lc_common import offline_embeddings  # noqa: E402
from _li_common import TOPICS, offline_embed_model  # noqa: E402
from demo_dimensions import DOCUMENTS  # noqa: E402

from .conftest import record_model_calls  # noqa: E402

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::mrl_rag.TruncationQualityWarning"),
]


def test_a_langchain_chroma_collection_is_adopted_without_the_model(tmp_path, monkeypatch) -> None:
    from langchain_chroma import Chroma
    from langchain_mrl_rag import MatryoshkaVectorStore

    embeddings = offline_embeddings()
    path = tmp_path / "db"
    plain = Chroma.from_texts(
        DOCUMENTS,
        embeddings,
        metadatas=[{"n": i} for i in range(len(DOCUMENTS))],
        ids=[f"doc-{i}" for i in range(len(DOCUMENTS))],
        collection_name="plain",
        persist_directory=str(path),
    )
    before = plain._collection.get(include=["embeddings", "documents", "metadatas"])
    calls = record_model_calls(monkeypatch, embeddings.matryoshka_embedder)
    store = MatryoshkaStore.adopt(
        "plain", embeddings.matryoshka_embedder, path=path, collection="funnel", batch_size=7
    )
    assert calls == []  # no model call
    after = plain._collection.get(include=["embeddings", "documents", "metadatas"])
    assert after["ids"] == before["ids"] and after["documents"] == before["documents"]
    np.testing.assert_array_equal(after["embeddings"], before["embeddings"])  # untouched
    assert store.count() == len(DOCUMENTS)
    got = {r.id: r for r in store.get()}
    for record_id, text, meta in zip(
        before["ids"], before["documents"], before["metadatas"], strict=True
    ):
        assert (got[record_id].text, got[record_id].metadata) == (text, meta)
    np.testing.assert_allclose(store.full_vectors(before["ids"]), before["embeddings"], atol=1e-6)
    store.close()
    monkeypatch.undo()
    # The adopted store answers like the plain one, through the LangChain adapter.
    funnel = MatryoshkaVectorStore(embeddings, persist_directory=path, collection_name="funnel")
    for query in ("why does the sea have tides", "how is espresso brewed"):
        assert (
            funnel.similarity_search(query, k=1)[0].id == plain.similarity_search(query, k=1)[0].id
        )
    funnel.store.close()


def test_a_llamaindex_chroma_vector_store_is_adopted_with_its_nodes(tmp_path) -> None:
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.vector_stores.chroma import ChromaVectorStore
    from llama_index.vector_stores.mrl_rag import MatryoshkaVectorStore

    embed_model = offline_embed_model()
    client = chromadb.PersistentClient(path=str(tmp_path / "db"))
    plain = ChromaVectorStore(chroma_collection=client.create_collection("li-plain"))
    VectorStoreIndex.from_documents(
        [
            Document(text=text, doc_id=f"doc-{i}", metadata={"topic": TOPICS[i], "n": i})
            for i, text in enumerate(DOCUMENTS)
        ],
        storage_context=StorageContext.from_defaults(vector_store=plain),
        embed_model=embed_model,
    )
    store = MatryoshkaStore.adopt(
        "li-plain", embed_model.matryoshka_embedder, client=client, collection="li-funnel"
    )
    vector_store = MatryoshkaVectorStore(store)
    index = VectorStoreIndex.from_vector_store(vector_store, embed_model=embed_model)
    (best,) = index.as_retriever(similarity_top_k=1).retrieve("Which organelle makes ATP?")
    assert best.node.ref_doc_id == "doc-5" and best.node.metadata == {"topic": "science", "n": 5}
    assert client.get_collection("li-plain").count() == len(DOCUMENTS)


def test_adoption_refuses_what_it_cannot_adopt(tmp_path, capsys) -> None:
    from mrl_rag.cli import main

    embedder = offline_embeddings().matryoshka_embedder
    path = tmp_path / "db"
    client = chromadb.PersistentClient(path=str(path))
    small = client.create_collection("small", embedding_function=None)
    small.add(ids=["a"], embeddings=[[0.1] * 128], documents=["x"])
    with pytest.raises(StoreMismatchError, match="holds 128-dimensional vectors"):
        MatryoshkaStore.adopt("small", embedder, client=client, collection="new")
    assert "new" not in {c.name for c in client.list_collections()}  # nothing left behind
    with pytest.raises(
        StoreNotFoundError, match="No collection 'nope' to adopt; there are: 'small'"
    ):
        MatryoshkaStore.adopt("nope", embedder, client=client, collection="new")
    with pytest.raises(ValueError, match="needs its own collection name"):
        MatryoshkaStore.adopt("small", embedder, client=client, collection="small")
    with pytest.raises(StoreMismatchError, match=r"MatryoshkaStore.adopt\('small'"):
        MatryoshkaStore(embedder, client=client, collection="small")  # points to adoption
    full = client.create_collection("full", embedding_function=None)
    full.add(ids=["a", "b"], embeddings=embedder.encode(["one", "two"]), documents=["one", "two"])
    del client
    model = offline_embeddings().model  # the local copy of all-MiniLM-L6-v2
    argv = ["adopt", str(path), "--source", "full", "--collection", "funnel", "--model", model]
    argv += ["--profile", "sentence-transformers/all-MiniLM-L6-v2", "--texts-local-only"]
    assert main(argv) == 0
    assert "Adopted 'full' as 'funnel'" in capsys.readouterr().out
    assert main(["info", str(path)]) == 0
    assert "texts local" in capsys.readouterr().out
    assert main(argv) == 2  # again: the new store's collection exists now
    assert "already exists" in capsys.readouterr().err
