"""The dimension advisor: measure quality, latency and memory per search dimension.

Everything runs through the real funnel store (an embedded Chroma in a scratch
folder). Truncated-only search is the same store ranking its shortlist by the
truncated vectors (``rerank_dim`` = the search dimension); the funnel reranks
with the full vectors.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mrl_rag._embedder import InputType, MatryoshkaEmbedder
from mrl_rag._scoring import cosine_scores, top_k
from mrl_rag.store import MatryoshkaStore, SearchResult

__all__ = [
    "EvalReport",
    "EvalRow",
    "RetrievalSet",
    "evaluate",
    "load_beir",
    "load_folder",
    "load_store",
]

_CHUNK = 1000
#: Bytes per record of a Chroma HNSW index beyond the vector itself: links
#: (2 x 16 neighbours x 4 bytes at level 0), label and id map, measured on
#: chromadb 1.5.9 (137 MiB resident for 200,000 64-d records).
_HNSW_OVERHEAD_BYTES = 462


@dataclass
class RetrievalSet:
    """Documents, queries and (optionally) graded relevance judgements."""

    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]] | None = None
    name: str = "data"
    #: What each document's text is (reported, so that it can match the store's).
    indexed: str = "the documents' text"


BEIR_FIELDS = ("title+text", "text")


def load_beir(path: str | Path, fields: str = "title+text") -> RetrievalSet:
    """Read a BEIR folder: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/test.tsv``.

    Only queries with at least one relevant document are kept.

    Args:
        path: The folder.
        fields: What each document is indexed as: ``"title+text"`` (the BEIR
            convention) or ``"text"``. Pick what your store holds, so that the
            measurement is of the same texts.
    """
    if fields not in BEIR_FIELDS:
        raise ValueError(f"fields must be one of {', '.join(BEIR_FIELDS)}, got {fields!r}.")
    path = Path(path)
    for needed in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
        if not (path / needed).is_file():
            raise FileNotFoundError(f"{path / needed} is missing: not a BEIR folder.")
    doc_ids, doc_texts = [], []
    with open(path / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            title = row.get("title", "") if fields == "title+text" else ""
            text = f"{title} {row.get('text', '')}".strip()
            if text:
                doc_ids.append(str(row["_id"]))
                doc_texts.append(text)
    qrels: dict[str, dict[str, int]] = {}
    with open(path / "qrels" / "test.tsv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if int(row["score"]) > 0:
                qrels.setdefault(str(row["query-id"]), {})[str(row["corpus-id"])] = int(
                    row["score"]
                )
    query_ids, query_texts = [], []
    with open(path / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if str(row["_id"]) in qrels:
                query_ids.append(str(row["_id"]))
                query_texts.append(row["text"])
    indexed = "title + text" if fields == "title+text" else "text (no title)"
    return RetrievalSet(
        doc_ids, doc_texts, query_ids, query_texts, qrels, name=path.name, indexed=indexed
    )


def load_folder(docs: str | Path, queries: str | Path) -> RetrievalSet:
    """Documents from a folder of ``.txt``/``.md`` files, queries one per line; no labels."""
    folder = Path(docs)
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".txt", ".md"))
    if not files:
        raise FileNotFoundError(f"No .txt or .md files under {folder}.")
    texts = [p.read_text(encoding="utf-8", errors="replace").strip() for p in files]
    kept = [(str(p.relative_to(folder)), t) for p, t in zip(files, texts, strict=True) if t]
    lines = [q.strip() for q in Path(queries).read_text(encoding="utf-8").splitlines()]
    sample = [q for q in lines if q]
    if not sample:
        raise ValueError(f"{queries} holds no queries (one per line).")
    return RetrievalSet(
        [k for k, _ in kept],
        [t for _, t in kept],
        [f"q{i}" for i in range(len(sample))],
        sample,
        None,
        name=folder.name,
        indexed="each file's whole text",
    )


def load_store(
    path: str | Path, collection: str, embedder: MatryoshkaEmbedder, queries: str | Path
) -> tuple[RetrievalSet, npt.NDArray[np.float32]]:
    """An existing embedded store's records and full vectors, plus sample queries; no labels.

    Nothing is re-embedded: the store's own full vectors are read.
    """
    import chromadb

    if not (Path(path) / "chroma.sqlite3").is_file():
        raise FileNotFoundError(f"No Chroma store at {path} (no chroma.sqlite3 there).")
    client = chromadb.PersistentClient(path=str(path))
    names = {c if isinstance(c, str) else c.name for c in client.list_collections()}
    if collection not in names:
        raise ValueError(
            f"No collection {collection!r} at {path}; collections there: {sorted(names)}."
        )
    store = MatryoshkaStore(embedder, client=client, collection=collection)
    ids: list[str] = []
    chunks = []
    for page_ids, vectors in store.iter_full_vectors(_CHUNK):
        ids += page_ids
        chunks.append(vectors)
    if not ids:
        raise ValueError(f"Collection {collection!r} at {path} is empty.")
    sample = [q.strip() for q in Path(queries).read_text(encoding="utf-8").splitlines()]
    sample = [q for q in sample if q]
    if not sample:
        raise ValueError(f"{queries} holds no queries (one per line).")
    texts = [r.text or "" for r in store.get(ids)]
    data = RetrievalSet(
        ids,
        texts,
        [f"q{i}" for i in range(len(sample))],
        sample,
        None,
        collection,
        indexed="the store's own full vectors (of the texts it holds)",
    )
    return data, np.concatenate(chunks)


def cached_encode(
    embedder: MatryoshkaEmbedder,
    texts: Sequence[str],
    input_type: InputType,
    cache_dir: Path,
) -> npt.NDArray[np.float32]:
    """Full vectors, cached on disk in chunks keyed by model and content.

    A rerun, or a run after a crash, only embeds the chunks not yet on disk.
    """
    from tqdm.auto import tqdm

    key = hashlib.sha256(json.dumps(embedder.profile.to_dict(), sort_keys=True).encode())
    key.update(input_type.encode())
    cache_dir.mkdir(parents=True, exist_ok=True)
    parts = []
    chunks = range(0, len(texts), _CHUNK)
    with tqdm(
        total=len(texts), desc=f"Embedding {input_type}s", disable=len(texts) < _CHUNK
    ) as bar:
        for start in chunks:
            chunk = list(texts[start : start + _CHUNK])
            digest = key.copy()
            for text in chunk:
                digest.update(text.encode("utf-8") + b"\0")
            path = cache_dir / f"{digest.hexdigest()[:32]}.npy"
            if path.is_file():
                parts.append(np.load(path, allow_pickle=False))
            else:
                vectors = embedder.encode(chunk, input_type=input_type)
                tmp = path.with_suffix(".tmp.npy")
                np.save(tmp, vectors, allow_pickle=False)
                tmp.replace(path)
                parts.append(vectors)
            bar.update(len(chunk))
    if not parts:
        return np.zeros((0, embedder.full_dim), dtype=np.float32)
    return np.concatenate(parts)


@dataclass
class EvalRow:
    """Quality, latency and memory of one configuration."""

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
    #: nDCG@10 against exact full-dimension search's top 10 (what the label-free mode uses).
    agreement10: float = 0.0


@dataclass
class EvalReport:
    """The result of :func:`evaluate`."""

    model: str
    data: str
    n_docs: int
    n_queries: int
    reference: str
    full_ndcg10: float
    target: float
    rows: list[EvalRow] = field(default_factory=list)
    recommendation: dict[str, Any] | None = None
    #: With labels: what the label-free mode (agreement with exact search) would recommend.
    label_free_recommendation: dict[str, Any] | None = None
    #: The text each document was indexed as.
    indexed: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**asdict(self), "rows": [asdict(r) for r in self.rows]}


def _metrics(ranked: list[str], relevant: dict[str, int]) -> tuple[float, float, float, float]:
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    hits10 = len(set(ranked[:10]) & set(relevant))
    hits100 = len(set(ranked[:100]) & set(relevant))
    mrr = next((1.0 / (i + 1) for i, d in enumerate(ranked[:10]) if d in relevant), 0.0)
    n = len(relevant)
    return (dcg / idcg if idcg else 0.0, hits10 / n if n else 0.0, hits100 / n if n else 0.0, mrr)


def default_dims(embedder: MatryoshkaEmbedder) -> list[int]:
    """The dimensions to sweep: the trained ones, or a doubling ladder up to full."""
    allowed = embedder.profile.allowed_dims
    if allowed is not None:
        return sorted(allowed)
    full = embedder.full_dim
    ladder = [d for d in (32, 64, 128, 192, 256, 384, 512, 768, 1024) if d < full]
    return [*ladder, full]


def evaluate(
    embedder: MatryoshkaEmbedder,
    data: RetrievalSet,
    *,
    dims: Sequence[int] | None = None,
    shortlists: Sequence[int] = (100, 300),
    adaptor: str = "off",
    target: float = 0.99,
    cache_dir: Path | None = None,
    doc_vectors: npt.NDArray[np.float32] | None = None,
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
        cache_dir: Where full vectors are cached (default: a folder in the
            user's cache).
        doc_vectors: The documents' full vectors when they are already known
            (read from an existing store); then documents are not embedded.

    Returns:
        The report.
    """
    if adaptor not in ("off", "on", "compare"):
        raise ValueError(f"adaptor must be 'off', 'on' or 'compare', got {adaptor!r}.")
    if not 0 < target <= 1:
        raise ValueError(f"target must be in (0, 1], got {target}.")
    dims = [embedder.resolve_dim(d) for d in (dims or default_dims(embedder))]
    cache = Path(cache_dir) if cache_dir else Path.home() / ".cache" / "mrl-rag" / "vectors"
    if doc_vectors is None:
        docs = cached_encode(embedder, data.doc_texts, "document", cache)
    else:
        docs = np.asarray(doc_vectors, dtype=np.float32)
    queries = cached_encode(embedder, data.query_texts, "query", cache)
    exact = top_k(cosine_scores(queries, docs), 10)
    agreement = [{data.doc_ids[i]: 1 for i in row} for row in exact]
    if data.qrels is not None:
        qrels, reference = [data.qrels[q] for q in data.query_ids], "relevance judgements"
    else:
        qrels = agreement
        reference = "agreement with exact full-dimension top 10 (no labels)"
    full_ndcg = float(
        np.mean(
            [
                _metrics([data.doc_ids[i] for i in r], q)[0]
                for r, q in zip(exact, qrels, strict=True)
            ]
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
                rss = _serving_rss_mib(Path(tmp), embedder.profile, queries)
                store = MatryoshkaStore(profile=embedder.profile, path=Path(tmp), collection="eval")
                configs: list[tuple[str, int | None]] = [("truncated", None)]
                configs += [("funnel", s) for s in shortlists]
                for mode, shortlist in configs:
                    report.rows.append(
                        _measure(
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
    report.recommendation = _recommend(report)
    if data.qrels is not None:
        report.label_free_recommendation = _recommend(report, by_agreement=True)
    return report


#: Searches timed per configuration at least (the queries are repeated to get there).
_MIN_TIMINGS = 300


def _measure(
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
        scores.append(_metrics([h.id for h in hits], relevant))
        agreed.append(_metrics([h.id for h in hits], exact)[0])
    # Latency over enough searches that its median is not noise: the queries again,
    # round after round, until there are _MIN_TIMINGS of them.
    rounds = 0
    while len(times) < _MIN_TIMINGS and rounds < 50:
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
        index_mib_estimate=n * (4 * dim + _HNSW_OVERHEAD_BYTES) / 2**20,
        serving_rss_mib=serving_rss_mib,
        search_bytes_per_vector=4 * dim,
        full_bytes_per_vector=4 * full_dim if mode == "funnel" else 0,
        agreement10=float(np.mean(agreed)),
    )


_PROBE = """
import json, sys
from pathlib import Path
import numpy as np

def rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")

import chromadb  # imported before the baseline: its code is not the store's memory
from mrl_rag import MatryoshkaStore, ModelProfile
path, profile, queries = sys.argv[1], json.loads(sys.argv[2]), np.load(sys.argv[3])
before = rss()
store = MatryoshkaStore(profile=ModelProfile(**profile), path=path, collection="eval")
for q in queries[:20]:
    store.search_by_vector(q, k=10)
print(rss() - before)
"""


def _serving_rss_mib(path: Path, profile: Any, queries: npt.NDArray[np.float32]) -> float:
    """Resident memory a fresh process adds by opening the store and answering 20 queries."""
    import subprocess
    import sys

    fields = {k: v for k, v in profile.to_dict().items() if k != "schema_version"}
    sample = path / "probe-queries.npy"
    np.save(sample, queries[:20], allow_pickle=False)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path), json.dumps(fields), str(sample)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        return float("nan")  # measuring must never break the evaluation
    return float(done.stdout.strip().splitlines()[-1])


#: Configurations whose p50 is within this factor of the fastest count as equally fast
#: (latency on a shared machine varies more than that); the smallest index wins among them.
_SAME_SPEED = 1.10


def _recommend(report: EvalReport, *, by_agreement: bool = False) -> dict[str, Any] | None:
    """The fastest configuration that keeps the target; among equally fast, the smallest.

    On Chroma a longer shortlist costs more than a larger search dimension, so
    the smallest dimension that keeps quality is often not the fastest.

    Args:
        report: The measured configurations.
        by_agreement: Judge quality as the label-free mode does (agreement with
            exact full-dimension search, whose own agreement is 1) instead of
            the share of full-dimension nDCG@10.
    """
    keep = [
        r
        for r in report.rows
        if (r.agreement10 if by_agreement else r.share_of_full) >= report.target
    ]
    if not keep:
        return None
    fastest = min(r.p50_ms for r in keep)
    near = [r for r in keep if r.p50_ms <= fastest * _SAME_SPEED]
    best = min(near, key=lambda r: (r.dim, r.shortlist or 0, r.variant != "plain", r.p50_ms))
    return asdict(best)


def format_table(report: EvalReport) -> str:
    """The report as a plain-text table with the recommendation."""
    lines = [
        f"{report.model} on {report.data}: {report.n_docs} documents, {report.n_queries} "
        f"queries; quality = {report.reference}; exact full-dim nDCG@10 = "
        f"{report.full_ndcg10:.4f}; documents indexed as {report.indexed or 'given'}",
        f"{'variant':<8} {'mode':<10} {'dim':>5} {'short':>6} {'nDCG@10':>8} {'%full':>7} "
        f"{'R@10':>6} {'R@100':>6} {'MRR@10':>7} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'RSS MiB':>8} {'index MiB*':>10} {'B/vector':>9}",
    ]
    for r in report.rows:
        stored = r.search_bytes_per_vector + r.full_bytes_per_vector
        lines.append(
            f"{r.variant:<8} {r.mode:<10} {r.dim:>5} {r.shortlist or '-':>6} {r.ndcg10:>8.4f} "
            f"{r.share_of_full:>6.1%} {r.recall10:>6.3f} {r.recall100:>6.3f} {r.mrr10:>7.3f} "
            f"{r.p50_ms:>7.2f} {r.p95_ms:>7.2f} {r.serving_rss_mib:>8.1f} "
            f"{r.index_mib_estimate:>10.1f} {stored:>9}"
        )
    lines.append(
        "RSS MiB = resident memory a fresh process adds by opening the store and answering 20 "
        "queries (measured); * index MiB = n x (4 x dim + 462) bytes, the HNSW index alone "
        "(estimate from chromadb 1.5.9's measured overhead); B/vector = index vector + full "
        "vector kept for the rerank."
    )
    rec = report.recommendation
    if rec is None:
        lines.append(f"No configuration keeps {report.target:.0%} of full-dim nDCG@10.")
    else:
        lines.append(
            f"Recommended: {rec['mode']} search at dim {rec['dim']}"
            + (f", shortlist {rec['shortlist']}" if rec["shortlist"] else "")
            + (" with the orthogonal adaptor" if rec["variant"] == "adaptor" else "")
            + f": {rec['share_of_full']:.1%} of full-dim nDCG@10 (target {report.target:.0%}), "
            f"p50 {rec['p50_ms']:.2f} ms, serving memory {rec['serving_rss_mib']:.1f} MiB "
            f"(index about {rec['index_mib_estimate']:.1f} MiB)."
        )
    if report.reference == "relevance judgements":
        lines += _side_by_side(report)
    return "\n".join(lines)


def _side_by_side(report: EvalReport) -> list[str]:
    """The label-free mode's choice beside the labelled one, and why they may differ."""
    free, rec = report.label_free_recommendation, report.recommendation
    if free is None:
        choice = f"no configuration keeps {report.target:.0%} agreement with exact search"
    else:
        choice = f"{_describe(free)} ({free['agreement10']:.1%} agreement with exact search)"
    same = free is not None and rec is not None and _describe(free) == _describe(rec)
    return [
        f"Without labels (agreement with exact full-dim search) the choice would be: {choice}.",
        "The two agree."
        if same
        else "They differ because agreement counts every change to the exact top 10, while "
        "judgements count only the relevant documents: truncation can reorder near-ties "
        "without losing relevance; the label-free choice is usually the more cautious one.",
    ]


def write_outputs(report: EvalReport, out_dir: Path) -> dict[str, Path]:
    """Write ``report.json``, ``report.csv`` and ``report.png``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "report.json",
        "csv": out_dir / "report.csv",
        "png": out_dir / "report.png",
    }
    paths["json"].write_text(json.dumps(report.to_json(), indent=2), encoding="utf-8")
    with open(paths["csv"], "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(asdict(report.rows[0])))
        writer.writeheader()
        writer.writerows(asdict(r) for r in report.rows)
    _chart(report, paths["png"])
    return paths


def _chart(report: EvalReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = _figure(report)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _figure(report: EvalReport) -> Any:
    """The chart: quality, latency and memory against the search dimension."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    labelled = report.reference == "relevance judgements"
    metric = "nDCG@10" if labelled else "agreement with exact full-dim top 10 (nDCG@10)"
    fig, (quality, latency, memory) = plt.subplots(1, 3, figsize=(16, 4.8))
    series: dict[tuple[str, str, int | None], list[EvalRow]] = {}
    for r in report.rows:
        series.setdefault((r.variant, r.mode, r.shortlist), []).append(r)
    markers = "osD^vP*X"
    for i, ((variant, mode, shortlist), rows) in enumerate(series.items()):
        label = "truncated only" if mode == "truncated" else f"funnel, shortlist {shortlist}"
        label += " + adaptor" if variant == "adaptor" else ""
        # Series that coincide stay visible: each has its own marker, drawn smaller
        # than the ones before it, over lines that let what is beneath show through.
        style = {
            "ls": "--" if mode == "truncated" else "-",
            "marker": markers[i % len(markers)],
            "markersize": max(4.0, 10.0 - 1.5 * i),
            "alpha": 0.85,
            "label": label,
        }
        dims = [r.dim for r in rows]
        quality.plot(dims, [r.ndcg10 for r in rows], **style)
        latency.plot(dims, [r.p50_ms for r in rows], **style)
    quality.axhline(report.full_ndcg10, color="black", lw=1, label="exact full dimension")
    quality.axhline(
        report.full_ndcg10 * report.target,
        color="grey",
        lw=1,
        ls=":",
        label=f"{report.target:.0%} of full",
    )
    rec = report.recommendation
    if rec is not None:
        name = "recommended: " + _describe(rec)
        for axis, value in ((quality, rec["ndcg10"]), (latency, rec["p50_ms"])):
            axis.scatter(
                [rec["dim"]],
                [value],
                s=260,
                facecolors="none",
                edgecolors="red",
                lw=2.2,
                zorder=5,
                label=name,
            )
    first = next(iter(series.values()))
    positions = np.arange(len(first))
    # Serving memory of each variant (the adaptor's includes its matrix), and the index.
    bars: list[tuple[str, list[float]]] = []
    for variant in dict.fromkeys(r.variant for r in report.rows):
        rss = {r.dim: r.serving_rss_mib for r in report.rows if r.variant == variant}
        label = "serving RSS"
        if variant == "adaptor":
            full_dim = max(r.full_bytes_per_vector for r in report.rows) // 4
            label += f", with the adaptor (its matrix: {4 * full_dim**2 / 2**20:.2f} MiB)"
        bars.append((label, [rss[r.dim] for r in first]))
    bars.append(("HNSW index (estimate)", [r.index_mib_estimate for r in first]))
    width = 0.8 / len(bars)
    for i, (label, values) in enumerate(bars):
        memory.bar(positions + (i - (len(bars) - 1) / 2) * width, values, width, label=label)
    memory.set_xticks(positions, [str(r.dim) for r in first])
    memory.legend(fontsize=8)
    ticks = [r.dim for r in first]
    for axis, title, ylabel in (
        (quality, "Quality", metric),
        (latency, f"p50 query latency (>= {_MIN_TIMINGS} searches each)", "ms"),
    ):
        axis.set(title=title, xlabel="search dimension", ylabel=ylabel, xscale="log", xticks=ticks)
        axis.set_xticklabels([str(d) for d in ticks])
        axis.xaxis.set_minor_locator(NullLocator())  # only the measured dimensions
    memory.set(title="Memory", xlabel="search dimension", ylabel="MiB")
    quality.legend(fontsize=7)
    latency.legend(fontsize=7)
    fig.suptitle(
        f"{report.model} on {report.data} ({report.n_docs} documents, {report.n_queries} "
        f"queries; quality: {report.reference})"
    )
    fig.tight_layout()
    return fig


def _describe(rec: dict[str, Any]) -> str:
    """A recommended configuration in a few words."""
    how = (
        "truncated only" if rec["mode"] == "truncated" else f"funnel, shortlist {rec['shortlist']}"
    )
    return f"{rec['dim']} dims, {how}" + (" + adaptor" if rec["variant"] == "adaptor" else "")
