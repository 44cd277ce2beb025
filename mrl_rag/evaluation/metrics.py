"""Ranking metrics: nDCG@k, recall@k and MRR@k.

This is the one implementation of these metrics in mrl-rag: ``mrl-rag eval``
and the benchmarks both import it. It needs nothing but the standard library
(and the shared argument checks), so importing it is cheap.

A ranking is a sequence of document ids, best first. Relevance is a mapping
from document id to its graded gain (the BEIR/pytrec_eval convention: the
gain is the grade); ids with a gain above 0 count as relevant.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from mrl_rag._validation import check_count

__all__ = ["mrr_at_k", "ndcg_at_k", "recall_at_k"]


def ndcg_at_k(ranked: Sequence[str], relevant: Mapping[str, float], k: int = 10) -> float:
    """Normalised discounted cumulative gain of the top ``k``.

    The gain of a document is its grade in ``relevant`` (0 when absent),
    discounted by ``log2(rank + 1)`` with ranks from 1; the ideal ranking sorts
    the grades in ``relevant`` from highest to lowest.

    Args:
        ranked: Document ids, best first.
        relevant: Graded relevance of the relevant documents.
        k: The cut-off.

    Returns:
        nDCG@k in [0, 1]; 0.0 when nothing is relevant.

    Raises:
        InvalidArgumentError: If ``k`` is not a positive integer.
    """
    k = check_count(k, name="k")
    dcg = sum(relevant.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(grade / math.log2(rank + 2) for rank, grade in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: Sequence[str], relevant: Mapping[str, float], k: int) -> float:
    """Share of the relevant documents found in the top ``k``.

    Args:
        ranked: Document ids, best first.
        relevant: Graded relevance; ids with a gain above 0 are relevant.
        k: The cut-off.

    Returns:
        Recall@k in [0, 1]; 0.0 when nothing is relevant.

    Raises:
        InvalidArgumentError: If ``k`` is not a positive integer.
    """
    k = check_count(k, name="k")
    wanted = {doc for doc, grade in relevant.items() if grade > 0}
    return len(set(ranked[:k]) & wanted) / len(wanted) if wanted else 0.0


def mrr_at_k(ranked: Sequence[str], relevant: Mapping[str, float], k: int = 10) -> float:
    """Reciprocal rank of the first relevant document in the top ``k``.

    Averaged over queries, this is MRR@k.

    Args:
        ranked: Document ids, best first.
        relevant: Graded relevance; ids with a gain above 0 are relevant.
        k: The cut-off.

    Returns:
        ``1 / rank`` of the first relevant document (ranks from 1), or 0.0 when
        none is in the top ``k``.

    Raises:
        InvalidArgumentError: If ``k`` is not a positive integer.
    """
    k = check_count(k, name="k")
    return next(
        (1.0 / (rank + 1) for rank, doc in enumerate(ranked[:k]) if relevant.get(doc, 0) > 0),
        0.0,
    )
