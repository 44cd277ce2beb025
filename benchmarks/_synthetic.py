"""Synthetic Matryoshka-like vectors and their exact top 10, shared by the benchmarks."""

from __future__ import annotations

import numpy as np


def make_data(n: int, dim: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clustered unit vectors with a Matryoshka-like variance profile, and noisy-copy queries.

    As in a Matryoshka model, the leading dimensions carry most of the signal:
    the variance of dimension ``i`` falls as ``(1 + i) ** -1.2``.
    """
    rng = np.random.default_rng(seed)
    scale = (1.0 + np.arange(dim, dtype=np.float32)) ** -0.6
    centres = rng.standard_normal((max(16, n // 200), dim), dtype=np.float32) * scale
    docs = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 20_000):
        stop = min(n, start + 20_000)
        assign = rng.integers(0, len(centres), stop - start)
        noise = rng.standard_normal((stop - start, dim), dtype=np.float32) * scale
        docs[start:stop] = centres[assign] + 0.8 * noise
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    picks = rng.choice(n, queries, replace=False)
    q = docs[picks] + 0.5 * rng.standard_normal((queries, dim), dtype=np.float32) * scale
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return docs, q


def exact_top10(docs: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Row numbers of each query's exact 10 nearest documents by cosine."""
    from mrl_rag import cosine_scores, top_k

    out = np.empty((len(queries), 10), dtype=np.int64)
    for start in range(0, len(queries), 50):
        out[start : start + 50] = top_k(cosine_scores(queries[start : start + 50], docs), 10)
    return out


def recall_at_10(found: list[list[int]], truth: np.ndarray) -> float:
    """Mean share of the exact top 10 that each query found."""
    return float(
        np.mean([len(set(f) & set(t.tolist())) / 10 for f, t in zip(found, truth, strict=True)])
    )
