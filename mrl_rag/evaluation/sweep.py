"""The sweep: quality, latency and memory per search dimension, and the recommendation.

Everything runs through the real funnel store (an embedded Chroma in a scratch
folder). Truncated-only search is the same store ranking its shortlist by the
truncated vectors (``rerank_dim`` = the search dimension); the funnel reranks
with the full vectors.
"""

from __future__ import annotations

import numbers
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mrl_rag._cache import cache_root
from mrl_rag._embedder import MatryoshkaEmbedder
from mrl_rag._errors import ArgumentTypeError, InvalidArgumentError
from mrl_rag._scoring import cosine_scores, top_k
from mrl_rag._validation import check_choice, check_count, check_vectors, require_type
from mrl_rag.evaluation.datasets import RetrievalSet, cached_encode
from mrl_rag.evaluation.metrics import mrr_at_k, ndcg_at_k, recall_at_k
from mrl_rag.store import MatryoshkaStore, SearchResult

__all__ = [
    "ADAPTOR_MODES",
    "HNSW_OVERHEAD_BYTES",
    "MIN_TIMINGS",
    "SAME_SPEED",
    "EvalReport",
    "EvalRow",
    "default_dims",
    "evaluate",
    "recommend",
]

#: Bytes per record of a Chroma HNSW index beyond the vector itself: links
#: (2 x 16 neighbours x 4 bytes at level 0), label and id map, measured on
#: chromadb 1.5.9 (137 MiB resident for 200,000 64-d records).
HNSW_OVERHEAD_BYTES = 462

#: Searches timed per configuration at least (the queries are repeated to get there).
MIN_TIMINGS = 300

#: Configurations whose p50 is within this factor of the fastest count as equally fast
#: (latency on a shared machine varies more than that); the smallest index wins among them.
SAME_SPEED = 1.10

#: What :func:`evaluate`'s ``adaptor`` accepts.
ADAPTOR_MODES = ("off", "on", "compare")

#: The label-free reference, as the report names it.
_AGREEMENT = "agreement with exact full-dimension top 10 (no labels)"


@dataclass
class EvalRow:
    """Quality, latency and memory of one configuration.

    Attributes:
        variant: ``"plain"``, or ``"adaptor"`` with the orthogonal adaptor.
        mode: ``"truncated"`` (the first stage alone) or ``"funnel"``.
        dim: The search dimension.
        shortlist: The funnel's shortlist (``None`` for truncated search).
        ndcg10: Mean nDCG@10 against the reference.
        recall10: Mean recall@10.
        recall100: Mean recall@100.
        mrr10: Mean MRR@10.
        share_of_full: ``ndcg10`` over exact full-dimension nDCG@10.
        p50_ms: Median search latency.
        p95_ms: 95th percentile search latency.
        index_mib_estimate: The HNSW index alone, estimated.
        serving_rss_mib: Resident memory a fresh process adds by opening the
            store and answering queries (measured; NaN if the probe failed).
        search_bytes_per_vector: Bytes of the indexed (truncated) vector.
        full_bytes_per_vector: Bytes of the full vector kept for the rerank.
        agreement10: nDCG@10 against exact full-dimension search's top 10
            (what the label-free mode uses).
    """

    variant: str
    mode: str
    dim: int
    shortlist: int | None
    ndcg10: float
    recall10: float
    recall100: float
    mrr10: float
    share_of_full: float
    p50_ms: float
    p95_ms: float
    index_mib_estimate: float
    serving_rss_mib: float
    search_bytes_per_vector: int
    full_bytes_per_vector: int
    agreement10: float = 0.0


@dataclass
class EvalReport:
    """The result of :func:`evaluate`.

    Attributes:
        model: The model profile's name.
        data: The data set's name.
        n_docs: Documents searched.
        n_queries: Queries measured.
        reference: What quality is measured against: ``"relevance judgements"``
            or agreement with exact full-dimension search.
        full_ndcg10: nDCG@10 of exact full-dimension search.
        target: Share of ``full_ndcg10`` the recommendation must keep.
        rows: One row per configuration.
        recommendation: The recommended row (as a dict), or ``None``.
        label_free_recommendation: With labels, what the label-free mode
            (agreement with exact search) would recommend.
        indexed: The text each document was indexed as.
    """

    model: str
    data: str
    n_docs: int
    n_queries: int
    reference: str
    full_ndcg10: float
    target: float
    rows: list[EvalRow] = field(default_factory=list)
    recommendation: dict[str, Any] | None = None
    label_free_recommendation: dict[str, Any] | None = None
    indexed: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**asdict(self), "rows": [asdict(r) for r in self.rows]}


def default_dims(embedder: MatryoshkaEmbedder) -> list[int]:
    """The dimensions to sweep: the trained ones, or a doubling ladder up to full.

    Args:
        embedder: The model.

    Returns:
        Search dimensions, smallest first, ending at the full dimension.
    """
    allowed = embedder.profile.allowed_dims
    if allowed is not None:
        return sorted(allowed)
    full = embedder.full_dim
    ladder = [d for d in (32, 64, 128, 192, 256, 384, 512, 768, 1024) if d < full]
    return [*ladder, full]


