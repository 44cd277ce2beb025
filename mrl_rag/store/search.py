"""The search plan and the exact rerank of a shortlist.

A search is validated once into a :class:`SearchPlan`; :func:`rerank` then
orders the shortlist by exact cosine similarity, through any cascade stages,
and :func:`results` turns the winners into :class:`SearchResult`.
:func:`rerank_from_files` is the rerank of the ``local`` format; the
``chroma`` format's replica has its own in :mod:`.replica`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from mrl_rag._errors import ArgumentTypeError, InvalidArgumentError
from mrl_rag._profiles import ModelProfile
from mrl_rag._scoring import max_marginal_relevance, top_k
from mrl_rag._truncate import truncate
from mrl_rag._validation import check_count, check_full_vector
from mrl_rag.store.layout import Layout
from mrl_rag.store.records import Record
from mrl_rag.store.validation import INTERNAL_PREFIX

if TYPE_CHECKING:
    from mrl_rag.store.local_format import LocalFullVectors

__all__ = [
    "SearchPlan",
    "SearchResult",
    "check_query_vector",
    "plan_search",
    "public_metadata",
    "rerank",
    "rerank_from_files",
    "results",
]


@dataclass(frozen=True)
class SearchResult:
    """One hit of :meth:`MatryoshkaStore.search`.

    Attributes:
        id: The record's id.
        text: The stored text (``None`` if it was added without one).
        metadata: The record's metadata, without mrl-rag's internal keys.
        score: Cosine similarity of the full query and document vectors (or
            at ``rerank_dim`` when one is given): the final ranking, in
            ``[-1, 1]``, higher is better.
        search_score: Cosine similarity at the search dimension, from the
            approximate first stage.
    """

    id: str
    text: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    score: float = 0.0
    search_score: float = 0.0


@dataclass(frozen=True)
class SearchPlan:
    """A validated search: how many, how wide, and through which stages."""

    k: int
    shortlist: int
    rerank_dim: int
    stages: tuple[tuple[int, int], ...]
    mmr_lambda: float | None = None


def check_query_vector(
    vector: npt.ArrayLike, profile: ModelProfile, *, name: str = "query_vector"
) -> npt.NDArray[np.float32]:
    """A full query vector, finite, not zero, renormalised."""
    return truncate(check_full_vector(vector, profile.full_dim, name=name), profile.full_dim)


def plan_search(
    profile: ModelProfile,
    search_dim: int,
    *,
    k: int,
    shortlist: int | None,
    default_shortlist: int,
    rerank_dim: int | None,
    cascade: Sequence[tuple[int, int]] | None,
    mmr_lambda: float | None = None,
) -> SearchPlan:
    """Validate a search's parameters once (errors name the parameter and what is allowed)."""
    k = check_count(k, name="k")
    width = check_count(shortlist, name="shortlist") if shortlist is not None else default_shortlist
    rerank = profile.full_dim
    if rerank_dim is not None:
        rerank = profile.validate_dim(rerank_dim, name="rerank_dim")
        if rerank < search_dim:
            raise InvalidArgumentError(
                f"rerank_dim={rerank} is below the store's search_dim ({search_dim}): "
                "the rerank would know less than the first stage. Allowed: "
                f"{search_dim} to {profile.full_dim}, or None for full."
            )
    stages = []
    last_dim, last_keep = search_dim, None
    for i, stage in enumerate(cascade or ()):
        try:
            dim, keep = stage
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                f"cascade[{i}] must be a (dim, keep) pair, got {stage!r}."
            ) from None
        dim = profile.validate_dim(dim, name=f"cascade[{i}] dim")
        keep = check_count(keep, name=f"cascade[{i}] keep")
        if dim <= last_dim or dim >= rerank:
            raise InvalidArgumentError(
                f"cascade[{i}] dim={dim} must be above the previous stage's dimension "
                f"({last_dim}) and below the final rerank's ({rerank})."
            )
        if keep < k or (last_keep is not None and keep > last_keep):
            raise InvalidArgumentError(
                f"cascade[{i}] keep={keep} must be at least k={k} and no more than the "
                "previous stage keeps."
            )
        stages.append((dim, keep))
        last_dim, last_keep = dim, keep
    if mmr_lambda is not None:
        if isinstance(mmr_lambda, bool) or not isinstance(mmr_lambda, int | float):
            raise ArgumentTypeError(f"mmr_lambda must be a number from 0 to 1, got {mmr_lambda!r}.")
        if not 0.0 <= mmr_lambda <= 1.0:
            raise InvalidArgumentError(
                f"mmr_lambda must be from 0 (most diverse) to 1 (most relevant), got {mmr_lambda}."
            )
        mmr_lambda = float(mmr_lambda)
    return SearchPlan(
        k=k,
        shortlist=max(k, width),
        rerank_dim=rerank,
        stages=tuple(stages),
        mmr_lambda=mmr_lambda,
    )


