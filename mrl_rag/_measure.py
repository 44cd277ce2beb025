"""Label-free measurement: how well truncated rankings agree with full ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mrl_rag._embedder import MatryoshkaEmbedder
from mrl_rag._errors import InvalidArgumentError
from mrl_rag._scoring import cosine_scores, top_k
from mrl_rag._validation import check_count

__all__ = ["RankAgreement", "rank_agreement"]


@dataclass(frozen=True)
class RankAgreement:
    """Agreement of search at one dimension with full-dimension search.

    Attributes:
        dim: The truncated dimension.
        k: The cut-off.
        recall_at_k: Mean share of the full-dimension top ``k`` that the
            truncated search also returns in its top ``k`` (1.0 = same sets).
        top1_agreement: Share of queries whose best document is unchanged.
    """

    dim: int
    k: int
    recall_at_k: float
    top1_agreement: float


def rank_agreement(
    embedder: MatryoshkaEmbedder,
    documents: Sequence[str],
    queries: Sequence[str],
    dims: Sequence[int],
    *,
    k: int = 10,
) -> list[RankAgreement]:
    """Measure how well truncated search reproduces full-dimension search.

    Needs no relevance labels: exact search with the full vectors is the
    reference. Documents and queries are embedded once at full size; every
    dimension is a truncation of those vectors.

    Args:
        embedder: The embedder to measure.
        documents: The collection to search.
        queries: Sample queries, ideally real ones from your users.
        dims: Dimensions to measure; each must be allowed for the model.
        k: The cut-off for recall.

    Returns:
        One :class:`RankAgreement` per dimension, in the order given.
    """
    k = check_count(k, name="k")
    checked = [embedder.resolve_dim(d) for d in dims]
    doc_full = embedder.encode(documents, input_type="document")
    query_full = embedder.encode(queries, input_type="query")
    if len(doc_full) == 0 or len(query_full) == 0:
        raise InvalidArgumentError("documents and queries must each hold at least one text.")
    reference = top_k(cosine_scores(query_full, doc_full), k)
    results = []
    for dim in checked:
        found = top_k(
            cosine_scores(embedder.truncate(query_full, dim), embedder.truncate(doc_full, dim)), k
        )
        overlap = [
            len(set(a) & set(b)) / reference.shape[1] for a, b in zip(found, reference, strict=True)
        ]
        results.append(
            RankAgreement(
                dim=dim,
                k=k,
                recall_at_k=float(np.mean(overlap)),
                top1_agreement=float(np.mean(found[:, 0] == reference[:, 0])),
            )
        )
    return results
