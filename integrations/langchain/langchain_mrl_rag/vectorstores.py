"""The funnel store as a LangChain ``VectorStore``."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from langchain_mrl_rag.embeddings import MatryoshkaEmbeddings
from langchain_mrl_rag.retrievers import to_document
from mrl_rag import (
    DEFAULT_COLLECTION,
    ArgumentTypeError,
    InvalidArgumentError,
    MatryoshkaStore,
    SearchResult,
)
from mrl_rag._validation import check_texts

if TYPE_CHECKING:
    from chromadb.api import ClientAPI


class MatryoshkaVectorStore(VectorStore):
    """A LangChain vector store over the mrl-rag funnel store.

    Searches run in two stages: approximate search in Chroma over vectors
    truncated to ``search_dim``, then an exact rerank of the shortlist with the
    full vectors. Scores are cosine similarities (higher is better).

    Adding a document whose id exists replaces it, as LangChain expects.

    Example:
        ```python
        from langchain_mrl_rag import MatryoshkaEmbeddings, MatryoshkaVectorStore

        embeddings = MatryoshkaEmbeddings(
            model="nomic-ai/nomic-embed-text-v1.5", trust_remote_code=True
        )
        vector_store = MatryoshkaVectorStore(
            embeddings, persist_directory="./store", search_dim=128
        )
        vector_store.add_documents(docs)
        vector_store.similarity_search("query", k=4)
        ```

    Args:
        embedding: The embeddings; must be :class:`MatryoshkaEmbeddings` (the
            store needs full vectors and the model's profile).
        collection_name: The Chroma collection (``mrl_rag`` by default, as in
            every mrl-rag entry point).
        persist_directory: Folder of an embedded Chroma. With neither this nor
            ``client``, the store is written to ``./mrl_store`` (as every mrl-rag
            entry point does; langchain-chroma keeps such a store in memory).
        client: Any Chroma client instead (``HttpClient``, ``EphemeralClient``).
        search_dim: First-stage dimension for a new collection.
        shortlist: First-stage candidates per search.
        store: An existing :class:`mrl_rag.MatryoshkaStore` to wrap (then the
            other storage arguments are not used).
        **store_kwargs: Passed to :class:`mrl_rag.MatryoshkaStore`.
    """

    def __init__(
        self,
        embedding: MatryoshkaEmbeddings,
        *,
        collection_name: str = DEFAULT_COLLECTION,
        persist_directory: str | Path | None = None,
        client: ClientAPI | None = None,
        search_dim: int | None = None,
        shortlist: int | None = None,
        store: MatryoshkaStore | None = None,
        **store_kwargs: Any,
    ) -> None:
        if not isinstance(embedding, MatryoshkaEmbeddings):
            raise ArgumentTypeError(
                "MatryoshkaVectorStore needs MatryoshkaEmbeddings (it keeps full vectors and "
                f"the model's prefixes), got {type(embedding).__name__}."
            )
        if embedding.dim is not None:
            raise InvalidArgumentError(
                f"MatryoshkaEmbeddings(dim={embedding.dim}) cuts vectors to {embedding.dim} "
                "dimensions, but the funnel store keeps and reranks with the full vectors and "
                "truncates by itself. Use MatryoshkaEmbeddings(dim=None) here, and give the "
                f"store search_dim={embedding.dim} for a {embedding.dim}-dimensional first stage."
            )
        self._embedding = embedding
        if store is None:
            if shortlist is not None:
                store_kwargs["shortlist"] = shortlist
            store = MatryoshkaStore(
                embedding.matryoshka_embedder,
                collection=collection_name,
                path=persist_directory if client is None else None,
                client=client,
                search_dim=search_dim,
                **store_kwargs,
            )
        self.store = store

    @property
    def embeddings(self) -> Embeddings:
        """The embeddings."""
        return self._embedding

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict] | None = None,
        *,
        ids: list[str | None] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed and add texts; an existing id is replaced.

        Args:
            texts: The texts.
            metadatas: One metadata dict per text.
            ids: One id per text (``None`` entries get a new UUID).
            **kwargs: ``batch_size`` for the store.

        Returns:
            The ids.
        """
        texts = check_texts(texts)  # the core's check: the same error as store.add
        if ids is None:
            ids = [None] * len(texts)
        filled = [i if i is not None else str(uuid.uuid4()) for i in ids]
        return self.store.add(texts, ids=filled, metadatas=metadatas, upsert=True, **kwargs)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete by ids (or ``where=`` a Chroma metadata filter)."""
        if ids is None and "where" not in kwargs:
            raise InvalidArgumentError(
                "delete needs ids (or where=...); it never deletes everything."
            )
        self.store.delete(ids, where=kwargs.get("where"))
        return True

    @property
    def _collection(self) -> Any:
        """The Chroma collection behind the store (as langchain-chroma names it)."""
        return self.store.collection

    def get(
        self,
        ids: str | list[str] | None = None,
        where: dict[str, Any] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        where_document: dict[str, Any] | None = None,
        include: list[str] | None = None,
    ) -> dict[str, Any]:
        """Records by id, filter or page, as langchain-chroma's ``get`` returns them.

        Args:
            ids: One id or a list of ids (``None``: every record).
            where: Chroma metadata filter.
            limit: At most this many records.
            offset: Skip this many first.
            where_document: Not supported (the store reads records from its own
                files); an error rather than an ignored filter.
            include: Any of ``"documents"``, ``"metadatas"`` (the default: both)
                and ``"embeddings"`` (the full vectors).

        Returns:
            ``{"ids": [...], "documents": [...], "metadatas": [...]}`` with the
            included keys.
        """
        if where_document is not None:
            raise InvalidArgumentError(
                "get(where_document=...) is not supported by MatryoshkaVectorStore; filter "
                "on metadata with where=, or search with where_document=."
            )
        include = ["documents", "metadatas"] if include is None else list(include)
        unknown = sorted(set(include) - {"documents", "metadatas", "embeddings"})
        if unknown:
            raise InvalidArgumentError(
                f"include={include!r} has {unknown}; allowed: documents, metadatas, embeddings."
            )
        records = self.store.get(
            [ids] if isinstance(ids, str) else ids, where=where, limit=limit, offset=offset or 0
        )
        out: dict[str, Any] = {"ids": [r.id for r in records]}
        if "documents" in include:
            out["documents"] = [r.text for r in records]
        if "metadatas" in include:
            out["metadatas"] = [r.metadata or None for r in records]
        if "embeddings" in include:
            out["embeddings"] = self.store.full_vectors(out["ids"])
        return out

    def update_document(self, document_id: str, document: Document) -> None:
        """Replace one document (text and metadata; embedded again)."""
        self.update_documents([document_id], [document])

    def update_documents(self, ids: list[str], documents: list[Document]) -> None:
        """Replace documents by id (texts and metadata; embedded again).

        Raises:
            ValueError: If ``ids`` and ``documents`` differ in length.
        """
        if len(ids) != len(documents):
            raise InvalidArgumentError(
                f"update_documents got {len(ids)} ids for {len(documents)} documents."
            )
        self.add_texts(
            [d.page_content for d in documents],
            metadatas=[d.metadata for d in documents],
            ids=list(ids),
        )

    def reset_collection(self) -> None:
        """Delete every document; the store starts again, empty, with the same settings."""
        self.store.reset()

    def delete_collection(self) -> None:
        """Delete the collection and its files (this vector store is closed afterwards)."""
        self.store.drop()

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Documents by id, in the order given; unknown ids are left out."""
        return [to_document(hit, with_scores=False) for hit in self.store.get(list(ids))]

    def _search(
        self,
        query: str | list[float],
        k: int,
        filter: dict[str, Any] | None,
        kwargs: dict[str, Any],
        *,
        fetch_k: int | None = None,
        lambda_mult: float | None = None,
    ) -> list[SearchResult]:
        """Every search goes through here: a query text or a full query vector."""
        if "where" in kwargs:  # Chroma's name for the same thing
            if filter is not None:
                raise InvalidArgumentError(
                    "Pass the metadata filter as filter= or as where=, not both "
                    f"(got filter={filter!r} and where={kwargs['where']!r})."
                )
            filter = kwargs.pop("where")
        if fetch_k is not None:
            kwargs["shortlist"] = fetch_k
        if lambda_mult is not None:
            kwargs["mmr_lambda"] = lambda_mult
        if isinstance(query, str):
            return self.store.search(query, k=k, where=filter, **kwargs)
        return self.store.search_by_vector(np.asarray(query), k=k, where=filter, **kwargs)

    def similarity_search(
        self,
        query: str,
        k: int = 4,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """The ``k`` documents most similar to ``query`` (funnel search)."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter, **kwargs)]

    def similarity_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """Documents with their cosine similarity to ``query`` (full vectors; higher is better).

        Args:
            query: The query text.
            k: How many documents.
            filter: Chroma metadata filter for the first stage (or ``where=``,
                Chroma's name for it; not both).
            **kwargs: ``shortlist``, ``rerank_dim``, ``where_document``, ``cascade``.
        """
        hits = self._search(query, k, filter, kwargs)
        return [(to_document(hit, with_scores=False), hit.score) for hit in hits]

    def similarity_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Search with a full query vector (from ``embed_query`` at full dimension)."""
        hits = self._search(embedding, k, filter, kwargs)
        return [to_document(hit, with_scores=False) for hit in hits]

    def similarity_search_with_score_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """:meth:`similarity_search_by_vector` with each document's cosine similarity."""
        hits = self._search(embedding, k, filter, kwargs)
        return [(to_document(hit, with_scores=False), hit.score) for hit in hits]

    def similarity_search_by_vector_with_relevance_scores(
        self,
        embedding: list[float],
        k: int = 4,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """langchain-chroma's name for :meth:`similarity_search_with_score_by_vector`.

        The scores are cosine similarities (higher is better), as everywhere here.
        """
        return self.similarity_search_with_score_by_vector(embedding, k, filter, **kwargs)

    def similarity_search_with_vectors(
        self,
        query: str,
        k: int = 4,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, np.ndarray]]:
        """Documents with their stored full vectors (what the rerank scored)."""
        hits = self._search(query, k, filter, kwargs)
        vectors = self.store.full_vectors([h.id for h in hits])
        return [
            (to_document(hit, with_scores=False), vector)
            for hit, vector in zip(hits, vectors, strict=True)
        ]

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Documents picked for relevance and diversity, compared on their full vectors.

        The first stage fetches ``fetch_k`` candidates; they are reranked exactly
        and ``k`` are picked by max marginal relevance.

        Args:
            query: The query text.
            k: How many documents.
            fetch_k: Candidates to pick from (the funnel's shortlist).
            lambda_mult: From 0 (most diverse) to 1 (most relevant).
            filter: Chroma metadata filter for the first stage.
            **kwargs: ``where_document``, ``rerank_dim``, ``cascade``.
        """
        hits = self._search(query, k, filter, kwargs, fetch_k=fetch_k, lambda_mult=lambda_mult)
        return [to_document(hit, with_scores=False) for hit in hits]

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """:meth:`max_marginal_relevance_search` with a full query vector."""
        hits = self._search(embedding, k, filter, kwargs, fetch_k=fetch_k, lambda_mult=lambda_mult)
        return [to_document(hit, with_scores=False) for hit in hits]

    def _select_relevance_score_fn(self) -> Any:
        # Scores are cosine similarities; relevance is the same number, kept in [0, 1].
        return lambda score: min(1.0, max(0.0, score))

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> MatryoshkaVectorStore:
        """Create a store (arguments as for the constructor) and add ``texts``."""
        store = cls(embedding, **kwargs)  # type: ignore[arg-type]
        store.add_texts(texts, metadatas=metadatas, ids=ids)
        return store
