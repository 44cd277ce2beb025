"""The ``local`` full-vector format: files beside an embedded Chroma, with a write-ahead log.

Three append-only files in ``<chroma path>/mrl_rag/<store id>/``:

- ``vectors.<dtype>``: fixed-size rows of full vectors;
- ``records.jsonl``: one JSON line per put (id, text, metadata) or delete (id);
- ``log.bin``: fixed-size, checksummed entries that say which row and line
  belong to which id, grouped in transactions.

The write protocol (see docs/funnel.md) makes the files and Chroma agree by
construction. A transaction appends its rows, lines and entries, then a
``READY`` entry, and ``fsync``-s them; only then is Chroma written (one call,
which Chroma applies completely or not at all); then a ``COMMIT`` entry makes
the transaction visible to searches. What Chroma refuses is cut off again, so
nothing changes. After a crash, opening the store replays a ``READY``
transaction that has no ``COMMIT`` (Chroma may or may not have applied it;
applying it again is harmless), and cuts a transaction that never became
``READY`` (Chroma was never called for it). Nothing else is ever cut: damage
inside the committed part is reported, not repaired.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import itertools
import json
import mmap
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np
import numpy.typing as npt

from mrl_rag._errors import StoreDamagedError
from mrl_rag.store.codec import FullDType, decode_rows, encode_rows
from mrl_rag.store.locks import ProcessLock, ReadWriteLock
from mrl_rag.store.records import Record, WriteBatch

__all__ = ["LocalFullVectors", "is_refusal"]

PUT, DELETE, READY, COMMIT = 1, 2, 3, 4

# One log entry. For PUT and DELETE: the id's 128-bit digest, the row (PUT) and
# the records line. For READY and COMMIT: the ends of the vectors (rows) and
# records (bytes) files once the transaction is complete.
_ENTRY = np.dtype(
    [
        ("hi", "<u8"),
        ("lo", "<u8"),
        ("txn", "<u8"),
        ("row", "<u8"),
        ("offset", "<u8"),
        ("length", "<u4"),
        ("op", "<u4"),
        ("check", "<u8"),
    ]
)
_K = np.array(
    [
        0x9E3779B97F4A7C15,
        0xC2B2AE3D27D4EB4F,
        0x165667B19E3779F9,
        0xD6E8FEB86659FD93,
        0xFF51AFD7ED558CCD,
        0xC4CEB9FE1A85EC53,
        0x94D049BB133111EB,
        0x2545F4914F6CDD1D,
    ],
    dtype=np.uint64,
)
_FIELDS = ("hi", "lo", "txn", "row", "offset", "length", "op")
#: What the process keeps of each committed PUT and DELETE entry (40 bytes, not 56:
#: the transaction and checksum are only needed while reading the file).
_HELD = np.dtype(
    [
        ("hi", "<u8"),
        ("lo", "<u8"),
        ("row", "<u8"),
        ("offset", "<u8"),
        ("length", "<u4"),
        ("op", "<u4"),
    ]
)


def _held(entries: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The fields of log entries that the process keeps (see :data:`_HELD`)."""
    out = np.empty(len(entries), dtype=_HELD)
    for name in _HELD.names:
        out[name] = entries[name]
    return out


def _checksums(entries: npt.NDArray[Any]) -> npt.NDArray[np.uint64]:
    """A 64-bit checksum of each entry's fields (zero-filled entries never pass)."""
    x = np.full(len(entries), _K[7], dtype=np.uint64)
    for k, name in zip(_K, _FIELDS, strict=False):
        x = (x ^ entries[name].astype(np.uint64)) * k
        x ^= x >> np.uint64(31)
    return x


def _digests(ids: Sequence[str]) -> npt.NDArray[np.uint64]:
    """128-bit blake2b digests of ids, shape ``(n, 2)``."""
    raw = b"".join(hashlib.blake2b(i.encode("utf-8"), digest_size=16).digest() for i in ids)
    return np.frombuffer(raw, dtype="<u8").reshape(len(ids), 2)


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc
    except (AttributeError, OSError):
        return None


