"""Where the funnel keeps its full vectors.

Two formats, chosen by the store (see docs/funnel.md for the measurements):

- ``local``: an append-only file of fixed-size rows beside an embedded Chroma
  (``PersistentClient``). Chroma's metadata holds each record's row number. Rows
  are read with positional reads, so they never count towards the serving
  process's resident memory, and a rerank of 100 rows costs a fraction of a
  millisecond.
- ``chroma``: the vector itself, base64-encoded, in a metadata key whose
  inverted index is switched off. Works with any client, including a remote
  ``HttpClient``, and the vectors arrive with the first-stage results, with no
  second round trip.

Both give bit-identical vectors, so search results do not depend on the format.
"""

from __future__ import annotations

import base64
import contextlib
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "FULL_KEY",
    "ROW_KEY",
    "ChromaMetadataVectors",
    "FullDType",
    "FullVectors",
    "LocalVectorFile",
]

#: Metadata key holding the row number of a record's full vector (local format).
ROW_KEY = "_mrl_row"
#: Metadata key holding a record's base64-encoded full vector (chroma format).
FULL_KEY = "_mrl_full"

FullDType = Literal["float32", "float16"]


class FullVectors(Protocol):
    """How a store writes and reads full vectors."""

    format: str

    def prepare(self, full: npt.NDArray[np.float32]) -> list[dict[str, Any]]:
        """Persist ``full`` (durably, where it lives outside Chroma).

        Returns:
            One metadata dict per vector, to be merged into the record's
            metadata, that lets :meth:`read` find it again.
        """
        ...

    def read(self, metadatas: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float32]:
        """Return the full vectors of records, given their stored metadata."""
        ...


class LocalVectorFile:
    """Append-only file of full vectors, one fixed-size row per record.

    Crash safety: rows are appended and ``fsync``-ed before the store writes the
    records that point to them to Chroma, so every searchable record has its
    full vector. A row torn by a crash is cut off when the file is next opened;
    rows that no record points to (after a crash, an upsert or a delete) are
    dead space, which :meth:`MatryoshkaStore.reindex` does not copy.

    Args:
        path: The file. Created if missing.
        dim: The full dimension.
        dtype: ``"float32"`` (exact) or ``"float16"`` (half the disk).
    """

    format = "local"

    def __init__(self, path: Path, dim: int, dtype: FullDType = "float32") -> None:
        self.path = Path(path)
        self.dim = dim
        self.dtype = np.dtype(dtype)
        self.row_bytes = dim * self.dtype.itemsize
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        size = os.fstat(self._fd).st_size
        self._rows = size // self.row_bytes
        if size != self._rows * self.row_bytes:  # a row torn by a crash mid-write
            os.ftruncate(self._fd, self._rows * self.row_bytes)

    @property
    def rows(self) -> int:
        """Number of rows in the file, live or dead."""
        return self._rows

    def prepare(self, full: npt.NDArray[np.float32]) -> list[dict[str, Any]]:
        """Append ``full`` durably and return ``{ROW_KEY: row}`` per vector."""
        data = np.ascontiguousarray(full, dtype=self.dtype)
        if data.ndim != 2 or data.shape[1] != self.dim:
            raise ValueError(f"expected vectors of shape (n, {self.dim}), got {data.shape}")
        with self._lock:
            first = self._rows
            os.pwrite(self._fd, data.tobytes(), first * self.row_bytes)
            os.fsync(self._fd)
            self._rows += len(data)
        return [{ROW_KEY: first + i} for i in range(len(data))]

    def read(self, metadatas: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float32]:
        """Read the rows named by each metadata's ``ROW_KEY``."""
        out = np.empty((len(metadatas), self.dim), dtype=self.dtype)
        buffer = memoryview(out).cast("B")
        size = self.row_bytes
        for i, metadata in enumerate(metadatas):
            row = int(metadata[ROW_KEY])
            if os.preadv(self._fd, [buffer[i * size : (i + 1) * size]], row * size) != size:
                raise RuntimeError(
                    f"row {row} of {self.path} is missing: the full-vector file is shorter "
                    "than the collection expects (was it replaced or truncated?)"
                )
        return out.astype(np.float32, copy=False)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # nothing useful to do at interpreter exit
            self.close()


class ChromaMetadataVectors:
    """Full vectors kept inside Chroma, base64-encoded in record metadata.

    Args:
        dim: The full dimension.
        dtype: ``"float32"`` (exact) or ``"float16"`` (half the size).
    """

    format = "chroma"

    def __init__(self, dim: int, dtype: FullDType = "float32") -> None:
        self.dim = dim
        self.dtype = np.dtype(dtype).newbyteorder("<")

    def prepare(self, full: npt.NDArray[np.float32]) -> list[dict[str, Any]]:
        """Encode each vector as ``{FULL_KEY: base64}``."""
        data = np.ascontiguousarray(full, dtype=self.dtype)
        if data.ndim != 2 or data.shape[1] != self.dim:
            raise ValueError(f"expected vectors of shape (n, {self.dim}), got {data.shape}")
        return [{FULL_KEY: base64.b64encode(row.tobytes()).decode("ascii")} for row in data]

    def read(self, metadatas: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float32]:
        """Decode the vectors carried in each metadata's ``FULL_KEY``."""
        if not metadatas:
            return np.zeros((0, self.dim), dtype=np.float32)
        raw = b"".join(base64.b64decode(m[FULL_KEY]) for m in metadatas)
        return (
            np.frombuffer(raw, dtype=self.dtype)
            .reshape(len(metadatas), self.dim)
            .astype(np.float32)
        )

    def close(self) -> None:
        """Nothing to close."""
