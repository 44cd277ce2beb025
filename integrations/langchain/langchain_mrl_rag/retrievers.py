"""The funnel store as a LangChain ``BaseRetriever``."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManager,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import get_config_list, run_in_executor
from pydantic import ConfigDict

from mrl_rag import ArgumentTypeError, MatryoshkaStore, SearchResult

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
    ``batch`` and ``abatch`` embed all their queries in one model call and send
    them to Chroma in one query (:meth:`MatryoshkaStore.search_batch`).

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
    """First-stage candidates to rerank; ``None`` uses the store's (default 100)."""
    rerank_dim: int | None = None
    """Dimension of the final exact rerank; ``None`` means the full vectors."""
    filter: dict[str, Any] | None = None
    """Chroma metadata filter (``where``) applied in the first stage."""
    where_document: dict[str, Any] | None = None
    """Chroma document filter applied in the first stage."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    def _search_args(self, **overrides: Any) -> dict[str, Any]:
        """The store's search arguments: the fields, overridden per call."""
        unknown = set(overrides) - {"k", "shortlist", "rerank_dim", "filter", "where_document"}
        if unknown:
            raise ArgumentTypeError(
                f"MatryoshkaRetriever got unexpected arguments: {sorted(unknown)}."
            )
        args = {
            "k": self.k,
            "shortlist": self.shortlist,
            "rerank_dim": self.rerank_dim,
            "filter": self.filter,
            "where_document": self.where_document,
        }
        args.update({key: value for key, value in overrides.items() if value is not None})
        args["where"] = args.pop("filter")
        return args

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        **kwargs: Any,
    ) -> list[Document]:
        hits = self.store.search(query, **self._search_args(**kwargs))
        return [to_document(hit, with_scores=True) for hit in hits]

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        **kwargs: Any,
    ) -> list[Document]:
        return await run_in_executor(
            None, self._get_relevant_documents, query, run_manager=run_manager.get_sync(), **kwargs
        )

    def batch(
        self,
        inputs: list[str],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """Retrieve for many queries with one model call and one Chroma query.

        Each input gets its own retriever run in the callbacks, as with
        ``invoke``. Keyword arguments apply to every query.
        """
        if not inputs:
            return []
        configs = get_config_list(config, len(inputs))
        runs = []
        for query, conf in zip(inputs, configs, strict=True):
            manager = CallbackManager.configure(
                conf.get("callbacks"),
                None,
                verbose=kwargs.get("verbose", False),
                inheritable_tags=conf.get("tags"),
                local_tags=self.tags,
                inheritable_metadata={**(conf.get("metadata") or {}), **self._get_ls_params()},
                local_metadata=self.metadata,
            )
            runs.append(
                manager.on_retriever_start(
                    None, query, name=conf.get("run_name") or self.get_name()
                )
            )
        kwargs.pop("verbose", None)
        try:
            found = self.store.search_batch(inputs, **self._search_args(**kwargs))
        except Exception as exc:
            for run in runs:
                run.on_retriever_error(exc)
            if return_exceptions:
                return [exc] * len(inputs)
            raise
        out = []
        for run, hits in zip(runs, found, strict=True):
            docs = [to_document(hit, with_scores=True) for hit in hits]
            run.on_retriever_end(docs)
            out.append(docs)
        return out

    async def abatch(
        self,
        inputs: list[str],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """:meth:`batch` without blocking the event loop."""
        return await run_in_executor(
            None, self.batch, inputs, config, return_exceptions=return_exceptions, **kwargs
        )
