"""Property tests for the one scoring path's exact top-k."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mrl_rag import top_k

# Few distinct values, so that ties (ordered by index) are common.
scores = arrays(
    np.float32, st.integers(1, 40), elements=st.sampled_from([-1.0, 0.0, 0.25, 0.5, 1.0])
)


@settings(max_examples=300, deadline=None)
@given(scores, st.integers(1, 50))
def test_one_row_is_ranked_as_in_a_batch_and_as_a_full_sort(row: np.ndarray, k: int) -> None:
    """The one-query fast path gives what the batch path and a stable sort give."""
    one = top_k(row, k)
    assert one.tolist() == top_k(row[None, :], k)[0].tolist()
    best = sorted(range(len(row)), key=lambda i: (-row[i], i))[: min(k, len(row))]
    # argpartition may keep any of the tied values at the cut; everything above the cut
    # and the scores themselves must agree with a full sort.
    assert row[one].tolist() == row[best].tolist()
    cut = row[best[-1]]
    assert [i for i in one.tolist() if row[i] > cut] == [i for i in best if row[i] > cut]
    tied = [i for i in one.tolist() if row[i] == cut]
    assert tied == sorted(tied)