def release_freed_heap() -> None:
    """Give the C heap's freed pages back to the operating system (glibc only).

    Opening a store reads the whole log and sorts its ids once: arrays of tens of
    bytes per record that are freed at once. glibc keeps freed heap pages, so
    they would stay in the serving process's resident memory (19 MiB measured at
    200,000 records) although nothing uses them.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _pread_all(fd: int, size: int, offset: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = os.pread(fd, left, offset)
        if not chunk:
            break
        chunks.append(chunk)
        left, offset = left - len(chunk), offset + len(chunk)
    return b"".join(chunks)


#: Beside a store's folder during compaction: the new files, then the old folder.
_COPY, _OLD = ".compact", ".old"
#: In the copy once its files are durable: it may replace the folder.
_COMPLETE = "compact.complete"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _finish_compaction(directory: Path) -> None:
    """Finish or undo a compaction a crash interrupted (see :meth:`LocalFullVectors.compact`)."""
    copy = directory.with_name(directory.name + _COPY)
    old = directory.with_name(directory.name + _OLD)
    if not directory.exists():
        if (copy / _COMPLETE).exists():  # between the two renames: the copy is whole
            os.rename(copy, directory)
            _fsync_dir(directory.parent)
        elif old.exists():  # cannot happen (the mark comes first), but never lose the data
            os.rename(old, directory)
    if directory.exists():
        shutil.rmtree(copy, ignore_errors=True)  # an unfinished copy: the folder is intact
        shutil.rmtree(old, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (directory / _COMPLETE).unlink()


def is_refusal(exc: BaseException) -> bool:
    """Whether Chroma refused a call outright (it then changed nothing)."""
    from chromadb.errors import InvalidArgumentError, NotFoundError

    return isinstance(exc, ValueError | TypeError | InvalidArgumentError | NotFoundError)


#: Ids whose positions a view remembers (about 100 bytes each).
_POSITIONS_KEPT = 1 << 16


class _View(NamedTuple):
    """The live ids of one commit: sorted digests, their entries, positions met.

    ``index`` points into ``log`` (the committed entries the view was built from)
    rather than copying the entries: 4 bytes per record instead of 40.
    """

    his: npt.NDArray[np.uint64]
    los: npt.NDArray[np.uint64]
    index: npt.NDArray[np.integer[Any]]
    log: npt.NDArray[Any]
    positions: dict[str, int]


@dataclass(frozen=True)
class _Ends:
    """Where the three files end: entries in the log, rows, record bytes."""

    entries: int
    rows: int
    records: int


class LocalFullVectors:
    """Full vectors, texts and metadata beside an embedded Chroma, under a write-ahead log.

    Every store object of one process on one folder shares one instance (see
    :meth:`open`), with one lock for readers and writers; other processes are
    kept out by :class:`~mrl_rag.store.locks.ProcessLock`.

    Args:
        directory: The store's folder.
        dim: The full dimension.
        dtype: ``"float32"`` (exact), ``"float16"`` or ``"int8"`` (see
            :mod:`mrl_rag.store.codec`).
        lock: The process lock of the Chroma folder.

    Committed rows are read through a memory map of the vectors file (one
    gather for a whole shortlist; the pages stay in memory once touched) or,
    for a store that keeps its full vectors on disk, one ``pread`` per row.
    """

    format = "local"
    keeps_records = True
    _open: ClassVar[dict[tuple[int, str], LocalFullVectors]] = {}
    _open_lock = threading.RLock()  # a store's __del__ may release while another opens

    def __init__(self, directory: Path, dim: int, dtype: FullDType, lock: ProcessLock) -> None:
        self.directory = directory
        self.dim = dim
        self.dtype = np.dtype(np.int8 if dtype == "int8" else np.dtype(dtype).newbyteorder("<"))
        self.storage: FullDType = dtype
        self.row_bytes = dim * self.dtype.itemsize
        self.rw = ReadWriteLock()
        self._writer = threading.RLock()
        self._process_lock = lock
        self._fds: dict[str, int] = {}
        self.vectors_path = directory / f"vectors.{dtype}"
        self.records_path = directory / "records.jsonl"
        self.log_path = directory / "log.bin"
        # Committed PUT and DELETE entries, in pieces: a commit appends its own, and
        # the next view joins them (so a run of writes copies nothing).
        self._entries: list[npt.NDArray[Any]] = []
        self._view: _View | None = None
        self._ends = _Ends(0, 0, 0)
        self._txn = 0
        self._pending: tuple[int, _Ends, _Ends] | None = None  # txn, its start, its end
        self._key = (os.getpid(), str(directory.resolve()))
        self._users = 0
        self._map: npt.NDArray[Any] | None = None  # committed rows, memory-mapped

    # -- opening ---------------------------------------------------------------

    @classmethod
    def open(
        cls, directory: Path, dim: int, dtype: FullDType, lock: ProcessLock, *, create: bool
    ) -> LocalFullVectors:
        """The process's instance for ``directory``, loaded and checked.

        Args:
            directory: The store's folder.
            dim: The full dimension.
            dtype: The storage dtype.
            lock: The Chroma folder's process lock (held while the files are open).
            create: Whether a missing folder may be created (a new or empty store).

        Every call must be matched by a :meth:`release`.

        Raises:
            StoreDamagedError: If the files are missing or damaged.
        """
        key = (os.getpid(), str(directory.resolve()))
        with cls._open_lock:
            files = cls._open.get(key)
            if files is None:
                _finish_compaction(directory)
                files = cls(directory, dim, dtype, lock)
                try:
                    files._load(create=create)
                except BaseException:
                    files.close()
                    raise
                cls._open[key] = files
            files._users += 1
            return files

    def release(self) -> None:
        """Give back one :meth:`open`; the last one closes the files."""
        with self._open_lock:
            self._users -= 1
            if self._users <= 0:
                self._open.pop(self._key, None)
                self.close()

    def damaged(self, path: Path, problem: str) -> StoreDamagedError:
        """The error for a damaged file: what is wrong, and how to repair it."""
        return StoreDamagedError(
            f"{path} {problem}. The store will not answer from damaged files. Restore the "
            "folder from a backup, or rebuild its full vectors from the texts kept in "
            "Chroma with `mrl-rag repair <chroma path> --collection <name> --model <model>` "
            "(MatryoshkaStore.repair); records without text cannot be rebuilt."
        )

    def _load(self, *, create: bool) -> None:
        names = ("log", "vectors", "records")
        paths = (self.log_path, self.vectors_path, self.records_path)
        if not self.directory.exists():
            if not create:
                raise self.damaged(self.directory, "is missing")
            self.directory.mkdir(parents=True)
        present = {name: path.exists() for name, path in zip(names, paths, strict=True)}
        if not present["log"] and any(
            p.exists() and p.stat().st_size for p in (self.vectors_path, self.records_path)
        ):
            raise self.damaged(self.log_path, "is missing while the vectors and records remain")
        for name, path in zip(names, paths, strict=True):
            self._fds[name] = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        raw = _pread_all(self._fds["log"], os.fstat(self._fds["log"]).st_size, 0)
        whole = len(raw) // _ENTRY.itemsize
        entries = np.frombuffer(raw[: whole * _ENTRY.itemsize], dtype=_ENTRY)
        valid = entries["check"] == _checksums(entries)
        commits = np.flatnonzero(valid & (entries["op"] == COMMIT))
        last = int(commits[-1]) if len(commits) else -1
        if not valid[: last + 1].all():
            bad = int(np.flatnonzero(~valid[: last + 1])[0])
            raise self.damaged(self.log_path, f"has a damaged entry ({bad}) before its last commit")
        committed = entries[: last + 1]
        if last >= 0:
            end = committed[-1]
            self._ends = _Ends(last + 1, int(end["row"]), int(end["offset"]))
            self._txn = int(end["txn"])
        if os.fstat(self._fds["vectors"]).st_size < self._ends.rows * self.row_bytes:
            raise self.damaged(
                self.vectors_path, f"is shorter than its log says ({self._ends.rows} rows)"
            )
        if os.fstat(self._fds["records"]).st_size < self._ends.records:
            raise self.damaged(
                self.records_path, f"is shorter than its log says ({self._ends.records} bytes)"
            )
        data = committed[np.isin(committed["op"], (PUT, DELETE))]
        self._entries = [_held(data)]
        # The uncommitted tail: a transaction that became READY is replayed by the
        # store (recover); anything else was never sent to Chroma and is cut.
        tail = entries[last + 1 :]
        tail_valid = valid[last + 1 :]
        ready = np.flatnonzero(tail_valid & (tail["op"] == READY))
        if len(ready) and tail_valid[: ready[0] + 1].all():
            r = tail[int(ready[0])]
            if int(r["txn"]) == self._txn + 1:
                self._pending = (
                    self._txn + 1,
                    self._ends,
                    _Ends(self._ends.entries + int(ready[0]) + 1, int(r["row"]), int(r["offset"])),
                )
                return
        self._cut(self._ends)

    def _cut(self, ends: _Ends) -> None:
        """Cut every file back to ``ends`` (only ever past the last commit)."""
        os.ftruncate(self._fds["log"], ends.entries * _ENTRY.itemsize)
        os.ftruncate(self._fds["vectors"], ends.rows * self.row_bytes)
        os.ftruncate(self._fds["records"], ends.records)
        for fd in self._fds.values():
            os.fsync(fd)

    @property
    def writer(self) -> threading.RLock:
        """Held by whoever writes (a transaction, recovery, a reindex's copy)."""
        return self._writer

    # -- recovery ----------------------------------------------------------------

    @property
    def has_pending(self) -> bool:
        """Whether a transaction was interrupted after it became READY."""
        return self._pending is not None

    def recover(self, apply: Callable[[WriteBatch], None]) -> None:
        """Finish an interrupted transaction: apply it to Chroma again, then commit.

        Chroma may have applied it before the crash; applying it again gives the
        same records. If Chroma refuses it now, it never applied it: it is cut.

        Args:
            apply: Writes a batch to Chroma (the store's one write path).
        """
        if self._pending is None:
            return
        with self._writer, self.rw.write():
            if self._pending is None:  # another thread finished it meanwhile
                return
            txn, start, end = self._pending
            n = end.entries - start.entries - 1
            raw = _pread_all(self._fds["log"], n * _ENTRY.itemsize, start.entries * _ENTRY.itemsize)
            entries = np.frombuffer(raw, dtype=_ENTRY)
            batch = self._batch_of(entries)
            try:
                apply(batch)
            except Exception as exc:
                if not is_refusal(exc):
                    raise
                self._cut(start)
                self._pending = None
                return
            self._commit(txn, entries, end)
            self._pending = None

    def _batch_of(self, entries: npt.NDArray[Any]) -> WriteBatch:
        puts, rows, deletes = [], [], []
        for entry in entries:
            line = json.loads(
                _pread_all(self._fds["records"], int(entry["length"]), int(entry["offset"]))
            )
            if int(entry["op"]) == PUT:
                puts.append(Record(line["i"], line["t"], line["m"]))
                rows.append(int(entry["row"]))
            else:
                deletes.append(line["i"])
        return WriteBatch(puts, self._read_rows(np.asarray(rows, dtype=np.int64)), deletes)

    # -- writing -----------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self, batch: WriteBatch) -> Iterator[None]:
        """Write ``batch`` durably as READY, let the caller write Chroma, then commit.

        The caller's block is the Chroma call. If Chroma refuses it, the files are
        cut back and nothing changed. Searches in this process see the batch only
        once it is committed (they wait while the Chroma call runs).
        """
        with self._writer:
            txn, start = self._txn + 1, self._ends
            try:
                entries, end = self._append_ready(txn, batch, start)
            except BaseException:
                self._cut(start)  # not READY: Chroma was never called
                raise
            with self.rw.write():
                try:
                    yield
                except BaseException as exc:
                    if is_refusal(exc):
                        self._cut(start)
                    else:  # unknown outcome: finished as after a crash, before readers see it
                        self._pending = (txn, start, end)
                    raise
                self._commit(txn, entries, end)

    def _append_ready(
        self, txn: int, batch: WriteBatch, start: _Ends
    ) -> tuple[npt.NDArray[Any], _Ends]:
        lines = [
            json.dumps({"i": r.id, "t": r.text, "m": r.metadata}, ensure_ascii=False) + "\n"
            for r in batch.puts
        ] + [json.dumps({"i": i}, ensure_ascii=False) + "\n" for i in batch.deletes]
        blobs = [line.encode("utf-8") for line in lines]
        n_put = len(batch.puts)
        entries = np.zeros(len(blobs) + 1, dtype=_ENTRY)
        body = entries[:-1]
        digests = _digests(batch.ids)
        body["hi"], body["lo"] = digests[:, 0], digests[:, 1]
        body["txn"] = txn
        body["op"][:n_put], body["op"][n_put:] = PUT, DELETE
        body["row"][:n_put] = start.rows + np.arange(n_put, dtype=np.uint64)
        lengths = np.array([len(b) for b in blobs], dtype=np.uint64)
        body["length"] = lengths
        body["offset"] = start.records + np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(
            np.uint64
        )
        end = _Ends(
            start.entries + len(entries), start.rows + n_put, start.records + int(lengths.sum())
        )
        ready = entries[-1]
        ready["txn"], ready["op"], ready["row"], ready["offset"] = txn, READY, end.rows, end.records
        entries["check"] = _checksums(entries)
        data = encode_rows(batch.full, self.storage)
        _pwrite_all(self._fds["records"], b"".join(blobs), start.records)
        _pwrite_all(self._fds["vectors"], data.tobytes(), start.rows * self.row_bytes)
        os.fsync(self._fds["records"])
        os.fsync(self._fds["vectors"])
        _pwrite_all(self._fds["log"], entries.tobytes(), start.entries * _ENTRY.itemsize)
        os.fsync(self._fds["log"])
        return entries[:-1], end

    def _commit(self, txn: int, entries: npt.NDArray[Any], end: _Ends) -> None:
        commit = np.zeros(1, dtype=_ENTRY)
        commit["txn"], commit["op"], commit["row"], commit["offset"] = (
            txn,
            COMMIT,
            end.rows,
            end.records,
        )
        commit["check"] = _checksums(commit)
        # No fsync: a lost COMMIT only means the transaction is replayed on opening.
        _pwrite_all(self._fds["log"], commit.tobytes(), end.entries * _ENTRY.itemsize)
        self._entries.append(_held(entries))
        self._ends = _Ends(end.entries + 1, end.rows, end.records)
        self._txn = txn
        self._view = None

    # -- compaction --------------------------------------------------------------

    def files_bytes(self) -> int:
        """The size of the three files."""
        return sum(os.fstat(fd).st_size for fd in self._fds.values())

    def compact(self) -> int:
        """Rewrite the files with the live records only; return the bytes reclaimed.

        Deleted and replaced records stay in the append-only files until this.
        The live records' bytes are copied as they are (vectors are not decoded
        and encoded again) into ``<folder>.compact``, which is made durable and
        marked complete, and then takes the folder's place by two renames. A
        crash before the second rename leaves the old folder serving (the
        copy is discarded on opening); a crash between the renames is finished
        on opening from the complete copy. Call it with no write pending.
        """
        with self._writer, self.rw.write():
            if self._pending is not None:
                raise AssertionError("finish the pending write (recover) before compacting")
            before = self.files_bytes()
            view = self._latest()
            live = view.log[view.index]
            live = live[np.argsort(live["row"], kind="stable")]  # keep the rows' order
            copy = self.directory.with_name(self.directory.name + _COPY)
            shutil.rmtree(copy, ignore_errors=True)
            copy.mkdir()
            self._write_copy(copy, live)
            old = self.directory.with_name(self.directory.name + _OLD)
            shutil.rmtree(old, ignore_errors=True)
            self.close()
            os.rename(self.directory, old)
            os.rename(copy, self.directory)
            _fsync_dir(self.directory.parent)
            (self.directory / _COMPLETE).unlink()
            shutil.rmtree(old, ignore_errors=True)
            self._entries = []
            self._view, self._ends, self._txn = None, _Ends(0, 0, 0), 0
            self._load(create=False)
            return before - self.files_bytes()

    def _write_copy(self, copy: Path, live: npt.NDArray[Any]) -> None:
        """The three files of the live records, durable, then the completion mark."""
        n = len(live)
        lengths = live["length"].astype(np.uint64)
        offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.uint64)
        total = int(lengths.sum())
        names = {"log": self.log_path.name, "vectors": self.vectors_path.name}
        names["records"] = self.records_path.name
        fds = {k: os.open(copy / name, os.O_RDWR | os.O_CREAT, 0o644) for k, name in names.items()}
        try:
            step = 65_536
            for start in range(0, n, step):
                part = live[start : start + step]
                blob = b"".join(
                    _pread_all(self._fds["records"], int(e["length"]), int(e["offset"]))
                    for e in part
                )
                _pwrite_all(fds["records"], blob, int(offsets[start]))
                rows = part["row"].astype(np.int64)
                mapped = self._mapped(rows) if len(rows) else None
                raw = mapped[rows].tobytes() if mapped is not None else b""
                _pwrite_all(fds["vectors"], raw, start * self.row_bytes)
            entries = np.zeros(n + 2, dtype=_ENTRY)
            body = entries[:n]
            body["hi"], body["lo"] = live["hi"], live["lo"]
            body["txn"], body["op"] = 1, PUT
            body["row"] = np.arange(n, dtype=np.uint64)
            body["offset"], body["length"] = offsets, live["length"]
            for i, op in ((n, READY), (n + 1, COMMIT)):
                entries[i]["txn"], entries[i]["op"] = 1, op
                entries[i]["row"], entries[i]["offset"] = n, total
            entries["check"] = _checksums(entries)
            _pwrite_all(fds["log"], entries.tobytes(), 0)
            for fd in fds.values():
                os.fsync(fd)
        finally:
            for fd in fds.values():
                os.close(fd)
        (copy / _COMPLETE).write_bytes(b"")
        _fsync_dir(copy)

    # -- reading -----------------------------------------------------------------

    def _latest(self) -> _View:
        """Sorted digests of live ids and their entries (built once per commit)."""
        view = self._view
        if view is None:
            if len(self._entries) != 1:
                self._entries = [np.concatenate([np.zeros(0, dtype=_HELD), *self._entries])]
            e = self._entries[0]
            order = np.lexsort((np.arange(len(e)), e["lo"], e["hi"]))
            his, los = e["hi"][order], e["lo"][order]
            last = np.ones(len(order), dtype=bool)
            last[:-1] = (his[1:] != his[:-1]) | (los[1:] != los[:-1])
            keep = order[last]
            keep = keep[e["op"][keep] == PUT]
            index = keep.astype(np.uint32) if len(e) < 2**32 else keep  # 4 bytes a record
            view = _View(e["hi"][keep], e["lo"][keep], index, e, {})
            self._view = view
        return view

    def live_count(self) -> int:
        """Number of live ids in the committed log."""
        return len(self._latest().his)

    def lookup(self, ids: Sequence[str]) -> npt.NDArray[Any]:
        """The committed entries of ``ids`` (call under ``rw.read()``).

        Positions of ids met before are remembered for the view they belong to
        (up to :data:`_POSITIONS_KEPT` ids; a commit starts a new view), so a
        search hashes only the ids it has not met yet.
        """
        view = self._latest()
        pos = np.fromiter(
            map(view.positions.get, ids, itertools.repeat(-1)), dtype=np.intp, count=len(ids)
        )
        new = np.flatnonzero(pos < 0)
        if len(new):
            fresh = [ids[i] for i in new.tolist()]
            found = self._positions(view, fresh)
            pos[new] = found
            if len(view.positions) < _POSITIONS_KEPT:
                view.positions.update(zip(fresh, found.tolist(), strict=True))
        return view.log[view.index[pos]]

    def _positions(self, view: _View, ids: Sequence[str]) -> npt.NDArray[np.intp]:
        """Positions of ``ids`` in ``view``, found by their digests."""
        his, los = view.his, view.los
        wanted = _digests(ids)
        pos = np.searchsorted(his, wanted[:, 0], side="left")
        pos = np.minimum(pos, max(len(his) - 1, 0))
        if len(his) == 0:
            bad = np.arange(len(ids))
        else:
            bad = np.flatnonzero((his[pos] != wanted[:, 0]) | (los[pos] != wanted[:, 1]))
        for i in bad.tolist():  # ids whose first 64 digest bits are shared: walk on
            p = int(pos[i])
            while p < len(his) and his[p] == wanted[i, 0] and los[p] != wanted[i, 1]:
                p += 1
            if p >= len(his) or his[p] != wanted[i, 0] or los[p] != wanted[i, 1]:
                raise self.damaged(
                    self.log_path,
                    f"has no entry for record {ids[i]!r}, which Chroma holds (the files do "
                    "not belong to this collection, or were replaced)",
                )
            pos[i] = p
        return pos

    def _read_rows(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        if not len(rows):  # a delete's transaction has none
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.empty((len(rows), self.dim), dtype=self.dtype)
        buffer = memoryview(out).cast("B")
        size, fd = self.row_bytes, self._fds["vectors"]
        for i, row in enumerate(rows.tolist()):
            if os.preadv(fd, [buffer[i * size : (i + 1) * size]], row * size) != size:
                raise self.damaged(self.vectors_path, f"ends before row {row}")
        return decode_rows(out)

    def _mapped(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[Any] | None:
        """The memory map of the committed rows, if it holds ``rows`` (remapped as it grows)."""
        mapped = self._map
        need = int(rows.max()) + 1
        if mapped is not None and len(mapped) >= need:
            return mapped
        committed = self._ends.rows
        if committed < need:
            return None  # an uncommitted row (recovery reads these): read it directly
        # Only committed rows are mapped: the files are only ever cut past them.
        view = mmap.mmap(self._fds["vectors"], committed * self.row_bytes, prot=mmap.PROT_READ)
        mapped = np.frombuffer(view, dtype=self.dtype).reshape(committed, self.dim)
        self._map = mapped
        return mapped

    def warm(self) -> int:
        """Map every committed row and read each page once, so that searches find them in RAM.

        Returns:
            The rows mapped.
        """
        rows = self._ends.rows
        if not rows:
            return 0
        mapped = self._mapped(np.array([rows - 1]))
        assert mapped is not None
        step = max(1, mmap.PAGESIZE // self.row_bytes)
        for start in range(0, rows, 65_536):
            mapped[start : start + 65_536 : step].sum()  # touches every page
        return rows

    def read(self, entries: npt.NDArray[Any], *, in_memory: bool = True) -> npt.NDArray[np.float32]:
        """The full vectors of looked-up entries, in their order.

        Args:
            entries: From :meth:`lookup`.
            in_memory: Gather from the memory map (the default) rather than
                read each row from the file.
        """
        rows = entries["row"].astype(np.int64)
        if not len(rows):
            return np.zeros((0, self.dim), dtype=np.float32)
        mapped = self._mapped(rows) if in_memory else None
        if mapped is None:
            return self._read_rows(rows)
        return decode_rows(mapped[rows])

    def records(self, entries: npt.NDArray[Any]) -> list[Record]:
        """The records (id, text, metadata) of looked-up entries."""
        out = []
        fd = self._fds["records"]
        for offset, length in zip(
            entries["offset"].tolist(), entries["length"].tolist(), strict=True
        ):
            blob = _pread_all(fd, length, offset)
            try:
                line = json.loads(blob)
                out.append(Record(line["i"], line["t"], line["m"]))
            except (ValueError, KeyError):
                raise self.damaged(
                    self.records_path, f"has a damaged line at byte {offset}"
                ) from None
        return out

    def close(self) -> None:
        """Close the files (a memory map closes when its last array goes)."""
        self._map = None
        for name in list(self._fds):
            with contextlib.suppress(OSError):
                os.close(self._fds.pop(name))

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
