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
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["DISTANCE_TOLERANCE", "FullVectorReplica"]

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


def _grown(array: npt.NDArray[Any], capacity: int) -> npt.NDArray[Any]:
    out = np.empty((capacity, array.shape[1]), dtype=array.dtype)
    out[: len(array)] = array
    return out
