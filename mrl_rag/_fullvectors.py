"""Where the funnel keeps its full vectors.

Two formats, chosen by the store (see docs/funnel.md for the measurements):

- ``local``: append-only files beside an embedded Chroma (``PersistentClient``):
  fixed-size rows of full vectors, a compact id index held in memory, and a
  copy of each record's text and metadata. The first stage then asks Chroma for
  ids and distances only (fetching metadata for a shortlist from Chroma costs
  more than the whole rerank); rows are read with positional reads, so they
  never count towards the serving process's resident memory.
- ``chroma``: the vector itself, base64-encoded, in a metadata key whose
  inverted index is switched off. Works with any client, including a remote
  ``HttpClient``, and the vectors arrive with the first-stage results, with no
  second round trip.

Both give bit-identical vectors, so search results do not depend on the format.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "FULL_KEY",
    "ChromaMetadataVectors",
    "FullDType",
    "FullVectors",
    "LocalVectorFile",
]

#: Metadata key holding a record's base64-encoded full vector (chroma format).
FULL_KEY = "_mrl_full"

FullDType = Literal["float32", "float16"]


class FullVectors(Protocol):
    """How a store writes and reads full vectors."""

    format: str
    #: Whether :meth:`records` can return texts and metadata without Chroma.
    keeps_records: bool

    def prepare(
        self,
        ids: Sequence[str],
        full: npt.NDArray[np.float32],
        texts: Sequence[str | None],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> list[dict[str, Any]]:
        """Persist ``full`` (durably, where it lives outside Chroma).

        Returns:
            One dict per vector to merge into the record's Chroma metadata.
        """
        ...

    def read(
        self, ids: Sequence[str], metadatas: Sequence[Mapping[str, Any]] | None
    ) -> npt.NDArray[np.float32]:
        """Return the full vectors of records, given their ids and stored metadata."""
        ...

    def records(self, ids: Sequence[str]) -> list[tuple[str | None, dict[str, Any]]]:
        """Return ``(text, metadata)`` of records (only where ``keeps_records``)."""
        ...

    def close(self) -> None:
        """Release files."""
        ...


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """``os.pwrite`` until every byte is written (it may write less in one call)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _pread_all(fd: int, size: int, offset: int) -> bytes:
    """``os.pread`` exactly ``size`` bytes, or fail if the file is shorter."""
    chunks, left = [], size
    while left:
        chunk = os.pread(fd, left, offset)
        if not chunk:
            raise RuntimeError(f"expected {size} bytes at offset {offset}, the file ended early")
        chunks.append(chunk)
        left, offset = left - len(chunk), offset + len(chunk)
    return b"".join(chunks)


def _as_rows(full: npt.ArrayLike, dim: int, dtype: np.dtype) -> npt.NDArray[Any]:
    """``full`` as a contiguous ``(n, dim)`` array of the storage dtype."""
    data = np.ascontiguousarray(full, dtype=dtype)
    if data.ndim != 2 or data.shape[1] != dim:
        raise ValueError(f"expected vectors of shape (n, {dim}), got {data.shape}")
    return data


# One index entry: a 128-bit digest of the id (as two uint64, so that lookups are
# integer searches), and where the record's JSON line is.
_KEY_DTYPE = np.dtype(
    [("hi", "<u8"), ("lo", "<u8"), ("offset", "<u8"), ("length", "<u4"), ("pad", "<u4")]
)


def _digests(ids: Sequence[str]) -> npt.NDArray[np.uint64]:
    """128-bit blake2b digests of ids, shape ``(n, 2)``."""
    raw = b"".join(hashlib.blake2b(i.encode("utf-8"), digest_size=16).digest() for i in ids)
    return np.frombuffer(raw, dtype="<u8").reshape(len(ids), 2)


