"""A real Matryoshka-trained model, offline: WordLlama l2_supercat through the normal path.

The model is built from the files the ``wordllama`` package ships
(:mod:`mrl_rag.models`) and runs through ``MatryoshkaEmbedder`` exactly like a
hub model. The quality tests read a real BEIR set from ``$MRL_RAG_DATASETS``
(``.ci/run`` points it at the shared datasets); without it they are skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from mrl_rag import InvalidArgumentError, MatryoshkaStore, get_profile, truncate
from mrl_rag.evaluation import evaluate, load_beir, ndcg_at_k
from mrl_rag.models import WORDLLAMA, wordllama_embedder, wordllama_files, wordllama_model

TEXTS = [
    "Matryoshka dolls nest inside each other.",
    "Protein folding is driven by hydrophobic collapse.",
    "A café in Zürich serves naïve crème brûlée",  # non-ASCII
    "short",
    "Vaccination lowered measles incidence in children under five across 40 countries " * 20,
]


@pytest.fixture(scope="module")
def wordllama_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return wordllama_model(tmp_path_factory.mktemp("wordllama") / "model")


def _package_inference(texts: list[str]) -> np.ndarray:
    """WordLlama's own inference on the same files (WordLlama.load() would go online)."""
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer
    from wordllama.inference import WordLlamaInference

    weights, tokenizer = wordllama_files()
    table = load_file(str(weights))["embedding.weight"]
    return WordLlamaInference(table, Tokenizer.from_file(str(tokenizer))).embed(texts, norm=True)


def test_vectors_equal_the_packages_own_inference(wordllama_folder: Path) -> None:
    embedder = wordllama_embedder(wordllama_folder)
    ours = embedder.encode(TEXTS)
    np.testing.assert_allclose(ours, _package_inference(TEXTS), atol=1e-6)
    # Queries and documents are the same model call: the profile has no prefixes.
    np.testing.assert_allclose(embedder.encode(TEXTS, input_type="query"), ours, atol=0)
    np.testing.assert_allclose(
        embedder.embed_documents(TEXTS, dim=64), truncate(ours, 64), atol=1e-6
    )


def test_profile_and_offline_loading(wordllama_folder: Path) -> None:
    profile = get_profile(WORDLLAMA)
    assert (profile.full_dim, profile.allowed_dims, profile.matryoshka) == (
        256,
        (256, 128, 64),
        True,
    )
    assert (profile.query_prefix, profile.document_prefix) == ("", "")
    assert "github.com/dleemiller/WordLlama" in profile.source
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # loaded with the hub switched off
    embedder = wordllama_embedder(wordllama_folder, dim=128)
    assert embedder.profile.name == WORDLLAMA and embedder.embed_query("dolls").shape == (128,)
    # A second call reuses the folder instead of building it again.
    stamp = (wordllama_folder / "modules.json").stat().st_mtime_ns
    assert wordllama_model(wordllama_folder) == wordllama_folder
    assert (wordllama_folder / "modules.json").stat().st_mtime_ns == stamp
    with pytest.raises(Exception, match="not a dimension"):
        embedder.embed_query("dolls", dim=100)


def test_a_folder_that_is_not_a_model_is_never_overwritten(tmp_path: Path) -> None:
    keep = tmp_path / "my-models"
    (keep / "other").mkdir(parents=True)
    (keep / "other" / "weights.bin").write_bytes(b"precious")
    with pytest.raises(InvalidArgumentError, match="left untouched"):
        wordllama_model(keep)
    assert (keep / "other" / "weights.bin").read_bytes() == b"precious"


def _scifact() -> Path:
    root = os.environ.get("MRL_RAG_DATASETS")
    folder = Path(root) / "scifact" if root else None
    if folder is None or not (folder / "corpus.jsonl").is_file():
        pytest.skip("set MRL_RAG_DATASETS to the folder holding BEIR's scifact")
    return folder


@pytest.mark.integration
def test_truncation_keeps_quality_on_real_data_and_the_funnel_recovers_it(
    wordllama_folder: Path, tmp_path: Path
) -> None:
    """SciFact, title+text: the MRL prefixes keep most of the quality; the funnel nearly all."""
    data = load_beir(_scifact())
    embedder = wordllama_embedder(wordllama_folder)
    docs = embedder.encode(data.doc_texts)
    queries = embedder.encode(data.query_texts, input_type="query")
    qrels = data.qrels or {}

    def share(ranked: list[list[int]], full: float | None = None) -> float:
        score = float(
            np.mean(
                [
                    ndcg_at_k([data.doc_ids[i] for i in row], qrels[qid])
                    for row, qid in zip(ranked, data.query_ids, strict=True)
                ]
            )
        )
        return score if full is None else score / full

    def exact(dim: int) -> list[list[int]]:
        scores = truncate(queries, dim) @ truncate(docs, dim).T
        return np.argsort(-scores, axis=1)[:, :10].tolist()

    full = share(exact(256))
    assert full > 0.45  # the model is useful at all (measured 0.513)
    at_128, at_64 = share(exact(128), full), share(exact(64), full)
    assert 0.85 < at_128 < 1.0 and 0.6 < at_64 < at_128  # measured 90.1% and 72.3%
    with MatryoshkaStore(embedder, path=tmp_path / "s", search_dim=64, shortlist=100) as store:
        store.add_vectors(data.doc_ids, docs, batch_size=2000)
        hits = store.search_by_vectors(queries, k=10)
    index = {doc_id: i for i, doc_id in enumerate(data.doc_ids)}
    funnel = share([[index[h.id] for h in row] for row in hits], full)
    assert funnel > 0.95 and funnel > at_128  # measured 98.4% with an exact shortlist


@pytest.mark.integration
def test_the_advisor_recommends_a_small_funnel_for_a_real_mrl_model(
    wordllama_folder: Path, tmp_path: Path
) -> None:
    data = load_beir(_scifact())
    report = evaluate(
        wordllama_embedder(wordllama_folder),
        data,
        dims=[256, 128, 64],
        shortlists=(100,),
        cache_dir=tmp_path / "cache",
    )
    shares = {(r.mode, r.dim): r.share_of_full for r in report.rows}
    assert shares[("truncated", 64)] < shares[("truncated", 128)] < 1.0
    assert shares[("funnel", 64)] > 0.95
    assert report.recommendation is not None and report.recommendation["share_of_full"] >= 0.99
