"""Locks of the funnel store: readers and writers in one process, one process per path.

Chroma's embedded client (``PersistentClient``) keeps its HNSW index in the
memory of the process that opened it, so a second process on the same folder
neither sees new records (measured: a reader process found none of the records
written after it opened) nor can write without corrupting the index. The store
therefore lets one process at a time open an embedded path
(:class:`ProcessLock`), and serves any number of threads in it
(:class:`ReadWriteLock`). Several processes share one store through a Chroma
server (``chroma run`` and ``HttpClient``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from mrl_rag._errors import StoreLockedError

__all__ = ["ProcessLock", "ReadWriteLock", "writer_lock"]


_writers: dict[tuple[str, str], threading.RLock] = {}
_writers_lock = threading.Lock()


def writer_lock(key: tuple[str, str]) -> threading.RLock:
    """The lock every writer of one collection in this process holds (shared by store objects).

    Writes, a reindex and the opening of a store (which may finish an interrupted
    reindex) take it, so none of them sees another half done.

    Args:
        key: Where the collection lives (a folder, a server) and its name.
    """
    with _writers_lock:
        return _writers.setdefault(key, threading.RLock())


class ReadWriteLock:
    """Many readers or one writer; a waiting writer goes before new readers.

    Not reentrant: a thread holding it must not acquire it again.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        """Hold the lock shared (searches)."""
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        """Hold the lock exclusively (the moment a write becomes visible)."""
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class ProcessLock:
    """An exclusive lock on an embedded Chroma folder, held by one process.

    Every store object of this process on the folder shares one instance (see
    :meth:`acquire`); it is released when the last of them is closed, or when
    the process ends (also by SIGKILL: the kernel drops ``flock`` locks).
    """

    _held: ClassVar[dict[tuple[int, str], ProcessLock]] = {}
    _registry_lock = threading.RLock()  # a store's __del__ may release inside acquire

    def __init__(self, path: Path, fd: int, key: tuple[int, str]) -> None:
        self.path = path
        self._fd = fd
        self._key = key
        self._users = 0

    @classmethod
    def acquire(cls, folder: Path) -> ProcessLock:
        """Lock ``folder`` for this process, or raise :class:`StoreLockedError`.

        Every call must be matched by a :meth:`release`.

        Args:
            folder: The embedded Chroma folder (``PersistentClient(path=...)``).
        """
        path = Path(folder).resolve() / "mrl_rag" / "process.lock"
        key = (os.getpid(), str(path))  # a forked child must take the lock itself
        with cls._registry_lock:
            lock = cls._held.get(key)
            if lock is None:
                lock = cls(path, cls._lock_file(path, folder), key)
                cls._held[key] = lock
            lock._users += 1
            return lock

    @staticmethod
    def _lock_file(path: Path, folder: Path) -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StoreLockedError(
                f"The embedded Chroma folder {Path(folder)} is open in another process "
                f"(pid {owner}). Chroma's PersistentClient serves one process: a second "
                "one would not see new records and could corrupt the index. Close the "
                "other process (store.close()), or serve several processes from a Chroma "
                "server (`chroma run --path ...` and chromadb.HttpClient)."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        return fd

    def release(self) -> None:
        """Give back one :meth:`acquire`; the last one unlocks the folder."""
        with self._registry_lock:
            self._users -= 1
            if self._users > 0:
                return
            self._held.pop(self._key, None)
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing the descriptor drops the flock
