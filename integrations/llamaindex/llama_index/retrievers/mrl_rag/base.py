"""The funnel store as a LlamaIndex ``BaseRetriever``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload
from llama_index.core.callbacks.base import EventContext
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.vector_stores.types import MetadataFilters
from llama_index.vector_stores.mrl_rag.base import to_chroma_where, to_node_with_score

from mrl_rag import InvalidArgumentError, MatryoshkaStore


class MatryoshkaRetriever(BaseRetriever):
    """Funnel retrieval for LlamaIndex: truncated first stage, exact full-vector rerank.

    Uses ``QueryBundle.embedding`` when it holds a full query vector; otherwise
    embeds ``query_str`` with the store's model (query prefix included).
    Scores are cosine similarities of the full vectors, never ``exp(-distance)``.
    LlamaIndex has no batch retrieval of its own: :meth:`retrieve_batch` (and
    :meth:`aretrieve_batch`) answers many queries with one model call and one
    Chroma query.

    Args:
        store: The funnel store.
        similarity_top_k: How many nodes to return.
        shortlist: First-stage candidates; ``None`` uses the store's (default 100).
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

    def _options(self) -> dict[str, Any]:
        return {
            "k": self.similarity_top_k,
            "shortlist": self.shortlist,
            "rerank_dim": self.rerank_dim,
            "where": self._where,
        }

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return self._retrieve_many([query_bundle])[0]

    def _retrieve_many(self, bundles: Sequence[QueryBundle]) -> list[list[NodeWithScore]]:
        """One search for all bundles: their own full vectors where they carry one."""
        full_dim = self.store.profile.full_dim
        given = [b.embedding is not None and len(b.embedding) == full_dim for b in bundles]
        if all(given):
            vectors = np.asarray([b.embedding for b in bundles], dtype=np.float32)
        else:
            vectors = np.empty((len(bundles), full_dim), dtype=np.float32)
            texts = [b.query_str for b, has in zip(bundles, given, strict=True) if not has]
            embedder = self.store.embedder
            if embedder is None:
                raise InvalidArgumentError(
                    "These queries carry no full query vector and the store has no embedder."
                )
            vectors[~np.array(given)] = embedder.encode(texts, input_type="query")
            for i, has in enumerate(given):
                if has:
                    vectors[i] = bundles[i].embedding
        found = self.store.search_by_vectors(vectors, **self._options())
        return [[to_node_with_score(hit) for hit in hits] for hits in found]

    def retrieve_batch(self, queries: Sequence[str | QueryBundle]) -> list[list[NodeWithScore]]:
        """Retrieve for many queries at once: one model call and one Chroma query.

        Args:
            queries: Query strings or bundles (a bundle's own full vector is used).

        Returns:
            One list of nodes per query, in order.
        """
        bundles = [QueryBundle(q) if isinstance(q, str) else q for q in queries]
        if not bundles:
            return []
        events = [EventContext(self.callback_manager, CBEventType.RETRIEVE) for _ in bundles]
        for event, bundle in zip(events, bundles, strict=True):
            event.on_start(payload={EventPayload.QUERY_STR: bundle.query_str})
        try:
            found = self._retrieve_many(bundles)
        except Exception as exc:
            for event in events:
                event.on_end(payload={EventPayload.EXCEPTION: exc})
            raise
        for event, nodes in zip(events, found, strict=True):
            event.on_end(payload={EventPayload.NODES: nodes})
        return found

    async def aretrieve_batch(
        self, queries: Sequence[str | QueryBundle]
    ) -> list[list[NodeWithScore]]:
        """:meth:`retrieve_batch` without blocking the event loop."""
        return await asyncio.to_thread(self.retrieve_batch, queries)
