"""The funnel store as a LlamaIndex ``BasePydanticVectorStore``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore, TextNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict
from llama_index.embeddings.mrl_rag import MatryoshkaEmbedding

from mrl_rag import (
    DEFAULT_COLLECTION,
    ArgumentTypeError,
    InvalidArgumentError,
    MatryoshkaStore,
    ModelProfile,
    SearchResult,
)

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

_OPERATORS = {
    FilterOperator.EQ: "$eq",
    FilterOperator.NE: "$ne",
    FilterOperator.GT: "$gt",
    FilterOperator.GTE: "$gte",
    FilterOperator.LT: "$lt",
    FilterOperator.LTE: "$lte",
    FilterOperator.IN: "$in",
    FilterOperator.NIN: "$nin",
}
_CONDITIONS = {FilterCondition.AND: "$and", FilterCondition.OR: "$or"}
# The complement of each operator in Chroma, where a record without the key is in
# the complement of == and in (as in LlamaIndex, where a missing key never matches).
_NEGATIONS = {"$eq": "$ne", "$ne": "$eq", "$in": "$nin", "$nin": "$in"}


def _negate(where: dict[str, Any]) -> dict[str, Any]:
    """The Chroma filter matching exactly the records ``where`` does not match."""
    (key, value), *_ = where.items()
    if key in ("$and", "$or"):  # De Morgan
        return {"$or" if key == "$and" else "$and": [_negate(part) for part in value]}
    ((op, operand),) = value.items()
    if op not in _NEGATIONS:
        raise InvalidArgumentError(
            f"FilterCondition.NOT of {op[1:]!r} (on key {key!r}) cannot be expressed in Chroma: "
            "its complement would have to include records without the key. Negate it "
            "yourself (for example NOT > as <=) if those records should be left out; NOT "
            f"supports {', '.join(o[1:] for o in _NEGATIONS)}."
        )
    return {key: {_NEGATIONS[op]: operand}}


def to_chroma_where(filters: MetadataFilters | None) -> dict[str, Any] | None:
    """Translate LlamaIndex ``MetadataFilters`` into a Chroma ``where`` filter.

    Supports ``==, !=, >, >=, <, <=, in, nin``, nested filters, and the
    conditions ``and``, ``or`` and ``not`` (none of the filters matches, as in
    LlamaIndex; of ``==, !=, in, nin`` only, whose complement Chroma can express).

    Raises:
        ValueError: For any other operator or condition, naming it and listing
            the supported ones.
    """
    if filters is None or not filters.filters:
        return None
    parts = []
    for item in filters.filters:
        if isinstance(item, MetadataFilters):
            nested = to_chroma_where(item)
            if nested is not None:
                parts.append(nested)
            continue
        assert isinstance(item, MetadataFilter)
        op = _OPERATORS.get(item.operator)
        if op is None:
            raise InvalidArgumentError(
                f"Metadata filter operator {item.operator.value!r} (on key {item.key!r}) is not "
                "supported by Chroma's where filters; supported: "
                f"{', '.join(o.value for o in _OPERATORS)}."
            )
        parts.append({item.key: {op: item.value}})
    if not parts:
        return None
    if filters.condition == FilterCondition.NOT:
        negated = [_negate(part) for part in parts]
        return negated[0] if len(negated) == 1 else {"$and": negated}
    if len(parts) == 1:
        return parts[0]
    condition = _CONDITIONS.get(filters.condition)  # type: ignore[arg-type]
    if condition is None:
        raise InvalidArgumentError(
            f"Filter condition {filters.condition!r} is not supported; supported: and, or, not."
        )
    return {condition: parts}


def to_node_with_score(hit: SearchResult) -> NodeWithScore:
    """A funnel hit as a LlamaIndex node, with its cosine score (never exp(-distance))."""
    meta = hit.metadata
    if "_node_content" in meta:  # written by MatryoshkaVectorStore: relationships intact
        node = metadata_dict_to_node(meta, text=hit.text)
        node.metadata = {k: v for k, v in node.metadata.items() if not k.startswith("_")}
    else:
        node = TextNode(id_=hit.id, text=hit.text or "", metadata=dict(meta))
    node.id_ = hit.id
    return NodeWithScore(node=node, score=hit.score)


class MatryoshkaVectorStore(BasePydanticVectorStore):
    """A LlamaIndex vector store over the mrl-rag funnel store.

    Approximate search in Chroma over truncated vectors, then an exact rerank
    of the shortlist with the full vectors. Similarities are cosines.

    Example:
        ```python
        from llama_index.core import StorageContext, VectorStoreIndex
        from llama_index.embeddings.mrl_rag import MatryoshkaEmbedding
        from llama_index.vector_stores.mrl_rag import MatryoshkaVectorStore

        embed_model = MatryoshkaEmbedding(model_name="...")
        vector_store = MatryoshkaVectorStore.from_embedding(
            embed_model, persist_directory="./store", search_dim=128
        )
        index = VectorStoreIndex.from_documents(
            docs,
            storage_context=StorageContext.from_defaults(vector_store=vector_store),
            embed_model=embed_model,
        )
        ```
    """

    stores_text: bool = True
    flat_metadata: bool = True
    shortlist: int | None = None
    rerank_dim: int | None = None

    _store: MatryoshkaStore = PrivateAttr()

    def __init__(self, store: MatryoshkaStore, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._store = store

    @classmethod
    def from_embedding(
        cls,
        embed_model: MatryoshkaEmbedding,
        *,
        collection_name: str = DEFAULT_COLLECTION,
        persist_directory: str | Path | None = None,
        client: ClientAPI | None = None,
        search_dim: int | None = None,
        shortlist: int | None = None,
        rerank_dim: int | None = None,
        **store_kwargs: Any,
    ) -> MatryoshkaVectorStore:
        """Open (or create) a funnel store for a :class:`MatryoshkaEmbedding`.

        Args:
            embed_model: The ``MatryoshkaEmbedding`` whose model fills the store.
            collection_name: The Chroma collection (``mrl_rag`` by default, as in
                every mrl-rag entry point).
            persist_directory: Folder of an embedded Chroma. With neither this nor
                ``client``, the store is written to ``./mrl_store``, as every
                mrl-rag entry point does.
            client: Any Chroma client instead.
            search_dim: First-stage dimension of a new collection.
            shortlist: First-stage candidates per query.
            rerank_dim: Dimension of the exact rerank (default: full).
            **store_kwargs: Passed to :class:`mrl_rag.MatryoshkaStore` (for
                example ``hnsw``, ``full_dtype``, ``chroma_texts``); an unknown
                name is an error.

        Raises:
            TypeError: If ``embed_model`` is not a ``MatryoshkaEmbedding`` (the
                store needs its full vectors and prefixes), or for an unknown
                store option.
        """
        if not isinstance(embed_model, MatryoshkaEmbedding):
            raise ArgumentTypeError(
                "MatryoshkaVectorStore.from_embedding needs a MatryoshkaEmbedding (the store "
                "keeps full vectors and the model's prefixes), got "
                f"{type(embed_model).__name__}."
            )
        store = MatryoshkaStore(
            embed_model.matryoshka_embedder,
            collection=collection_name,
            path=persist_directory if client is None else None,
            client=client,
            search_dim=search_dim,
            **store_kwargs,
        )
        return cls(store, shortlist=shortlist, rerank_dim=rerank_dim)

    @classmethod
    def from_params(
        cls,
        embed_model: MatryoshkaEmbedding,
        collection_name: str = DEFAULT_COLLECTION,
        host: str | None = None,
        port: str | int | None = None,
        ssl: bool = False,
        headers: dict[str, str] | None = None,
        persist_dir: str | Path | None = None,
        **kwargs: Any,
    ) -> MatryoshkaVectorStore:
        """Open (or create) a store from connection settings, as ``ChromaVectorStore.from_params``.

        Args:
            embed_model: The ``MatryoshkaEmbedding`` whose model fills the store.
            collection_name: The Chroma collection.
            host: A Chroma server's host (then ``port``, ``ssl``, ``headers``
                apply); without one, an embedded Chroma at ``persist_dir``.
            port: The server's port (Chroma's default when unset).
            ssl: Whether the server speaks HTTPS.
            headers: Extra HTTP headers (for example an auth token).
            persist_dir: Folder of an embedded Chroma (with no ``host``).
            **kwargs: As for :meth:`from_embedding` (``search_dim``,
                ``shortlist``, store options).
        """
        if host is None:
            return cls.from_embedding(
                embed_model,
                collection_name=collection_name,
                persist_directory=persist_dir,
                **kwargs,
            )
        if persist_dir is not None:
            raise InvalidArgumentError(
                f"Pass host={host!r} (a Chroma server) or persist_dir={str(persist_dir)!r} "
                "(an embedded Chroma), not both."
            )
        import chromadb

        client = chromadb.HttpClient(
            host=host, port=int(port) if port is not None else 8000, ssl=ssl, headers=headers
        )
        return cls.from_embedding(
            embed_model, collection_name=collection_name, client=client, **kwargs
        )

    @classmethod
    def class_name(cls) -> str:
        """Name used when serialising the component."""
        return "MatryoshkaVectorStore"

    @property
    def client(self) -> Any:
        """The Chroma collection behind the store."""
        return self._store.collection

    @property
    def store(self) -> MatryoshkaStore:
        """The core funnel store."""
        return self._store

    @property
    def profile(self) -> ModelProfile:
        """The model profile of the store."""
        return self._store.profile

    def _full(self, vector: Sequence[float] | None, what: str) -> np.ndarray:
        full_dim = self._store.profile.full_dim
        if vector is None or len(vector) != full_dim:
            got = "no vector" if vector is None else f"a {len(vector)}-dimensional vector"
            raise InvalidArgumentError(
                f"MatryoshkaVectorStore needs full {full_dim}-dimensional {what} embeddings "
                f"of {self._store.profile.name}, got {got}. Use MatryoshkaEmbedding(dim=None) "
                "as the index's embed_model: the store truncates by itself."
            )
        return np.asarray(vector, dtype=np.float32)

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        """Add nodes with their full embeddings; text, metadata and relationships are kept."""
        if not nodes:
            return []
        vectors = np.stack([self._full(n.get_embedding(), "node") for n in nodes])
        ids = [n.node_id for n in nodes]
        texts = [n.get_content(metadata_mode=MetadataMode.NONE) or None for n in nodes]
        metadatas = [
            node_to_metadata_dict(n, remove_text=True, flat_metadata=self.flat_metadata)
            for n in nodes
        ]
        return self._store.add_vectors(ids, vectors, texts=texts, metadatas=metadatas, upsert=True)

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of the source document ``ref_doc_id``."""
        self._store.delete(where={"ref_doc_id": ref_doc_id})

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete nodes by id and/or metadata filter."""
        self._store.delete(node_ids, where=to_chroma_where(filters))

    def get_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        """Nodes by id, by metadata filters, or both (``None`` and ``None``: every node)."""
        hits = self._store.get(node_ids, where=to_chroma_where(filters))
        return [to_node_with_score(hit).node for hit in hits]

    def clear(self) -> None:
        """Delete every node; the store starts again, empty, with the same settings."""
        self._store.reset()

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Funnel search with the query's full embedding and filters.

        Args:
            query: The query: its full embedding, ``similarity_top_k``, filters,
                ``doc_ids`` and mode: ``default`` (the funnel's ranking) or
                ``mmr`` (max marginal relevance on the full vectors, with
                ``mmr_threshold`` as its relevance weight, 0.5 when unset).
            **kwargs: What ``vector_store_kwargs`` passes: ``where`` (a Chroma
                filter, instead of ``query.filters``), ``where_document``,
                ``shortlist``, ``rerank_dim``, ``mmr_threshold``, and
                ``mmr_prefetch_k`` (the MMR pool, as the shortlist).

        Raises:
            ValueError: For another query mode, for filters given both ways,
                or for node ids (use :meth:`get_nodes`).
        """
        where = to_chroma_where(query.filters)
        if "where" in kwargs:
            if where is not None:
                raise InvalidArgumentError(
                    "Pass metadata filters as query filters or as vector_store_kwargs "
                    f"where={kwargs['where']!r}, not both."
                )
            where = kwargs["where"]
        mmr_lambda = None
        if query.mode == VectorStoreQueryMode.MMR:
            mmr_lambda = kwargs.get("mmr_threshold", query.mmr_threshold)
            mmr_lambda = 0.5 if mmr_lambda is None else mmr_lambda
        elif query.mode != VectorStoreQueryMode.DEFAULT:
            raise InvalidArgumentError(
                f"vector_store_query_mode={query.mode.value!r} is not supported by "
                "MatryoshkaVectorStore; supported: 'default', 'mmr'."
            )
        shortlist = kwargs.get("shortlist", self.shortlist)
        if mmr_lambda is not None and "mmr_prefetch_k" in kwargs:
            shortlist = kwargs["mmr_prefetch_k"]
        if query.node_ids:
            raise InvalidArgumentError(
                "query by node_ids is not supported; use get_nodes(node_ids)."
            )
        if query.doc_ids:
            ids_filter = {"ref_doc_id": {"$in": list(query.doc_ids)}}
            where = {"$and": [where, ids_filter]} if where else ids_filter
        hits = self._store.search_by_vector(
            self._full(query.query_embedding, "query"),
            k=query.similarity_top_k,
            shortlist=shortlist,
            rerank_dim=kwargs.get("rerank_dim", self.rerank_dim),
            where=where,
            where_document=kwargs.get("where_document"),
            mmr_lambda=mmr_lambda,
        )
        scored = [to_node_with_score(hit) for hit in hits]
        return VectorStoreQueryResult(
            nodes=[s.node for s in scored],
            similarities=[s.score for s in scored],
            ids=[h.id for h in hits],
        )
