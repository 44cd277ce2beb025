"""A client-side replica of a ``chroma``-format store's full vectors, checked on every search.

Over a Chroma server, shipping 100 full vectors back with every first stage
costs far more than the search itself. With a replica, a search moves only ids
and distances from the server, reranks from the replica, then fetches the
``k`` winners' records.

The replica is never trusted blindly; Chroma stays the one source of truth:

- it holds, for each id, the exact first-stage vector Chroma returned with the
  full vector; a first-stage distance that disagrees with the replica's copy
  (beyond float rounding) means the record changed since, and it is fetched
  again before the rerank, as are ids the replica has not seen;
- the winners' records are fetched with their stored full vectors, and a winner
  whose vector differs from the replica's triggers a fresh rerank.

So a search answers from what Chroma holds at that moment, whichever process
wrote it; only a replaced record whose first-stage distance to this query
changed by less than :data:`DISTANCE_TOLERANCE`, and that does not win, can be
ranked with its previous full vector (docs/funnel.md).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mrl_rag.store.chroma_format import ChromaFullVectors
from mrl_rag.store.codec import decode_rows
from mrl_rag.store.layout import Layout
from mrl_rag.store.records import Record
from mrl_rag.store.search import SearchPlan, SearchResult, rerank, results

__all__ = ["DISTANCE_TOLERANCE", "FullVectorReplica", "fill_replica", "rerank_from_replica"]

#: Largest difference between Chroma's first-stage distance and the replica's
#: that counts as float rounding (Chroma computes it in float32).
DISTANCE_TOLERANCE = 1e-4


class FullVectorReplica:
    """Full vectors and first-stage vectors by id, for one collection.

    Args:
        collection_id: The collection it mirrors (a reindex makes a new one).
        dim: The full dimension.
        search_dim: The collection's first-stage dimension.
        dtype: The storage dtype of the full vectors (as the store keeps them).
    """

    def __init__(self, collection_id: Any, dim: int, search_dim: int, dtype: np.dtype) -> None:
        self.collection_id = collection_id
        self.dim, self.search_dim, self.dtype = dim, search_dim, dtype
        self._rows: dict[str, int] = {}
        self._full = np.empty((0, dim), dtype=dtype)
        self._first = np.empty((0, search_dim), dtype=np.float32)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def nbytes(self) -> int:
        """Bytes of vectors held (capacity included)."""
        return self._full.nbytes + self._first.nbytes

    def reserve(self, records: int) -> None:
        """Make room for ``records`` in all, so that filling grows the arrays once."""
        with self._lock:
            if records > len(self._full):
                self._full = _grown(self._full, records)
                self._first = _grown(self._first, records)

    def put(
        self,
        ids: Sequence[str],
        first: npt.ArrayLike,
        full_rows: npt.NDArray[Any],
    ) -> None:
        """Take (or replace) records as Chroma returned them.

        Args:
            ids: Their ids.
            first: Their first-stage vectors, as Chroma holds them.
            full_rows: Their stored full-vector rows (the store's dtype).
        """
        first = np.asarray(first, dtype=np.float32).reshape(len(ids), self.search_dim)
        with self._lock:
            rows = np.empty(len(ids), dtype=np.intp)
            grow = 0
            for n, record_id in enumerate(ids):
                row = self._rows.get(record_id)
                if row is None:
                    row = len(self._rows)
                    self._rows[record_id] = row
                    grow = max(grow, row + 1)
                rows[n] = row
            if grow > len(self._full):
                capacity = max(grow, 2 * len(self._full), 1024)
                self._full = _grown(self._full, capacity)
                self._first = _grown(self._first, capacity)
            self._full[rows] = full_rows
            self._first[rows] = first

    def lookup(self, ids: Sequence[str]) -> npt.NDArray[np.intp]:
        """Rows of ``ids`` in the replica, ``-1`` where it has none."""
        return np.fromiter(
            map(self._rows.get, ids, itertools.repeat(-1)), dtype=np.intp, count=len(ids)
        )

    def disagreeing(
        self,
        rows: npt.NDArray[np.intp],
        query_first: npt.NDArray[np.float32],
        distances: npt.ArrayLike,
    ) -> npt.NDArray[np.bool_]:
        """Which of ``rows`` are missing, or whose first-stage vector is not Chroma's.

        Args:
            rows: From :meth:`lookup`.
            query_first: The first-stage query vector (unit length).
            distances: Chroma's cosine distances for those records.
        """
        known = rows >= 0
        with self._lock:
            mine = 1.0 - self._first[rows[known]] @ query_first
        bad = ~known
        bad[known] = np.abs(mine - np.asarray(distances, dtype=np.float32)[known]) > (
            DISTANCE_TOLERANCE
        )
        return bad

    def full(self, rows: npt.NDArray[np.intp]) -> npt.NDArray[Any]:
        """The stored full-vector rows (the store's dtype) of known ``rows``."""
        with self._lock:
            return self._full[rows]


def fill_replica(
    replica: FullVectorReplica, chroma: ChromaFullVectors, got: Mapping[str, Any]
) -> None:
    """Put into ``replica`` the records of a Chroma ``get`` with embeddings and metadatas."""
    replica.put(got["ids"], got["embeddings"], chroma.raw(got["ids"], got["metadatas"]))


def rerank_from_replica(
    replica: FullVectorReplica,
    chroma: ChromaFullVectors,
    plan: SearchPlan,
    layout: Layout,
    queries: npt.NDArray[np.float32],
    firsts: npt.NDArray[np.float32],
    got: Mapping[str, Any],
) -> list[list[SearchResult]] | None:
    """Rerank from the replica, checked against Chroma (see the module's docstring).

    Args:
        replica: The replica of ``layout``'s collection.
        chroma: The store's ``chroma`` format.
        plan: The validated search.
        layout: The serving layout.
        queries: The full, unit-length query vectors, one row per query.
        firsts: Their first-stage vectors, as sent to Chroma.
        got: Chroma's query answer (ids and distances).

    Returns:
        Each query's results, or ``None`` if writers changed the winners three
        times in a row.
    """
    col = layout.collection
    hits = [
        (ids, np.asarray(dists, dtype=np.float32))
        for ids, dists in zip(got["ids"], got["distances"], strict=True)
    ]
    rows = [replica.lookup(ids) for ids, _ in hits]
    stale: set[str] = set()
    for (ids, dists), first, held_rows in zip(hits, firsts, rows, strict=True):
        bad = replica.disagreeing(held_rows, first, dists)
        stale.update(ids[i] for i in np.flatnonzero(bad).tolist())
    gone: set[str] = set()
    if stale:
        fresh = col.get(ids=sorted(stale), include=["embeddings", "metadatas"])
        fill_replica(replica, chroma, fresh)
        gone = stale - set(fresh["ids"])
    for _ in range(3):
        ranked = []
        for q, (ids, _) in enumerate(hits):
            if stale or gone:  # records were fetched again or went: look them up again
                keep = [i for i, record_id in enumerate(ids) if record_id not in gone]
                held = replica.full(replica.lookup([ids[i] for i in keep]))  # a copy
            else:
                keep, held = list(range(len(ids))), replica.full(rows[q])
            order, scores = (
                rerank(plan, layout, queries[q], decode_rows(held)) if keep else ([], [])
            )
            ranked.append(([keep[i] for i in order], scores, held[order]))
        winners = sorted({hits[q][0][i] for q, (pos, _, _) in enumerate(ranked) for i in pos})
        if not winners:
            return [[] for _ in hits]
        found = col.get(ids=winners, include=["metadatas", "documents"])
        by_id = {record_id: n for n, record_id in enumerate(found["ids"])}
        stored = chroma.raw(found["ids"], found["metadatas"])
        changed = set(winners) - set(by_id)
        for q, (pos, _, used) in enumerate(ranked):  # the rows each score came from
            mine = [hits[q][0][i] for i in pos]
            at = [by_id.get(record_id, -1) for record_id in mine]
            same = (stored[at] == used).all(axis=1) if len(stored) else np.zeros(len(at), bool)
            changed.update(r for r, n, ok in zip(mine, at, same, strict=True) if n >= 0 and not ok)
        if not changed:
            docs, metas = found["documents"], found["metadatas"]
            out = []
            for q, (pos, scores, _) in enumerate(ranked):
                ids, dists = hits[q]
                records = [
                    Record(ids[i], docs[by_id[ids[i]]] or None, metas[by_id[ids[i]]] or {})
                    for i in pos
                ]
                out.append(results(pos, scores, records, dists))
            return out
        # A winner changed since the first stage: refresh it (with the first-stage
        # vector the replica checks distances against), then rank again.
        replaced = sorted(changed.intersection(by_id))
        if replaced:
            fresh = col.get(ids=replaced, include=["embeddings", "metadatas"])
            fill_replica(replica, chroma, fresh)
        gone |= set(winners) - set(by_id)
    return None


def _grown(array: npt.NDArray[Any], capacity: int) -> npt.NDArray[Any]:
    out = np.empty((capacity, array.shape[1]), dtype=array.dtype)
    out[: len(array)] = array
    return out
