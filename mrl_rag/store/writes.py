"""The one Chroma write: a batch as one upsert (or one delete), which Chroma applies whole."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mrl_rag._errors import InvalidVectorError
from mrl_rag._truncate import truncate
from mrl_rag.store.chroma_format import ChromaFullVectors
from mrl_rag.store.layout import Layout
from mrl_rag.store.records import WriteBatch

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

__all__ = ["apply_batch"]


def apply_batch(
    layout: Layout, batch: WriteBatch, chroma: ChromaFullVectors | None, *, texts: bool = True
) -> None:
    """Write ``batch`` into the serving collection in one Chroma call.

    Args:
        layout: The serving collection, its search dimension and adaptor.
        batch: Records to put (or ids to delete; a batch never holds both).
        chroma: The ``chroma`` format, which puts the full vectors into the
            records' metadata; ``None`` for the ``local`` format.
        texts: Whether Chroma holds the records' texts too (a store made with
            ``chroma_texts=False`` keeps them only in its local files).
    """
    col = layout.collection
    if batch.deletes:
        col.delete(ids=batch.deletes)
        return
    if not batch.puts:
        return
    search = truncate(layout.search_view(batch.full), layout.search_dim)
    blind = np.flatnonzero(~search.any(axis=1))
    if len(blind):  # before any call: a refusal, nothing is written
        raise InvalidVectorError(
            f"Record {batch.puts[blind[0]].id!r} is zero in its first {layout.search_dim} "
            "dimensions (the store's search_dim): the first stage could never find it."
        )
    ids = [r.id for r in batch.puts]
    metadatas: list[dict[str, Any]] = [dict(r.metadata) for r in batch.puts]
    documents: list[str | None] = [r.text if texts else None for r in batch.puts]
    if not batch.new:
        _clear_what_a_put_replaces(col, ids, metadatas, documents, texts=texts)
    if chroma is not None:
        for meta, fragment in zip(metadatas, chroma.encode(batch.full), strict=True):
            meta.update(fragment)
    write = col.add if batch.new else col.upsert  # add never replaces: the ids are new
    write(
        ids=ids,
        embeddings=search,
        metadatas=[m or None for m in metadatas],  # type: ignore[misc]
        documents=documents if any(d is not None for d in documents) else None,  # type: ignore[arg-type]
    )


def _clear_what_a_put_replaces(
    col: Collection,
    ids: list[str],
    metadatas: list[dict[str, Any]],
    documents: list[str | None],
    *,
    texts: bool,
) -> None:
    """Make an upsert replace stored records whole, editing ``metadatas`` and ``documents``.

    Chroma's upsert merges into an existing record: it keeps metadata keys the new
    write leaves out and the old document when the new one has none. A put replaces
    the whole record, so it clears them (a None value drops a key; "" clears a
    document, which reads map back to None: stored texts are never empty).
    """
    old = col.get(ids=ids, include=["metadatas"])
    old_meta = dict(zip(old["ids"], old["metadatas"], strict=True))
    for i, record_id in enumerate(ids):
        if record_id in old_meta:
            for key in old_meta[record_id] or {}:
                metadatas[i].setdefault(key, None)
            if documents[i] is None and texts:
                documents[i] = ""
