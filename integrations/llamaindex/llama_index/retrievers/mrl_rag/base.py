"""The funnel store as a LlamaIndex ``BaseRetriever``."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.vector_stores.types import MetadataFilters
from llama_index.vector_stores.mrl_rag.base import to_chroma_where, to_node_with_score

from mrl_rag import MatryoshkaStore


class MatryoshkaRetriever(BaseRetriever):
    """Funnel retrieval for LlamaIndex: truncated first stage, exact full-vector rerank.

    Uses ``QueryBundle.embedding`` when it holds a full query vector; otherwise
    embeds ``query_str`` with the store's model (query prefix included).
    Scores are cosine similarities of the full vectors, never ``exp(-distance)``.

    Args:
        store: The funnel store.
        similarity_top_k: How many nodes to return.
        shortlist: First-stage candidates; ``None`` uses the store's (300).
        rerank_dim: Dimension of the exact rerank; ``None`` means full.
        filters: LlamaIndex metadata filters, translated to Chroma's ``where``.
        callback_manager: LlamaIndex callbacks.
    """

    def __init__(
        self,
        store: MatryoshkaStore,
        *,
        similarity_top_k: int = 4,
        shortlist: int | None = None,
        rerank_dim: int | None = None,
        filters: MetadataFilters | None = None,
        callback_manager: CallbackManager | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(callback_manager=callback_manager, **kwargs)
        self.store = store
        self.similarity_top_k = similarity_top_k
        self.shortlist = shortlist
        self.rerank_dim = rerank_dim
        self.filters = filters
        self._where = to_chroma_where(filters)  # fail early on unsupported operators

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        options = {
            "k": self.similarity_top_k,
            "shortlist": self.shortlist,
            "rerank_dim": self.rerank_dim,
            "where": self._where,
        }
        embedding = query_bundle.embedding
        if embedding is not None and len(embedding) == self.store.profile.full_dim:
            hits = self.store.search_by_vector(embedding, **options)
        else:
            hits = self.store.search(query_bundle.query_str, **options)
        return [to_node_with_score(hit) for hit in hits]