def _check_target(target: Any) -> float:
    if isinstance(target, bool) or not isinstance(target, numbers.Real):
        raise ArgumentTypeError(
            f"target must be a number in (0, 1], got {target!r} ({type(target).__name__})."
        )
    if not 0 < target <= 1:
        raise InvalidArgumentError(f"target must be in (0, 1], got {target}.")
    return float(target)


def _check_data(data: Any) -> RetrievalSet:
    require_type(data, RetrievalSet, name="data", allowed="a RetrievalSet")
    if not data.doc_ids or not data.query_ids:
        raise InvalidArgumentError(
            f"data must hold at least one document and one query, got {len(data.doc_ids)} "
            f"documents and {len(data.query_ids)} queries."
        )
    if data.qrels is not None:
        unjudged = [q for q in data.query_ids if not data.qrels.get(q)]
        if unjudged:
            raise InvalidArgumentError(
                f"data.qrels has no relevant document for query {unjudged[0]!r} "
                f"({len(unjudged)} such queries); drop them, or pass qrels=None to measure "
                "agreement with exact search."
            )
    return data


def evaluate(
    embedder: MatryoshkaEmbedder,
    data: RetrievalSet,
    *,
    dims: Sequence[int] | None = None,
    shortlists: Sequence[int] = (100, 300),
    adaptor: str = "off",
    target: float = 0.99,
    cache_dir: str | Path | None = None,
    doc_vectors: npt.ArrayLike | None = None,
) -> EvalReport:
    """Sweep search dimensions and shortlists; recommend the fastest that keeps quality.

    Args:
        embedder: The model to evaluate.
        data: Documents, queries and optional relevance judgements. Without
            judgements, quality is agreement with exact full-dimension search
            (its top 10 count as the relevant documents).
        dims: Search dimensions (default: :func:`default_dims`).
        shortlists: Funnel shortlist sizes.
        adaptor: ``"off"``, ``"on"`` or ``"compare"`` (both), for the
            orthogonal adaptor fitted on the corpus vectors.
        target: Share of full-dimension nDCG@10 the recommendation must keep.
        cache_dir: Where full vectors are cached (default: ``vectors`` in
            ``$MRL_RAG_CACHE``, else in ``~/.cache/mrl-rag``).
        doc_vectors: The documents' full vectors when they are already known
            (read from an existing store); then documents are not embedded.

    Returns:
        The report, with its recommendation (see :func:`recommend`).

    Raises:
        InvalidArgumentError: If an option is out of range, a dimension is not
            allowed for the model, ``data`` is empty or has a query without
            judgements, or ``doc_vectors`` does not match the documents.
        ArgumentTypeError: If ``data`` is not a :class:`RetrievalSet` or
            ``target`` is not a number.
    """
    from mrl_rag.evaluation.memory import serving_rss_mib  # run as its own process, too

    check_choice(adaptor, ADAPTOR_MODES, name="adaptor")
    target = _check_target(target)
    data = _check_data(data)
    shortlists = [check_count(s, name=f"shortlists[{i}]") for i, s in enumerate(shortlists)]
    dims = [embedder.resolve_dim(d) for d in (dims or default_dims(embedder))]
    cache = Path(cache_dir) if cache_dir else cache_root() / "vectors"
    if doc_vectors is None:
        docs = cached_encode(embedder, data.doc_texts, "document", cache)
    else:
        docs = check_vectors(
            doc_vectors, embedder.full_dim, name="doc_vectors", model=embedder.profile.name
        )
        if len(docs) != len(data.doc_ids):
            raise InvalidArgumentError(
                f"doc_vectors must have one row per document ({len(data.doc_ids)}), "
                f"got {len(docs)}."
            )
    queries = cached_encode(embedder, data.query_texts, "query", cache)
    exact = top_k(cosine_scores(queries, docs), 10)
    agreement = [{data.doc_ids[i]: 1 for i in row} for row in exact]
    if data.qrels is not None:
        qrels, reference = [data.qrels[q] for q in data.query_ids], "relevance judgements"
    else:
        qrels, reference = agreement, _AGREEMENT
    full_ndcg = float(
        np.mean(
            [ndcg_at_k([data.doc_ids[i] for i in r], q) for r, q in zip(exact, qrels, strict=True)]
        )
    )
    report = EvalReport(
        embedder.profile.name, data.name, len(docs), len(queries), reference, full_ndcg, target
    )
    report.indexed = data.indexed
    variants = {"off": ["plain"], "on": ["adaptor"], "compare": ["plain", "adaptor"]}[adaptor]
    with tempfile.TemporaryDirectory(prefix="mrl-rag-eval-") as tmp:
        store = MatryoshkaStore(
            profile=embedder.profile, path=Path(tmp), collection="eval", search_dim=dims[0]
        )
        store.add_vectors(data.doc_ids, docs, batch_size=2000)
        fitted = store.fit_adaptor() if "adaptor" in variants else None
        for variant in variants:
            for dim in dims:
                store.reindex(dim, adaptor=fitted if variant == "adaptor" else None)
                store.close()  # the probe's process opens the folder itself
                rss = serving_rss_mib(Path(tmp), embedder.profile, queries, collection="eval")
                store = MatryoshkaStore(profile=embedder.profile, path=Path(tmp), collection="eval")
                configs: list[tuple[str, int | None]] = [("truncated", None)]
                configs += [("funnel", s) for s in shortlists]
                for mode, shortlist in configs:
                    report.rows.append(
                        _measure_configuration(
                            store,
                            queries,
                            qrels,
                            agreement,
                            data.doc_ids,
                            variant,
                            mode,
                            dim,
                            shortlist,
                            embedder.full_dim,
                            full_ndcg,
                            rss,
                        )
                    )
        store.close()
    report.recommendation = recommend(report)
    if data.qrels is not None:
        report.label_free_recommendation = recommend(report, by_agreement=True)
    return report


