"""Reindex: build a new first-stage index beside the old one, then swap names.

Steps, each safe to be interrupted:

1. create ``<name>.mrl-reindex-<token>`` (marked internal) and fill it from the
   stored full vectors, while the old index keeps serving;
2. rename the old collection to ``<name>.mrl-retired-<token>`` (marked);
3. rename the new one to ``<name>`` (marks removed);
4. delete the retired one.

:func:`recover` finishes or undoes an interrupted reindex: with no collection
under the name, the new index (complete, since the old one is retired only
then) takes it over; leftovers of a finished or failed reindex are deleted.
Store objects that still hold the old collection find the new one by name on
their next call (see ``MatryoshkaStore._call``), so other store objects, in this
process or another, keep answering: from the old index until the swap, from
the new one after it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from mrl_rag._adaptor import OrthogonalAdaptor
from mrl_rag._errors import InvalidVectorError, MRLRagError
from mrl_rag._truncate import truncate
from mrl_rag.store import layout as lay
from mrl_rag.store.layout import (
    META,
    Layout,
    find_collection,
    internal_name,
    mark,
    owned_internals,
    unmark,
)

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

__all__ = ["copy_into", "rebuild", "recover", "swap"]

logger = logging.getLogger(__name__)

ReadFull = Callable[[Sequence[str], Sequence[Any]], npt.NDArray[np.float32]]
LockFactory = Callable[[], contextlib.AbstractContextManager[Any]]


def rebuild(
    client: ClientAPI,
    home: str,
    *,
    store_id: str,
    model: str,
    held: Layout,
    target: Layout,
    read_full: ReadFull,
    batch_size: int,
    read_lock: LockFactory,
    swap_lock: LockFactory,
    install: Callable[[Layout], None],
) -> None:
    """Build ``target``'s index beside ``held``'s, then swap it in (steps 1 to 4).

    Args:
        client: The Chroma client.
        home: The store's collection name.
        store_id: The store's id (names its adaptor side collections).
        model: The model's name (recorded with an adaptor).
        held: The serving layout.
        target: The new search dimension and adaptor (its collection is unused).
        read_full: Reads stored full vectors by ids and Chroma metadata.
        batch_size: Records copied per step.
        read_lock: Held while copying (no write commits meanwhile).
        swap_lock: Held while swapping (searches wait).
        install: Called with the new layout, under ``swap_lock``.
    """
    old_fp = held.adaptor.fingerprint if held.adaptor is not None else ""
    new_fp = target.adaptor.fingerprint if target.adaptor is not None else ""
    if target.adaptor is not None and new_fp != old_fp:
        lay.save_adaptor(client, store_id, target.adaptor, model)  # complete before use
    token = lay.new_token()
    meta = dict(held.collection.metadata or {})
    meta[META + "search_dim"] = target.search_dim
    meta[META + "adaptor"] = new_fp
    building = internal_name(home, "reindex", token)
    try:
        new = lay.create_collection(
            client, building, mark(meta, home, token), lay.hnsw_settings(held.collection)
        )
        with read_lock():
            copy_into(
                held.collection, new, read_full, target.search_dim, target.adaptor, batch_size
            )
    except BaseException:
        # Leave nothing behind but the old index, which is unchanged.
        if any(c.name == building for _, _, c in owned_internals(client, home)):
            client.delete_collection(building)
        if target.adaptor is not None and new_fp != old_fp:
            lay.drop_adaptor(client, store_id, new_fp)
        raise
    with swap_lock():
        new = swap(client, home, held.collection, new, token)
        install(Layout(new, target.search_dim, target.adaptor))
    if old_fp and new_fp != old_fp:
        lay.drop_adaptor(client, store_id, old_fp)


def recover(client: ClientAPI, home: str, *, delete_leftovers: bool) -> None:
    """Finish or undo an interrupted reindex of the collection ``home``.

    Args:
        client: The Chroma client.
        home: The store's collection name.
        delete_leftovers: Also delete internal collections of a reindex that
            finished or failed. Only safe where no other process can be
            reindexing this store right now (an embedded client, which mrl-rag
            opens in one process at a time).
    """
    internals = list(owned_internals(client, home))
    if not internals:
        return
    if find_collection(client, home) is None:
        retired = {token: c for role, token, c in internals if role == "retired"}
        building = {token: c for role, token, c in internals if role == "reindex"}
        for token, old in retired.items():
            new = building.get(token)
            survivor = new if new is not None else old
            logger.warning("Finishing an interrupted reindex of %r.", home)
            survivor.modify(name=home, metadata=unmark(dict(survivor.metadata or {})))
            if new is not None:
                client.delete_collection(old.name)
            break
        internals = list(owned_internals(client, home))
    if delete_leftovers:
        for _, _, collection in internals:
            client.delete_collection(collection.name)


def copy_into(
    old: Collection,
    new: Collection,
    read_full: ReadFull,
    new_dim: int,
    adaptor: OrthogonalAdaptor | None,
    batch_size: int,
) -> None:
    """Fill ``new`` from ``old``'s records and the stored full vectors (no model)."""
    from tqdm.auto import tqdm

    total = old.count()
    with tqdm(total=total, desc=f"Reindexing at {new_dim} dims", disable=total < 10_000) as bar:
        for offset in range(0, total, batch_size):
            page = old.get(include=["metadatas", "documents"], limit=batch_size, offset=offset)
            if not page["ids"]:
                break
            full = read_full(page["ids"], page["metadatas"])
            if adaptor is not None:
                full = adaptor.transform(full)
            blind = np.flatnonzero(~full[:, :new_dim].any(axis=1))
            if len(blind):
                raise InvalidVectorError(
                    f"Record {page['ids'][blind[0]]!r} is zero in its first {new_dim} "
                    f"dimensions: at search_dim={new_dim} the first stage could never find "
                    "it. Pick a larger search_dim (the old index is unchanged)."
                )
            new.add(
                ids=page["ids"],
                embeddings=truncate(full, new_dim),
                metadatas=page["metadatas"],
                documents=page["documents"]
                if any(d is not None for d in page["documents"])
                else None,  # a store whose texts are not in Chroma
            )
            bar.update(len(page["ids"]))
    if new.count() != total:
        raise MRLRagError(
            f"Reindex copied {new.count()} of {total} records (was the collection written "
            "to by another client meanwhile?); the old index is unchanged."
        )


def swap(client: ClientAPI, home: str, old: Collection, new: Collection, token: str) -> Collection:
    """Retire ``old`` and give ``new`` the name ``home``; return the new collection."""
    old.modify(
        name=internal_name(home, "retired", token),
        metadata=mark(dict(old.metadata or {}), home, token),
    )
    new.modify(name=home, metadata=unmark(dict(new.metadata or {})))
    client.delete_collection(internal_name(home, "retired", token))
    return new
