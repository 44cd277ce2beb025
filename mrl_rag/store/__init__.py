"""The funnel store: approximate search on truncated vectors in Chroma, exact rerank on full ones.

Its parts, one job each:

- :mod:`~mrl_rag.store.store`: the public class, :class:`MatryoshkaStore`;
- :mod:`~mrl_rag.store.layout`: the collection's metadata, compatibility checks
  and mrl-rag's marked internal collections;
- :mod:`~mrl_rag.store.validation`: everything a write carries, checked once;
- :mod:`~mrl_rag.store.records` and :mod:`~mrl_rag.store.writes`: a batch of
  records, and the one Chroma call that writes it;
- :mod:`~mrl_rag.store.local_format` and :mod:`~mrl_rag.store.chroma_format`:
  where full vectors live, with the write protocol and crash recovery;
- :mod:`~mrl_rag.store.codec`: float32, float16 and int8 rows;
- :mod:`~mrl_rag.store.replica`: a client's checked copy of a server's full vectors;
- :mod:`~mrl_rag.store.locks`: threads in one process, one process per folder;
- :mod:`~mrl_rag.store.search`: the validated search plan and the rerank;
- :mod:`~mrl_rag.store.reindex`: building a new index and swapping it in;
- :mod:`~mrl_rag.store.repair`: rebuilding damaged local files from Chroma's texts;
- :mod:`~mrl_rag.store.info`: the stores a client holds, read without opening them.
"""

from mrl_rag.store.info import StoreInfo, list_stores
from mrl_rag.store.layout import STORE_FORMAT_VERSION
from mrl_rag.store.search import SearchResult
from mrl_rag.store.store import (
    DEFAULT_COLLECTION,
    DEFAULT_PATH,
    DEFAULT_SHORTLIST,
    MatryoshkaStore,
    default_search_dim,
)

__all__ = [
    "DEFAULT_COLLECTION",
    "DEFAULT_PATH",
    "DEFAULT_SHORTLIST",
    "STORE_FORMAT_VERSION",
    "MatryoshkaStore",
    "SearchResult",
    "StoreInfo",
    "default_search_dim",
    "list_stores",
]
