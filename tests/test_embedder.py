"""MatryoshkaEmbedder unit tests on a tiny BERT built from a config (fast, offline)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from sentence_transformers import SentenceTransformer

from mrl_rag import (
    InvalidArgumentError,
    InvalidDimensionError,
    InvalidTextError,
    MatryoshkaEmbedder,
    ProfileError,
    TruncationQualityWarning,
    TrustRemoteCodeError,
    rank_agreement,
    truncate,
)

from .conftest import TINY_DIM, tiny_profile

DOCS = ["the cat and the dog", "paris is a city", "coffee or tea", "a red train in tokyo"]


@pytest.fixture(scope="module")
def st_model(tiny_model_path: Path) -> SentenceTransformer:
    return SentenceTransformer(str(tiny_model_path), device="cpu")


@pytest.fixture(scope="module")
def embedder(st_model: SentenceTransformer) -> MatryoshkaEmbedder:
    return MatryoshkaEmbedder(st_model, profile=tiny_profile())


def raw(model: SentenceTransformer, texts: list[str]) -> np.ndarray:
    """The reference: sentence-transformers itself, prefix typed by hand, L2-normalised."""
    return model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)


def test_loads_from_a_local_path(tiny_model_path: Path) -> None:
    e = MatryoshkaEmbedder(tiny_model_path, profile=tiny_profile(), device="cpu")
    assert e.full_dim == TINY_DIM
    assert str(e.model.device) == "cpu"
    assert "tiny-mrl" in repr(e)


def test_dimension_precedence(st_model: SentenceTransformer) -> None:
    e = MatryoshkaEmbedder(st_model, profile=tiny_profile(), dim=32)
    assert e.embed_documents(DOCS).shape == (4, 32)
    assert e.embed_documents(DOCS, dim=16).shape == (4, 16)
    assert e.embed_query("cat", dim=8).shape == (8,)
    assert e.embed_query("cat").shape == (32,)
    full = MatryoshkaEmbedder(st_model, profile=tiny_profile())
    assert full.dim == TINY_DIM
    assert full.embed_documents(DOCS).shape == (4, TINY_DIM)
    e.dim = None
    assert e.embed_query("cat").shape == (TINY_DIM,)
    with pytest.raises(InvalidDimensionError, match="dim=20"):
        e.dim = 20
    assert e.dim == TINY_DIM


def test_prefixes_are_applied_by_themselves(embedder: MatryoshkaEmbedder, st_model) -> None:
    docs = embedder.embed_documents(DOCS)
    queries = embedder.embed_queries(["cat", "city"])
    np.testing.assert_allclose(docs, raw(st_model, [f"passage: {d}" for d in DOCS]), atol=1e-5)
    np.testing.assert_allclose(queries, raw(st_model, ["query: cat", "query: city"]), atol=1e-5)
    # Without the prefix the vectors really differ, so the check above can fail.
    assert not np.allclose(docs, raw(st_model, DOCS), atol=1e-3)
    np.testing.assert_allclose(embedder.embed_query("cat"), queries[0], atol=1e-6)


def test_prefix_overrides(st_model: SentenceTransformer) -> None:
    e = MatryoshkaEmbedder(
        st_model, profile=tiny_profile(), query_prefix="", document_prefix="doc: "
    )
    assert (e.profile.query_prefix, e.profile.document_prefix) == ("", "doc: ")
    np.testing.assert_allclose(e.embed_query("cat"), raw(st_model, ["cat"])[0], atol=1e-5)
    np.testing.assert_allclose(e.embed_documents(["cat"]), raw(st_model, ["doc: cat"]), atol=1e-5)


def test_outputs_are_float32_unit_vectors_at_every_dim(embedder: MatryoshkaEmbedder) -> None:
    for dim in (TINY_DIM, 32, 16, 8):
        out = embedder.embed_documents(DOCS, dim=dim)
        assert out.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)


def test_one_full_pass_gives_every_truncation(embedder: MatryoshkaEmbedder, st_model) -> None:
    full = embedder.encode(DOCS, input_type="document")
    assert full.shape == (4, TINY_DIM)
    for dim in (32, 16, 8):
        expected = truncate(raw(st_model, [f"passage: {d}" for d in DOCS]), dim)
        np.testing.assert_allclose(embedder.truncate(full, dim), expected, atol=1e-5)
        np.testing.assert_allclose(embedder.embed_documents(DOCS, dim=dim), expected, atol=1e-5)
    with pytest.raises(ValueError, match=r"shape \(n, 64\) for tiny-mrl, got \(4, 32\)"):
        embedder.truncate(embedder.truncate(full, 32), 16)


def test_layer_norm_profile_matches_nomics_recipe(tiny_model_path: Path) -> None:
    st_model = SentenceTransformer(str(tiny_model_path), device="cpu")
    # A freshly initialised BERT ends in a LayerNorm with zero bias, so its outputs are
    # already centred and centring would change nothing; shift them as trained models are.
    final_norm = st_model[0].auto_model.encoder.layer[-1].output.LayerNorm
    with torch.no_grad():
        final_norm.bias.add_(torch.linspace(-0.5, 1.5, TINY_DIM))
    e = MatryoshkaEmbedder(st_model, profile=tiny_profile(pre_truncation="layer_norm"))
    texts = [f"passage: {d}" for d in DOCS]
    unnormalised = torch.from_numpy(st_model.encode(texts, convert_to_numpy=True))
    for dim in (TINY_DIM, 32, 16, 8):
        # Nomic's model card: layer_norm over the full vector, slice, L2-normalise.
        expected = F.layer_norm(unnormalised, normalized_shape=(TINY_DIM,))[:, :dim]
        expected = F.normalize(expected, p=2, dim=1).numpy()
        np.testing.assert_allclose(e.embed_documents(DOCS, dim=dim), expected, atol=1e-5)
    plain = MatryoshkaEmbedder(st_model, profile=tiny_profile())
    assert not np.allclose(plain.embed_documents(DOCS, dim=8), expected, atol=1e-3)


def test_batch_size_does_not_change_results(st_model: SentenceTransformer) -> None:
    one = MatryoshkaEmbedder(st_model, profile=tiny_profile(), batch_size=1)
    many = MatryoshkaEmbedder(st_model, profile=tiny_profile(), batch_size=3)
    np.testing.assert_allclose(one.embed_documents(DOCS), many.embed_documents(DOCS), atol=1e-5)
    with pytest.raises(InvalidArgumentError, match="batch_size must be a positive integer, got 0"):
        MatryoshkaEmbedder(st_model, profile=tiny_profile(), batch_size=0)


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (["ok", None], r"texts\[1\] is None"),
        (["ok", "fine", 3], r"texts\[2\] is a int \(3\)"),
        (["", "ok"], r"texts\[0\] is empty"),
        (["ok", "  \n"], r"texts\[1\] is empty or only whitespace"),
        ("just one string", "must be a list of strings, got a single str"),
        (42, "must be a list of strings, got int"),
        ({"a": 1}, "must be a list of strings, got dict"),
    ],
)
def test_bad_texts_name_their_index(embedder: MatryoshkaEmbedder, texts, message: str) -> None:
    with pytest.raises(InvalidTextError, match=message):
        embedder.embed_documents(texts)
    with pytest.raises((ValueError, TypeError)):
        embedder.embed_queries(texts)


@pytest.mark.parametrize("text", [None, "", "   ", 5, ["cat"]])
def test_bad_query_rejected(embedder: MatryoshkaEmbedder, text: object) -> None:
    with pytest.raises(InvalidTextError, match="text must be a non-empty string"):
        embedder.embed_query(text)  # type: ignore[arg-type]


def test_empty_batch_gives_empty_result(embedder: MatryoshkaEmbedder) -> None:
    assert embedder.embed_documents([]).shape == (0, TINY_DIM)
    assert embedder.embed_documents([], dim=16).shape == (0, 16)
    assert embedder.embed_queries(()).shape == (0, TINY_DIM)


def test_generators_are_accepted(embedder: MatryoshkaEmbedder) -> None:
    assert embedder.embed_documents(d for d in DOCS).shape == (4, TINY_DIM)


@pytest.mark.parametrize(
    ("dim", "message"),
    [
        (0, "dim must be a positive integer, got 0"),
        (-8, "got -8"),
        (65, r"dim=65 is larger than the full dimension of tiny-mrl \(64\)"),
        (20, r"dim=20 is not a dimension tiny-mrl was trained for. Allowed: one of 64, 32, 16, 8"),
        (16.0, "dim must be a positive integer, got 16.0"),
    ],
)
def test_bad_dims_rejected(embedder: MatryoshkaEmbedder, dim: object, message: str) -> None:
    with pytest.raises(InvalidDimensionError, match=message):
        embedder.embed_documents(DOCS, dim=dim)  # type: ignore[arg-type]
    with pytest.raises(InvalidDimensionError, match=message):
        embedder.embed_query("cat", dim=dim)  # type: ignore[arg-type]


def test_bad_instance_dim_rejected(st_model: SentenceTransformer) -> None:
    with pytest.raises(InvalidDimensionError, match="dim=12 is not a dimension"):
        MatryoshkaEmbedder(st_model, profile=tiny_profile(), dim=12)


def test_non_matryoshka_truncation_warns_once(st_model: SentenceTransformer) -> None:
    e = MatryoshkaEmbedder(st_model, profile=tiny_profile(matryoshka=False, matryoshka_dims=None))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e.embed_documents(DOCS)  # full dimension: nothing is lost, no warning
    with pytest.warns(
        TruncationQualityWarning, match=r"not trained with Matryoshka.*rank_agreement"
    ):
        e.embed_documents(DOCS, dim=20)  # any prefix is allowed, with a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e.embed_documents(DOCS, dim=10)
        e.embed_query("cat", dim=5)


def test_matryoshka_model_does_not_warn(embedder: MatryoshkaEmbedder) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        embedder.embed_documents(DOCS, dim=8)


def test_remote_code_is_never_enabled_silently(tmp_path: Path) -> None:
    needs_code = tiny_profile(trust_remote_code=True)
    missing = tmp_path / "not-a-model"  # the check happens before any loading
    with pytest.raises(TrustRemoteCodeError, match="pass trust_remote_code=True"):
        MatryoshkaEmbedder(missing, profile=needs_code)
    with pytest.raises(TrustRemoteCodeError, match=r"nomic-ai/nomic-embed-text-v1\.5"):
        MatryoshkaEmbedder("nomic-ai/nomic-embed-text-v1.5")
    assert not missing.exists()


def test_trust_remote_code_is_passed_when_given(tiny_model_path: Path) -> None:
    e = MatryoshkaEmbedder(
        tiny_model_path, profile=tiny_profile(trust_remote_code=True), trust_remote_code=True
    )
    assert e.embed_query("cat").shape == (TINY_DIM,)


def test_api_models_are_refused_with_a_reason() -> None:
    with pytest.raises(ProfileError, match="served by OpenAI's API"):
        MatryoshkaEmbedder("text-embedding-3-small")


def test_profile_that_disagrees_with_the_model_is_refused(st_model: SentenceTransformer) -> None:
    with pytest.raises(ProfileError, match=r"full_dim=768, but the model produces 64"):
        MatryoshkaEmbedder(st_model, profile="nomic-ai/nomic-embed-text-v1.5")


def test_pre_truncated_model_is_refused(tiny_model_path: Path) -> None:
    model = SentenceTransformer(str(tiny_model_path), device="cpu", truncate_dim=16)
    with pytest.raises(ProfileError, match=r"truncate_dim=16.*pass dim="):
        MatryoshkaEmbedder(model)


def test_wrong_model_and_profile_types(st_model: SentenceTransformer) -> None:
    with pytest.raises(TypeError, match="model must be a hub id"):
        MatryoshkaEmbedder(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="profile must be a ModelProfile"):
        MatryoshkaEmbedder(st_model, profile=5)  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"input_type must be one of .query., .document., got .passage."
    ):
        MatryoshkaEmbedder(st_model).encode(DOCS, input_type="passage")  # type: ignore[arg-type]


def test_unknown_model_profile_comes_from_its_config(tiny_prompted_model_path: Path) -> None:
    e = MatryoshkaEmbedder(tiny_prompted_model_path)
    p = e.profile
    assert (p.name, p.full_dim) == (str(tiny_prompted_model_path), TINY_DIM)
    assert (p.query_prefix, p.document_prefix, p.matryoshka) == ("query: ", "passage: ", False)
    model = e.model
    # The model's own default prompt ("zzz zzz ") must not be added on top of ours.
    expected = model.encode(["passage: cat"], prompt="", normalize_embeddings=True)
    np.testing.assert_allclose(e.embed_documents(["cat"]), expected, atol=1e-5)
    with_default = model.encode(["passage: cat"], normalize_embeddings=True)
    assert not np.allclose(with_default, expected, atol=1e-3)


def test_progress_bar_on_long_inputs(st_model: SentenceTransformer, capsys) -> None:
    auto = MatryoshkaEmbedder(st_model, profile=tiny_profile(), batch_size=256)
    auto.embed_documents(DOCS)
    assert "Batches" not in capsys.readouterr().err
    auto.embed_documents(["the cat"] * 600)
    assert "Batches" in capsys.readouterr().err
    quiet = MatryoshkaEmbedder(st_model, profile=tiny_profile(), show_progress_bar=False)
    quiet.embed_documents(["the cat"] * 600)
    assert "Batches" not in capsys.readouterr().err


def test_rank_agreement_is_perfect_at_full_dim(embedder: MatryoshkaEmbedder) -> None:
    results = rank_agreement(embedder, DOCS, ["cat", "city", "tea"], dims=[TINY_DIM, 8], k=2)
    assert [r.dim for r in results] == [TINY_DIM, 8]
    assert results[0].recall_at_k == 1.0 and results[0].top1_agreement == 1.0
    assert 0.0 <= results[1].recall_at_k <= 1.0
    with pytest.raises(InvalidDimensionError, match="dim=20"):
        rank_agreement(embedder, DOCS, ["cat"], dims=[20])
    with pytest.raises(ValueError, match="at least one text"):
        rank_agreement(embedder, DOCS, [], dims=[8])
