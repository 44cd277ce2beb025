"""How full vectors are kept: float32, float16 or int8 rows.

One encoder and one decoder serve both full-vector formats. ``float32`` is
exact; ``float16`` halves the bytes; ``int8`` quarters them by scaling each
unit-length row so that its largest component is 127 and rounding. A cosine
does not depend on a row's scale, so int8 rows need no stored scale: decoding
renormalises (float16 rows too, so every decoded row has unit length).
docs/funnel.md gives the error each costs, measured on BEIR sets.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import numpy.typing as npt

from mrl_rag._validation import check_choice

__all__ = ["FULL_DTYPES", "FullDType", "check_full_dtype", "decode_rows", "encode_rows"]

FullDType = Literal["float32", "float16", "int8"]
#: The allowed ``full_dtype`` values, exact first.
FULL_DTYPES: tuple[str, ...] = get_args(FullDType)


def check_full_dtype(value: object) -> FullDType:
    """``value`` if it names an allowed storage type, else an error naming them."""
    return check_choice(value, FULL_DTYPES, name="full_dtype")  # type: ignore[return-value]


def encode_rows(full: npt.NDArray[np.float32], dtype: FullDType) -> npt.NDArray[np.generic]:
    """Unit-length float32 rows as stored rows of ``dtype`` (little-endian, contiguous)."""
    if dtype == "int8":
        peak = np.abs(full).max(axis=1, keepdims=True)
        scaled = np.rint(full * (127.0 / np.where(peak > 0, peak, 1.0)))
        return np.ascontiguousarray(scaled, dtype=np.int8)
    return np.ascontiguousarray(full, dtype=np.dtype(dtype).newbyteorder("<"))


def decode_rows(rows: npt.NDArray[np.generic]) -> npt.NDArray[np.float32]:
    """Stored rows back as float32 vectors (float16 and int8 rows renormalised).

    float32 rows are returned as they are when writeable (a gather has already
    copied them).
    """
    if rows.dtype == np.float32:
        return rows if rows.flags.writeable else rows.copy()
    out = rows.astype(np.float32)
    norms = np.linalg.norm(out, axis=-1, keepdims=True)
    out /= np.where(norms > 0, norms, 1.0)
    return out
