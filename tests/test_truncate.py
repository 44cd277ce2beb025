"""Property and edge-case tests for the one truncation function."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mrl_rag import InvalidDimensionError, truncate

finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, width=32)


@st.composite
def batch_and_dims(draw: st.DrawFn) -> tuple[np.ndarray, int, int]:
    d = draw(st.integers(min_value=1, max_value=96))
    n = draw(st.integers(min_value=1, max_value=6))
    vectors = draw(arrays(np.float32, (n, d), elements=finite))
    outer = draw(st.integers(min_value=1, max_value=d))
    inner = draw(st.integers(min_value=1, max_value=outer))
    return vectors, outer, inner


def _nonzero_rows(prefix: np.ndarray) -> np.ndarray:
    return np.linalg.norm(prefix.astype(np.float64), axis=-1) > 1e-6


@settings(max_examples=200, deadline=None)
@given(batch_and_dims())
def test_unit_norm(case: tuple[np.ndarray, int, int]) -> None:
    vectors, dim, _ = case
    out = truncate(vectors, dim)
    assert out.shape == (vectors.shape[0], dim)
    assert out.dtype == np.float32
    keep = _nonzero_rows(vectors[:, :dim])
    np.testing.assert_allclose(np.linalg.norm(out[keep], axis=1), 1.0, rtol=1e-5)


@settings(max_examples=200, deadline=None)
@given(batch_and_dims())
def test_prefix_up_to_positive_scale(case: tuple[np.ndarray, int, int]) -> None:
    vectors, dim, _ = case
    out = truncate(vectors, dim)
    prefix = vectors[:, :dim].astype(np.float64)
    scale = np.linalg.norm(prefix, axis=1, keepdims=True)
    keep = _nonzero_rows(vectors[:, :dim])
    np.testing.assert_allclose(out[keep] * scale[keep], prefix[keep], rtol=1e-4, atol=1e-4)
    # All-zero prefixes have no direction and stay zero.
    assert not np.any(out[~keep & (scale[:, 0] == 0)])


@settings(max_examples=200, deadline=None)
@given(batch_and_dims())
def test_truncating_twice_equals_once(case: tuple[np.ndarray, int, int]) -> None:
    vectors, outer, inner = case
    once = truncate(vectors, inner)
    twice = truncate(truncate(vectors, outer), inner)
    # float32 limit: after the first cut a component below ~1e-38 of the outer norm
    # underflows to zero, and an inner prefix made only of such components has no
    # direction left. The property holds for every prefix that float32 can represent.
    wide = vectors.astype(np.float64)
    ratio = np.linalg.norm(wide[:, :inner], axis=1) / np.maximum(
        np.linalg.norm(wide[:, :outer], axis=1), 1e-300
    )
    keep = ratio > 1e-30
    np.testing.assert_allclose(twice[keep], once[keep], rtol=1e-5, atol=1e-6)


@settings(max_examples=100, deadline=None)
@given(arrays(np.float32, st.integers(1, 64), elements=finite), st.data())
def test_single_vector_matches_batch(vector: np.ndarray, data: st.DataObject) -> None:
    dim = data.draw(st.integers(1, vector.shape[0]))
    np.testing.assert_array_equal(truncate(vector, dim), truncate(vector[None, :], dim)[0])


@given(st.integers(max_value=0))
def test_non_positive_dims_rejected(dim: int) -> None:
    with pytest.raises(InvalidDimensionError, match=rf"dim must be a positive integer, got {dim}"):
        truncate(np.ones((2, 8)), dim)


@given(st.integers(min_value=9, max_value=10_000))
def test_dims_above_width_rejected(dim: int) -> None:
    with pytest.raises(
        InvalidDimensionError, match=rf"dim={dim} .*allowed: an integer from 1 to 8"
    ):
        truncate(np.ones((2, 8)), dim)


@pytest.mark.parametrize("dim", [2.0, "4", True, None, [4]])
def test_non_integer_dims_rejected(dim: object) -> None:
    with pytest.raises(InvalidDimensionError, match="dim must be a positive integer"):
        truncate(np.ones((2, 8)), dim)  # type: ignore[arg-type]


def test_numpy_integer_dim_accepted() -> None:
    assert truncate(np.ones((2, 8)), np.int64(4)).shape == (2, 4)


def test_input_is_not_modified_and_result_is_a_copy() -> None:
    vectors = np.arange(1, 17, dtype=np.float32).reshape(2, 8)
    before = vectors.copy()
    out = truncate(vectors, 8)
    out[:] = 0
    np.testing.assert_array_equal(vectors, before)


def test_known_values() -> None:
    np.testing.assert_allclose(truncate([3.0, 4.0, 12.0], 2), [0.6, 0.8])
    np.testing.assert_allclose(truncate([[0.0, 0.0, 1.0]], 2), [[0.0, 0.0]])


def test_wrong_rank_rejected() -> None:
    with pytest.raises(ValueError, match=r"1-D .* or 2-D .* got shape \(2, 2, 2\)"):
        truncate(np.ones((2, 2, 2)), 1)
