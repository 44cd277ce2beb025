"""Repair: rebuild a local store's damaged full-vector files from the texts in Chroma."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mrl_rag._errors import InvalidArgumentError, StoreDamagedError, StoreNotFoundError
from mrl_rag.store import layout as lay
from mrl_rag.store.layout import META
from mrl_rag.store.locks import ProcessLock

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

    from mrl_rag._embedder import MatryoshkaEmbedder
    from mrl_rag.store.store import MatryoshkaStore

__all__ = ["repair"]

_PAGE = 1000


def repair(
    store_class: type[MatryoshkaStore],
    embedder: MatryoshkaEmbedder,
    *,
    collection: str,
    path: str | Path | None,
    client: ClientAPI | None,
    batch_size: int,
) -> MatryoshkaStore:
    """See :meth:`MatryoshkaStore.repair`."""
    import chromadb

    from mrl_rag.store.store import DEFAULT_PATH, persist_dir_of

    if client is None:
        client = chromadb.PersistentClient(path=str(path if path is not None else DEFAULT_PATH))
    persist_dir = persist_dir_of(client)
    if persist_dir is None:
        raise InvalidArgumentError("repair is for stores in an embedded PersistentClient folder.")
    lock = ProcessLock.acquire(persist_dir)
    try:
        found = lay.find_collection(client, collection)
        if found is None:
            raise StoreNotFoundError(f"No collection {collection!r} in {persist_dir}.")
        lay.check_compatible(found, embedder.profile, "local", "float32", None)
        if (found.metadata or {}).get(META + "chroma_texts") is False:
            raise StoreDamagedError(
                f"Collection {collection!r} was made with chroma_texts=False: its texts are "
                "only in the local files, so Chroma has none to re-embed. Nothing was "
                "changed; restore the folder from a backup."
            )
        ids: list[str] = []
        texts: list[Any] = []
        metas: list[dict[str, Any]] = []
        for offset in range(0, found.count(), _PAGE):
            page = found.get(include=["documents", "metadatas"], limit=_PAGE, offset=offset)
            ids += page["ids"]
            texts += page["documents"]
            metas += [dict(m or {}) for m in page["metadatas"]]
        missing = [i for i, t in zip(ids, texts, strict=True) if not t]
        if missing:
            raise StoreDamagedError(
                f"{len(missing)} records have no text in Chroma and cannot be re-embedded "
                f"(for example {missing[:3]}). Nothing was changed. Delete them from the "
                "collection with chromadb (collection.delete(ids=[...])) and repair again, "
                "or restore the folder from a backup."
            )
        folder = persist_dir / "mrl_rag" / str((found.metadata or {})[META + "store_id"])
        if folder.exists():
            stamp = time.strftime("%Y%m%d-%H%M%S")
            folder.rename(folder.with_name(f"{folder.name}.damaged-{stamp}"))
        store = store_class(embedder, client=client, collection=collection, _rebuild_files=True)
        store.add(texts, ids=ids, metadatas=metas, batch_size=batch_size, upsert=True)
        store._refilling = False  # refilled: from now on like any store
        return store
    finally:
        lock.release()
