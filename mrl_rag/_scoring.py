"""The one scoring path: cosine similarity of unit vectors and exact top-k."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["cosine_scores", "top_k"]


def cosine_scores(
    queries: npt.NDArray[np.float32], documents: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Cosine similarity of every query with every document.

    Both inputs must already be unit length (everything the embedder and
    :func:`mrl_rag.truncate` return is), so the cosine is a dot product.

    Args:
        queries: Shape ``(q, d)`` or ``(d,)``.
        documents: Shape ``(n, d)``.

    Returns:
        Shape ``(q, n)`` (or ``(n,)`` for one query), values in ``[-1, 1]``.
    """
    return np.asarray(queries, dtype=np.float32) @ np.asarray(documents, dtype=np.float32).T


def top_k(scores: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.intp]:
    """Indices of the ``k`` highest scores of each row, best first.

    Equal scores are ordered by index, so results are deterministic.

    Args:
        scores: Shape ``(q, n)`` or ``(n,)``.
        k: How many to keep; more than ``n`` keeps all ``n``.

    Returns:
        Shape ``(q, min(k, n))`` (or ``(min(k, n),)``).
    """
    scores = np.asarray(scores)
    n = scores.shape[-1]
    k = min(k, n)
    if k <= 0:
        return np.zeros((*scores.shape[:-1], 0), dtype=np.intp)
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=-1)[..., :k]
    else:
        part = np.broadcast_to(np.arange(n), scores.shape).copy()
    part_scores = np.take_along_axis(scores, part, axis=-1)
    # lexsort: last key is primary. Sort by score descending, then index ascending.
    order = np.lexsort((part, -part_scores), axis=-1)
    return np.take_along_axis(part, order, axis=-1)
