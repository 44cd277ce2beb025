"""Adopting a plain Chroma collection of full-size vectors: a funnel store without the model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from mrl_rag._errors import InvalidArgumentError, StoreMismatchError, StoreNotFoundError
from mrl_rag.store.layout import META, find_collection

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

    from mrl_rag.store.store import MatryoshkaStore

__all__ = ["adopt"]


def adopt(
    source: Collection,
    target: MatryoshkaStore,
    *,
    batch_size: int,
) -> int:
    """Copy every record of ``source`` into the empty store ``target``, vectors as they are.

    Reads ids, documents, metadatas and embeddings page by page (Chroma's
    ``get`` with ``limit``/``offset``), writes each page with
    :meth:`MatryoshkaStore.add_vectors`, and never writes to ``source``.

    Args:
        source: A collection of full-size vectors from the target's model
            (for example one made by ``langchain_chroma.Chroma`` or LlamaIndex's
            ``ChromaVectorStore``).
        target: A new, empty store for the same model.
        batch_size: Records read and written per page.

    Returns:
        The number of records copied.

    Raises:
        StoreMismatchError: If the source's vectors do not have the model's full
            dimension, or if the source changed while it was copied.
    """
    from tqdm.auto import tqdm

    total = source.count()
    full_dim = target.profile.full_dim
    copied = 0
    with tqdm(
        total=total, desc=f"Adopting {source.name}", unit="record", disable=total < 1000
    ) as bar:
        for offset in range(0, total, batch_size):
            page = source.get(
                include=["embeddings", "documents", "metadatas"], limit=batch_size, offset=offset
            )
            if not page["ids"]:
                break
            vectors = np.asarray(page["embeddings"], dtype=np.float32)
            if vectors.ndim != 2 or vectors.shape[1] != full_dim:
                raise StoreMismatchError(
                    f"Collection {source.name!r} holds {vectors.shape[-1]}-dimensional vectors, "
                    f"but {target.profile.name} makes {full_dim}-dimensional ones: it was not "
                    "embedded with this model at full size, so it cannot be adopted (re-embed "
                    "its texts with store.add instead)."
                )
            target.add_vectors(
                page["ids"],
                vectors,
                texts=[t or None for t in page["documents"]],
                metadatas=[_plain(m) for m in page["metadatas"]],
                batch_size=batch_size,
            )
            copied += len(page["ids"])
            bar.update(len(page["ids"]))
    if copied != total or source.count() != total:
        raise StoreMismatchError(
            f"Collection {source.name!r} changed while it was adopted ({copied} records copied, "
            f"{source.count()} there now); stop its writers, drop the new store and adopt again."
        )
    return copied


def find_source(client: ClientAPI, name: str, target: str) -> Collection:
    """The plain collection to adopt, checked: it exists, is not mrl-rag's, is not ``target``."""
    if name == target:
        raise InvalidArgumentError(
            f"The new store needs its own collection name: source and collection are both "
            f"{name!r} (the source is left untouched)."
        )
    source = find_collection(client, name)
    if source is None:
        names = sorted(c.name for c in client.list_collections())
        raise StoreNotFoundError(
            f"No collection {name!r} to adopt; there are: {', '.join(map(repr, names)) or 'none'}."
        )
    if META + "model" in (source.metadata or {}):
        raise InvalidArgumentError(
            f"Collection {name!r} is already an mrl-rag store: open it instead."
        )
    return source


def _plain(metadata: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return dict(metadata) if metadata else None
