"""The one truncation function of mrl-rag.

Every truncated vector in the project, from the embedder, the store or a
benchmark, is made here, so that a prefix of length ``dim`` always means the
same thing: the first ``dim`` components, rescaled to unit L2 norm.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from mrl_rag._errors import InvalidDimensionError, InvalidVectorError
from mrl_rag._validation import check_dim_type

__all__ = ["truncate"]


def truncate(vectors: npt.ArrayLike, dim: int) -> npt.NDArray[np.float32]:
    """Keep the first ``dim`` components of each vector and rescale to unit length.

    This is how a Matryoshka embedding is shortened: a prefix of the full
    vector, L2-renormalised so that dot products are cosine similarities again.
    A vector whose prefix is all zeros stays all zeros (it has no direction).

    Args:
        vectors: One vector of shape ``(d,)`` or a batch of shape ``(n, d)``.
        dim: How many leading components to keep, ``1 <= dim <= d``.
            ``dim == d`` only renormalises.

    Returns:
        A new float32 array of shape ``(dim,)`` or ``(n, dim)``; the input is
        never modified.

    Raises:
        InvalidDimensionError: If ``dim`` is not an integer in ``1..d``.
        InvalidVectorError: If ``vectors`` is not 1-D or 2-D.

    Example:
        >>> truncate([3.0, 4.0, 12.0], 2)
        array([0.6, 0.8], dtype=float32)
    """
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim not in (1, 2):
        raise InvalidVectorError(
            f"vectors must be 1-D (one vector) or 2-D (a batch), got shape {array.shape}."
        )
    dim = check_dim_type(dim)
    full = array.shape[-1]
    if dim > full:
        raise InvalidDimensionError(
            f"dim={dim} is larger than the vectors' dimension ({full}); "
            f"allowed: an integer from 1 to {full}."
        )
    # float64 for the arithmetic: in float32, squares of tiny components underflow and
    # the "unit" vector would be off by a visible amount (found by the property tests).
    prefix = array[..., :dim].astype(np.float64)
    if prefix.ndim == 1:  # one query vector, the search path's case: fewer steps, same sums
        norm = math.sqrt(np.add.reduce(prefix * prefix))
        if norm > 0:
            prefix /= norm
        return prefix.astype(np.float32)
    norms = np.sqrt(np.add.reduce(prefix * prefix, axis=-1, keepdims=True))  # linalg.norm's sums
    np.divide(prefix, norms, out=prefix, where=norms > 0)
    return prefix.astype(np.float32)
