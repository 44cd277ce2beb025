"""What a Chroma client holds: mrl-rag stores and their settings, read without opening them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mrl_rag.store.layout import _INTERNAL, META

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

__all__ = ["StoreInfo", "list_stores"]


@dataclass(frozen=True)
class StoreInfo:
    """One mrl-rag store (a Chroma collection made by :class:`MatryoshkaStore`).

    Attributes:
        collection: The collection's name.
        model: The model it was built with.
        full_dim: The full dimension of its vectors.
        search_dim: The dimension of its first stage.
        full_vectors: ``"local"`` or ``"chroma"``.
        full_dtype: ``"float32"``, ``"float16"`` or ``"int8"``.
        chroma_texts: Whether Chroma holds the texts too.
        adaptor: The adaptor's fingerprint, or ``None``.
        count: How many records it holds.
        files_bytes: Bytes of its local full-vector files (``None`` for the
            ``chroma`` format, or a client without a folder).
    """

    collection: str
    model: str
    full_dim: int
    search_dim: int
    full_vectors: str
    full_dtype: str
    chroma_texts: bool
    adaptor: str | None
    count: int
    files_bytes: int | None


def list_stores(client: ClientAPI) -> list[StoreInfo]:
    """The mrl-rag stores a Chroma client holds, by collection name.

    Reads each collection's metadata and count; opens no store, takes no lock
    and writes nothing. Collections that mrl-rag did not make, and its own
    internal ones (adaptors, a reindex in progress), are left out.

    Args:
        client: Any Chroma client.
    """
    from mrl_rag.store.store import persist_dir_of

    folder = persist_dir_of(client)
    out = []
    for collection in client.list_collections():
        meta = collection.metadata or {}
        if META + "model" not in meta or _INTERNAL in meta:
            continue
        fmt = str(meta.get(META + "format"))
        files: int | None = None
        if fmt == "local" and folder is not None:
            files = _folder_bytes(folder / "mrl_rag" / str(meta.get(META + "store_id")))
        out.append(
            StoreInfo(
                collection=collection.name,
                model=str(meta[META + "model"]),
                full_dim=int(meta[META + "full_dim"]),
                search_dim=int(meta[META + "search_dim"]),
                full_vectors=fmt,
                full_dtype=str(meta.get(META + "full_dtype", "float32")),
                chroma_texts=bool(meta.get(META + "chroma_texts", True)),
                adaptor=str(meta.get(META + "adaptor") or "") or None,
                count=collection.count(),
                files_bytes=files,
            )
        )
    return sorted(out, key=lambda info: info.collection)


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