def _pick(
    plan: SearchPlan, scores: npt.NDArray[np.float32], vectors: npt.NDArray[np.float32]
) -> npt.NDArray[np.intp]:
    """The final choice among reranked candidates: top k, or max marginal relevance."""
    if plan.mmr_lambda is None:
        return top_k(scores, plan.k)
    return max_marginal_relevance(scores, vectors, plan.k, plan.mmr_lambda)


def rerank(
    plan: SearchPlan,
    layout: Layout,
    query_full: npt.NDArray[np.float32],
    full: npt.NDArray[np.float32],
) -> tuple[list[int], list[float]]:
    """Positions of the best ``plan.k`` of the shortlist, best first, and their scores.

    With ``plan.mmr_lambda``, the ``plan.k`` are picked by max marginal relevance
    among the candidates, compared with each other on the same vectors as the
    query; the order is the order of picking, and each score is still the cosine
    with the query.

    Args:
        plan: The validated search.
        layout: The serving layout (for the adaptor of cascade stages).
        query_full: The full, unit-length query vector.
        full: The shortlist's full vectors, in first-stage order.
    """
    if not plan.stages and plan.rerank_dim == len(query_full):  # the default: one matmul
        scores = full @ query_full
        best = _pick(plan, scores, full)
        return best.tolist(), scores[best].tolist()
    candidates = np.arange(len(full))
    view, query_view = layout.search_view(full), layout.search_view(query_full)
    for dim, keep in plan.stages:
        scores = truncate(view[candidates], dim) @ truncate(query_view, dim)
        candidates = candidates[top_k(scores, keep)]
    if plan.rerank_dim != len(query_full):
        full, query_full = truncate(view, plan.rerank_dim), truncate(query_view, plan.rerank_dim)
    scores = full[candidates] @ query_full
    best = _pick(plan, scores, full[candidates])
    return candidates[best].tolist(), scores[best].tolist()


def public_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """A record's metadata without mrl-rag's internal keys."""
    if not metadata:
        return {}
    return {k: v for k, v in metadata.items() if not k.startswith(INTERNAL_PREFIX)}


def results(
    order: Sequence[int], scores: Sequence[float], records: Sequence[Record], distances: Any
) -> list[SearchResult]:
    """Search results from a rerank's order and scores and the winners' records.

    Args:
        order: The winners' positions in the shortlist, best first.
        scores: Their rerank scores.
        records: Their records, in the order of ``order``.
        distances: The first stage's cosine distances, by shortlist position.
    """
    return [
        SearchResult(
            id=record.id,
            text=record.text,
            metadata=public_metadata(record.metadata),
            score=score,
            search_score=1.0 - float(distances[i]),
        )
        for i, score, record in zip(order, scores, records, strict=True)
    ]


def rerank_from_files(
    plan: SearchPlan,
    layout: Layout,
    queries: npt.NDArray[np.float32],
    got: Mapping[str, Any],
    files: LocalFullVectors,
    *,
    in_memory: bool,
) -> list[list[SearchResult]]:
    """Rerank first-stage results from the ``local`` format's files.

    Call it under the store's read lock, so that no write lands between the
    first stage and the read of the files.

    Args:
        plan: The validated search.
        layout: The serving layout.
        queries: The full, unit-length query vectors, one row per query.
        got: Chroma's query answer (ids and distances).
        files: The store's local files.
        in_memory: Read the memory-mapped vectors (``True``) or the file (``False``).
    """
    out = []
    for q, ids in enumerate(got["ids"]):
        if not ids:
            out.append([])
            continue
        entries = files.lookup(ids)
        full = files.read(entries, in_memory=in_memory)
        order, scores = rerank(plan, layout, queries[q], full)
        records = files.records(entries[order])
        out.append(results(order, scores, records, got["distances"][q]))
    return out
