"""The funnel store as a LangChain ``BaseRetriever``."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from mrl_rag import MatryoshkaStore, SearchResult

#: Metadata keys the retriever adds to each Document.
ID_KEY, SCORE_KEY, SEARCH_SCORE_KEY = "mrl_id", "mrl_score", "mrl_search_score"


def to_document(hit: SearchResult, *, with_scores: bool) -> Document:
    """Turn a funnel hit into a LangChain ``Document`` (id kept, scores optional)."""
    metadata = dict(hit.metadata)
    if with_scores:
        metadata.update({ID_KEY: hit.id, SCORE_KEY: hit.score, SEARCH_SCORE_KEY: hit.search_score})
    return Document(id=hit.id, page_content=hit.text or "", metadata=metadata)


class MatryoshkaRetriever(BaseRetriever):
    """Funnel retrieval: approximate search on truncated vectors, exact rerank.

    Every field can be overridden per call, for example
    ``retriever.invoke("query", k=3, filter={"lang": "en"})``.

    Each returned ``Document`` has the record's ``id`` and, in its metadata,
    ``mrl_id``, ``mrl_score`` (cosine similarity of the full vectors, the final
    ranking) and ``mrl_search_score`` (cosine similarity at the search
    dimension, from the first stage).

    Example:
        ```python
        from mrl_rag import MatryoshkaEmbedder, MatryoshkaStore
        from langchain_mrl_rag import MatryoshkaRetriever

        store = MatryoshkaStore(MatryoshkaEmbedder("..."), path="./store")
        retriever = MatryoshkaRetriever(store=store, k=5)
        docs = retriever.invoke("what is a matryoshka embedding?")
        ```
    """

    store: MatryoshkaStore
    """The funnel store to search."""
    k: int = 4
    """How many documents to return."""
    shortlist: int | None = None
    """First-stage candidates to rerank; ``None`` uses the store's (300)."""
    rerank_dim: int | None = None
    """Dimension of the final exact rerank; ``None`` means the full vectors."""
    filter: dict[str, Any] | None = None
    """Chroma metadata filter (``where``) applied in the first stage."""
    where_document: dict[str, Any] | None = None
    """Chroma document filter applied in the first stage."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        shortlist: int | None = None,
        rerank_dim: int | None = None,
        filter: dict[str, Any] | None = None,
        where_document: dict[str, Any] | None = None,
    ) -> list[Document]:
        hits = self.store.search(
            query,
            k=k if k is not None else self.k,
            shortlist=shortlist if shortlist is not None else self.shortlist,
            rerank_dim=rerank_dim if rerank_dim is not None else self.rerank_dim,
            where=filter if filter is not None else self.filter,
            where_document=where_document if where_document is not None else self.where_document,
        )
        return [to_document(hit, with_scores=True) for hit in hits]