def _measure_configuration(
    store: MatryoshkaStore,
    queries: npt.NDArray[np.float32],
    qrels: list[dict[str, int]],
    agreement: list[dict[str, int]],
    doc_ids: list[str],
    variant: str,
    mode: str,
    dim: int,
    shortlist: int | None,
    full_dim: int,
    full_ndcg: float,
    serving_rss_mib: float,
) -> EvalRow:
    """One row: every query's quality, then latency over at least :data:`MIN_TIMINGS`."""

    def search(query: npt.NDArray[np.float32]) -> list[SearchResult]:
        if mode == "truncated":  # the first stage alone: ranked by the truncated vectors
            return store.search_by_vector(query, k=100, shortlist=100, rerank_dim=dim)
        size = shortlist or 100  # exactly the shortlist asked for; recall@100 counts it
        return store.search_by_vector(query, k=min(100, size), shortlist=size)

    times, scores, agreed = [], [], []
    for query, relevant, exact in zip(queries, qrels, agreement, strict=True):
        start = time.perf_counter()
        hits = search(query)
        times.append(time.perf_counter() - start)
        ranked = [h.id for h in hits]
        scores.append(
            (
                ndcg_at_k(ranked, relevant, 10),
                recall_at_k(ranked, relevant, 10),
                recall_at_k(ranked, relevant, 100),
                mrr_at_k(ranked, relevant, 10),
            )
        )
        agreed.append(ndcg_at_k(ranked, exact, 10))
    # Latency over enough searches that its median is not noise: the queries again,
    # round after round, until there are MIN_TIMINGS of them.
    rounds = 0
    while len(times) < MIN_TIMINGS and rounds < 50:
        rounds += 1
        for query in queries:
            start = time.perf_counter()
            search(query)
            times.append(time.perf_counter() - start)
    ndcg, r10, r100, mrr = (float(np.mean(col)) for col in zip(*scores, strict=True))
    n = len(doc_ids)
    return EvalRow(
        variant=variant,
        mode=mode,
        dim=dim,
        shortlist=shortlist,
        ndcg10=ndcg,
        recall10=r10,
        recall100=r100,
        mrr10=mrr,
        share_of_full=ndcg / full_ndcg if full_ndcg else 0.0,
        p50_ms=statistics.median(times) * 1000,
        p95_ms=float(np.percentile(times, 95) * 1000),
        index_mib_estimate=n * (4 * dim + HNSW_OVERHEAD_BYTES) / 2**20,
        serving_rss_mib=serving_rss_mib,
        search_bytes_per_vector=4 * dim,
        full_bytes_per_vector=4 * full_dim if mode == "funnel" else 0,
        agreement10=float(np.mean(agreed)),
    )


def recommend(report: EvalReport, *, by_agreement: bool = False) -> dict[str, Any] | None:
    """The fastest configuration that keeps the target; among equally fast, the smallest.

    Configurations whose p50 latency is within :data:`SAME_SPEED` of the
    fastest count as equally fast; among them the smallest search dimension,
    then shortlist, then the plain variant wins. On Chroma a longer shortlist
    costs more than a larger search dimension, so the smallest dimension that
    keeps quality is often not the fastest.

    Args:
        report: The measured configurations.
        by_agreement: Judge quality as the label-free mode does (agreement with
            exact full-dimension search, whose own agreement is 1) instead of
            the share of full-dimension nDCG@10.

    Returns:
        The chosen row as a dict (the fields of :class:`EvalRow`), or ``None``
        when no configuration keeps ``report.target``.
    """
    keep = [
        r
        for r in report.rows
        if (r.agreement10 if by_agreement else r.share_of_full) >= report.target
    ]
    if not keep:
        return None
    fastest = min(r.p50_ms for r in keep)
    near = [r for r in keep if r.p50_ms <= fastest * SAME_SPEED]
    best = min(near, key=lambda r: (r.dim, r.shortlist or 0, r.variant != "plain", r.p50_ms))
    return asdict(best)
