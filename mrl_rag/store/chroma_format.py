"""The ``chroma`` full-vector format: each full vector inside its own Chroma record.

The vector is base64-encoded in a metadata key (:data:`FULL_KEY`) whose inverted
index is switched off through the collection's schema. A record's text,
metadata, truncated and full vector then change together in one Chroma call,
which Chroma applies completely or not at all: the format is consistent by
construction, with any client, and any number of processes can share a Chroma
server. The vectors arrive with the first stage's results, in the same response.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mrl_rag._errors import StoreDamagedError
from mrl_rag.store.codec import FullDType, decode_rows, encode_rows

__all__ = ["FULL_KEY", "ChromaFullVectors"]

#: Metadata key holding a record's base64-encoded full vector.
FULL_KEY = "_mrl_full"


class ChromaFullVectors:
    """Encodes full vectors into record metadata and decodes them back.

    Args:
        dim: The full dimension.
        dtype: ``"float32"`` (exact), ``"float16"`` or ``"int8"`` (see
            :mod:`mrl_rag.store.codec`).
    """

    format = "chroma"
    keeps_records = False

    def __init__(self, dim: int, dtype: FullDType = "float32") -> None:
        self.dim = dim
        self.storage: FullDType = dtype
        self.dtype = np.dtype(np.int8 if dtype == "int8" else np.dtype(dtype).newbyteorder("<"))

    def encode(self, full: npt.NDArray[np.float32]) -> list[dict[str, str]]:
        """One ``{FULL_KEY: base64}`` metadata fragment per vector."""
        data = encode_rows(full, self.storage)
        return [{FULL_KEY: base64.b64encode(row.tobytes()).decode("ascii")} for row in data]

    def raw(
        self, ids: Sequence[str], metadatas: Sequence[Mapping[str, Any] | None]
    ) -> npt.NDArray[np.generic]:
        """The stored rows (the format's dtype) carried in the records' metadata."""
        if not metadatas:
            return np.zeros((0, self.dim), dtype=self.dtype)
        chunks = []
        for record_id, meta in zip(ids, metadatas, strict=True):
            blob = (meta or {}).get(FULL_KEY)
            raw = base64.b64decode(blob) if isinstance(blob, str) else b""
            if len(raw) != self.dim * self.dtype.itemsize:
                raise StoreDamagedError(
                    f"Record {record_id!r} has no valid full vector in its {FULL_KEY!r} "
                    "metadata (it was written to the collection without mrl-rag?). Delete "
                    "it and add it again through the store."
                )
            chunks.append(raw)
        return np.frombuffer(b"".join(chunks), dtype=self.dtype).reshape(-1, self.dim)

    def decode(
        self, ids: Sequence[str], metadatas: Sequence[Mapping[str, Any] | None]
    ) -> npt.NDArray[np.float32]:
        """The full vectors carried in the records' metadata."""
        return decode_rows(self.raw(ids, metadatas))
