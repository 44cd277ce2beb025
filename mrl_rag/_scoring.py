"""The one scoring path: cosine similarity of unit vectors, exact top-k, and MMR."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["cosine_scores", "max_marginal_relevance", "top_k"]


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
    if scores.ndim == 1:  # one query (every rerank): plain indexing, no broadcasting
        part = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
        return part[np.lexsort((part, -scores[part]))]
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=-1)[..., :k]
    else:
        part = np.broadcast_to(np.arange(n), scores.shape).copy()
    part_scores = np.take_along_axis(scores, part, axis=-1)
    # lexsort: last key is primary. Sort by score descending, then index ascending.
    order = np.lexsort((part, -part_scores), axis=-1)
    return np.take_along_axis(part, order, axis=-1)


def max_marginal_relevance(
    scores: npt.NDArray[np.float32],
    documents: npt.NDArray[np.float32],
    k: int,
    lambda_mult: float,
) -> npt.NDArray[np.intp]:
    """Pick ``k`` documents one at a time, trading relevance against redundancy.

    Each pick maximises ``lambda_mult * score - (1 - lambda_mult) * s``, where
    ``s`` is the document's highest cosine similarity to those already picked
    (Carbonell and Goldstein's maximal marginal relevance). ``lambda_mult=1``
    is the plain ranking by score; ``0`` only avoids redundancy. Ties go to the
    lower index, so results are deterministic.

    Args:
        scores: Shape ``(n,)``: each document's similarity to the query.
        documents: Shape ``(n, d)``, unit length: the vectors compared with
            each other.
        k: How many to pick; more than ``n`` picks all ``n``.
        lambda_mult: Weight of relevance, in ``[0, 1]``.

    Returns:
        Indices of the picked documents, in the order they were picked.
    """
    scores = np.asarray(scores, dtype=np.float32)
    n = len(scores)
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=np.intp)
    documents = np.asarray(documents, dtype=np.float32)
    picked = np.zeros(k, dtype=np.intp)
    redundancy = np.full(n, -1.0, dtype=np.float32)  # highest similarity to a pick so far
    free = np.ones(n, dtype=bool)
    for i in range(k):
        # Nothing picked yet: the most relevant first.
        gain = scores.copy() if i == 0 else lambda_mult * scores - (1 - lambda_mult) * redundancy
        gain[~free] = -np.inf
        best = int(np.argmax(gain))  # first of equal gains: the lower index
        picked[i] = best
        free[best] = False
        np.maximum(redundancy, documents @ documents[best], out=redundancy)
    return picked