class LocalVectorFile:
    """Full vectors, texts and metadata in append-only files beside an embedded Chroma.

    Three files in one folder, one entry per write, in the same order:
    ``vectors.<dtype>`` (fixed-size rows), ``index.bin`` (a 16-byte digest of
    the id, and where the record's JSON is) and ``records.jsonl`` (text and
    metadata). The index is held in memory as a sorted array (32 bytes a
    record); vectors and records are read with positional reads, so they do not
    count towards the serving process's resident memory.

    Crash safety: a write appends and ``fsync``-s records, vectors and then the
    index, before the store writes to Chroma. Every record Chroma can return
    therefore has its entry here. On opening, a torn tail (entries of an
    interrupted write) is cut off. A later write of the same id wins; entries of
    deleted or replaced ids are dead space.

    Args:
        directory: The folder. Created if missing.
        dim: The full dimension.
        dtype: ``"float32"`` (exact) or ``"float16"`` (half the disk).
    """

    format = "local"
    keeps_records = True

    def __init__(self, directory: Path, dim: int, dtype: FullDType = "float32") -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self.dtype = np.dtype(dtype)
        self.row_bytes = dim * self.dtype.itemsize
        self._lock = threading.Lock()
        flags = os.O_RDWR | os.O_CREAT
        self._vec_fd = os.open(self.directory / f"vectors.{dtype}", flags, 0o644)
        self._idx_fd = os.open(self.directory / "index.bin", flags, 0o644)
        self._rec_fd = os.open(self.directory / "records.jsonl", flags, 0o644)
        self._index = np.zeros(0, dtype=_KEY_DTYPE)
        self._records_end = 0
        self._sorted: (
            tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64], npt.NDArray[np.intp]] | None
        ) = None
        with self._lock, self._exclusive():
            self._load_new_entries()
            # Cut what an interrupted write left behind (under the lock, so never a
            # write in progress in another process).
            os.ftruncate(self._vec_fd, len(self._index) * self.row_bytes)
            os.ftruncate(self._rec_fd, self._records_end)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Hold the folder's write lock (between processes and between store objects)."""
        fcntl.flock(self._idx_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._idx_fd, fcntl.LOCK_UN)

    def _load_new_entries(self) -> None:
        """Read index entries written since this object last looked (by anyone)."""
        item = _KEY_DTYPE.itemsize
        rows = os.fstat(self._idx_fd).st_size // item
        have = len(self._index)
        if rows <= have:
            return
        raw = _pread_all(self._idx_fd, (rows - have) * item, have * item)
        new = np.frombuffer(raw, _KEY_DTYPE)
        self._index = np.concatenate([self._index, new])
        self._records_end = int(new["offset"][-1] + new["length"][-1])
        self._sorted = None

    @property
    def rows(self) -> int:
        """Number of entries, live or dead."""
        return len(self._index)

    def prepare(
        self,
        ids: Sequence[str],
        full: npt.NDArray[np.float32],
        texts: Sequence[str | None],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> list[dict[str, Any]]:
        """Append the entries durably; nothing needs to go into Chroma's metadata."""
        data = _as_rows(full, self.dim, self.dtype)
        blobs = [
            (json.dumps({"t": t, "m": dict(m)}, ensure_ascii=False) + "\n").encode("utf-8")
            for t, m in zip(texts, metadatas, strict=True)
        ]
        entries = np.zeros(len(ids), dtype=_KEY_DTYPE)
        digests = _digests(ids)
        entries["hi"], entries["lo"] = digests[:, 0], digests[:, 1]
        entries["length"] = [len(b) for b in blobs]
        with self._lock, self._exclusive():
            self._load_new_entries()  # another writer may have appended meanwhile
            first = len(self._index)
            entries["offset"] = self._records_end + np.concatenate(
                ([0], np.cumsum(entries["length"][:-1], dtype=np.uint64))
            ).astype(np.uint64)
            # Records and vectors first, the index that makes them visible last.
            _pwrite_all(self._rec_fd, b"".join(blobs), self._records_end)
            _pwrite_all(self._vec_fd, data.tobytes(), first * self.row_bytes)
            os.fsync(self._rec_fd)
            os.fsync(self._vec_fd)
            _pwrite_all(self._idx_fd, entries.tobytes(), first * _KEY_DTYPE.itemsize)
            os.fsync(self._idx_fd)
            self._index = np.concatenate([self._index, entries])
            self._records_end += int(entries["length"].sum())
            self._sorted = None
        return [{} for _ in ids]

    def _rows_of(self, ids: Sequence[str]) -> npt.NDArray[np.intp]:
        try:
            return self._lookup(ids)
        except KeyError:
            with self._lock:  # written by another store object or process since?
                self._load_new_entries()
        try:
            return self._lookup(ids)
        except KeyError as missing:
            raise RuntimeError(
                f"record {missing.args[0]!r} has no entry in {self.directory}: the local "
                "files do not match the Chroma collection (were they replaced, or written "
                "to without mrl-rag?)"
            ) from None

    def _lookup(self, ids: Sequence[str]) -> npt.NDArray[np.intp]:
        with self._lock:
            if self._sorted is None:
                # Sorted by digest, then by row: the last entry of a digest is its latest.
                order = np.lexsort(
                    (np.arange(len(self._index)), self._index["lo"], self._index["hi"])
                )
                self._sorted = (self._index["hi"][order], self._index["lo"][order], order)
            his, los, order = self._sorted
        if len(his) == 0:
            if len(ids):
                raise KeyError(ids[0])
            return np.zeros(0, dtype=np.intp)
        wanted = _digests(ids)
        pos = np.searchsorted(his, wanted[:, 0], side="right") - 1
        for i in np.flatnonzero((pos < 0) | (los[np.maximum(pos, 0)] != wanted[:, 1])):
            # Two ids whose digests share the first 64 bits (or an unknown id): walk back.
            p = int(pos[i])
            while p >= 0 and his[p] == wanted[i, 0] and los[p] != wanted[i, 1]:
                p -= 1
            if p < 0 or his[p] != wanted[i, 0] or los[p] != wanted[i, 1]:
                raise KeyError(ids[i])
            pos[i] = p
        return order[pos]

    def read(
        self, ids: Sequence[str], metadatas: Sequence[Mapping[str, Any]] | None = None
    ) -> npt.NDArray[np.float32]:
        """Read the full vectors of ``ids``."""
        rows = self._rows_of(ids)
        out = np.empty((len(ids), self.dim), dtype=self.dtype)
        buffer = memoryview(out).cast("B")
        size, fd = self.row_bytes, self._vec_fd
        for i, row in enumerate(rows.tolist()):
            if os.preadv(fd, [buffer[i * size : (i + 1) * size]], row * size) != size:
                raise RuntimeError(
                    f"{self.directory}: vector row {row} is cut short (the vectors file is "
                    "shorter than its index)."
                )
        return out.astype(np.float32, copy=False)

    def records(self, ids: Sequence[str]) -> list[tuple[str | None, dict[str, Any]]]:
        """Read the text and metadata of ``ids``."""
        entries = self._index[self._rows_of(ids)]
        out = []
        for offset, length in zip(
            entries["offset"].tolist(), entries["length"].tolist(), strict=True
        ):
            record = json.loads(_pread_all(self._rec_fd, length, offset))
            out.append((record["t"], record["m"]))
        return out

    def close(self) -> None:
        """Close the files."""
        with self._lock:
            for name in ("_vec_fd", "_idx_fd", "_rec_fd"):
                fd = getattr(self, name, -1)
                if fd >= 0:
                    os.close(fd)
                    setattr(self, name, -1)

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
    keeps_records = False

    def __init__(self, dim: int, dtype: FullDType = "float32") -> None:
        self.dim = dim
        self.dtype = np.dtype(dtype).newbyteorder("<")

    def prepare(
        self,
        ids: Sequence[str],
        full: npt.NDArray[np.float32],
        texts: Sequence[str | None],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> list[dict[str, Any]]:
        """Encode each vector as ``{FULL_KEY: base64}``."""
        data = _as_rows(full, self.dim, self.dtype)
        return [{FULL_KEY: base64.b64encode(row.tobytes()).decode("ascii")} for row in data]

    def read(
        self, ids: Sequence[str], metadatas: Sequence[Mapping[str, Any]] | None
    ) -> npt.NDArray[np.float32]:
        """Decode the vectors carried in each metadata's ``FULL_KEY``."""
        if metadatas is None:
            raise TypeError("the chroma format reads vectors from the records' metadata")
        if not metadatas:
            return np.zeros((0, self.dim), dtype=np.float32)
        raw = b"".join(base64.b64decode(m[FULL_KEY]) for m in metadatas)
        return (
            np.frombuffer(raw, dtype=self.dtype)
            .reshape(len(metadatas), self.dim)
            .astype(np.float32)
        )

    def records(self, ids: Sequence[str]) -> list[tuple[str | None, dict[str, Any]]]:
        """Not kept here: texts and metadata come with Chroma's results."""
        raise NotImplementedError

    def close(self) -> None:
        """Nothing to close."""
