"""Fault injection for the funnel store: a child process to kill, and the invariant to check.

Run as a script, this module is the child: it opens a store at a path and runs
one operation (``add``, ``upsert``, ``delete``, ``reindex``, ...) in small
steps, printing ``ready`` first; the test kills it (SIGKILL) at a random
moment, or it kills itself at an exact point (``--kill-at``). No model: records
have deterministic vectors, so the checker knows what every record must hold.

Imported, it gives the tests :func:`vector`, :func:`open_store` and
:func:`check_invariant`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

import numpy as np

from mrl_rag._truncate import truncate

DIM = 32
N = 240
STEP = 12
GROUPS = 4


def profile():
    from mrl_rag import ModelProfile

    return ModelProfile(name="fault-test", full_dim=DIM, source="test")


def vector(record_id: str, version: int) -> np.ndarray:
    """The full vector of ``record_id`` at ``version`` (deterministic, unit length)."""
    seed = int.from_bytes(hashlib.blake2b(f"{record_id}:{version}".encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def ids(n: int = N) -> list[str]:
    return [f"r{i:04d}" for i in range(n)]


def text(record_id: str, version: int) -> str:
    return f"{record_id} version {version}"


def metadata(record_id: str, version: int) -> dict:
    meta = {"id": record_id, "ver": version, "grp": int(record_id[1:]) % GROUPS}
    if version == 1:
        meta["old"] = True  # a key that version 2 does not have: upserts must clear it
    return meta


def write(store, record_ids: list[str], version: int, *, upsert: bool) -> None:
    store.add_vectors(
        record_ids,
        np.stack([vector(i, version) for i in record_ids]),
        texts=[text(i, version) for i in record_ids],
        metadatas=[metadata(i, version) for i in record_ids],
        upsert=upsert,
        batch_size=STEP,
    )


def open_store(path: Path, fmt: str, **kwargs):
    from mrl_rag import MatryoshkaStore

    return MatryoshkaStore(
        profile=profile(), path=path, collection="faults", full_vectors=fmt, **kwargs
    )


def base(path: Path, fmt: str):
    """A store holding every record at version 1, searched at 8 dims."""
    store = open_store(path, fmt, search_dim=8)
    if store.count() == 0:
        write(store, ids(), 1, upsert=False)
    return store


def run(op: str, path: Path, fmt: str) -> None:
    """One operation, in small steps (each step is one transaction)."""
    if op == "base":
        base(path, fmt).close()
    elif op == "add":
        store = open_store(path, fmt, search_dim=8)
        print("ready", flush=True)
        for start in range(0, N, STEP):
            write(store, ids()[start : start + STEP], 1, upsert=False)
    elif op == "upsert":
        store = base(path, fmt)
        print("ready", flush=True)
        for start in range(0, N, STEP):
            write(store, ids()[start : start + STEP], 2, upsert=True)
    elif op == "delete":
        store = base(path, fmt)
        print("ready", flush=True)
        doomed = ids()[::2]
        for start in range(0, len(doomed), STEP):
            store.delete(doomed[start : start + STEP])
        store.delete(where={"grp": 1})
    elif op == "reindex":
        store = base(path, fmt)
        adaptor = store.fit_adaptor()
        print("ready", flush=True)
        for dim, with_adaptor in ((16, True), (8, False), (16, False), (8, True)):
            store.reindex(dim, adaptor=adaptor if with_adaptor else None, batch_size=40)
    else:
        raise SystemExit(f"unknown op {op}")
    print("done", flush=True)


def expected_final(op: str) -> dict[str, int]:
    """id -> version once the operation has completed."""
    if op in ("add", "reindex"):
        return dict.fromkeys(ids(), 1)
    if op == "upsert":
        return dict.fromkeys(ids(), 2)
    keep = [i for i in ids()[1::2] if int(i[1:]) % GROUPS != 1]
    return dict.fromkeys(keep, 1)


def chroma_unreachable(col, record_ids: list[str], stored: dict[str, Any]) -> set[str]:
    """Records that Chroma's own search cannot find by their stored vector.

    Chroma 1.5.9 rebuilds from its log, on opening, the part of its HNSW index
    it has not persisted yet. That rebuild has been seen to leave a record that
    no query finds, not even ``query(ids=[that id])``, and a record that only
    an id-restricted query finds, while ``get`` returns its vector exactly
    (``benchmarks/chroma_replay_unreachable.py`` shows it with Chroma alone).
    No store above Chroma can find what Chroma's own search for the exact
    vector does not return, so the checks skip such a record; it must be rare
    (at most one in twenty: Chroma alone has lost 5 of 240), and its stored
    vector and records are still checked.
    """
    vectors = np.stack([np.asarray(stored[i], dtype=np.float32) for i in record_ids])
    found = col.query(query_embeddings=vectors, n_results=50, include=[])["ids"]
    lost = {i for i, hits in zip(record_ids, found, strict=True) if i not in hits}
    assert len(lost) <= max(1, len(record_ids) // 20), sorted(lost)
    return lost


def check_invariant(store, allowed: dict[str, set[int]] | None = None) -> dict[str, int]:
    """Check that search, get, filters and full vectors agree for every id.

    Args:
        store: The store to check.
        allowed: For each id that may exist, the versions it may have.

    Returns:
        id -> version of what the store holds.
    """
    col = store.collection
    got = col.get(include=["documents", "metadatas"])
    held: dict[str, int] = {}
    for record_id, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
        version = meta["ver"]
        assert doc == text(record_id, version), (record_id, doc, meta)
        assert {k: v for k, v in meta.items() if not k.startswith("_mrl")} == metadata(
            record_id, version
        ), (record_id, meta)
        held[record_id] = version
    if allowed is not None:
        for record_id, version in held.items():
            assert version in allowed.get(record_id, set()), (record_id, version)
    assert store.count() == len(held)
    if not held:
        return held
    record_ids = sorted(held)
    expected = np.stack([vector(i, held[i]) for i in record_ids])
    np.testing.assert_allclose(store.full_vectors(record_ids), expected, atol=1e-6)
    by_get = {r.id: (r.text, r.metadata) for r in store.get(record_ids)}
    assert set(by_get) == set(record_ids)
    # Chroma's index holds each record's first stage, exactly as the store computes it.
    staged = store.adaptor.transform(expected) if store.adaptor is not None else expected
    indexed = col.get(ids=record_ids, include=["embeddings"])
    by_id = dict(zip(indexed["ids"], indexed["embeddings"], strict=True))
    np.testing.assert_allclose(
        np.stack([by_id[i] for i in record_ids]), truncate(staged, store.search_dim), atol=1e-6
    )
    unreachable = chroma_unreachable(col, record_ids, by_id)
    # Every other record is found by its own vector, with what get returns and score 1.
    for record_id in record_ids:
        if record_id in unreachable:
            continue
        (hit,) = store.search_by_vector(vector(record_id, held[record_id]), k=1, shortlist=50)
        assert hit.id == record_id, (record_id, hit)
        assert (hit.text, hit.metadata) == by_get[record_id]
        assert abs(hit.score - 1.0) < 1e-5
    # Filters see the same metadata; exact search equals brute force over what is held.
    rng = np.random.default_rng(len(held))
    for group in range(GROUPS):
        members = {i for i in record_ids if int(i[1:]) % GROUPS == group}
        assert set(col.get(where={"grp": group}, include=[])["ids"]) == members
        q = rng.normal(size=DIM).astype(np.float32)
        q /= np.linalg.norm(q)
        hits = store.search_by_vector(q, k=5, shortlist=len(held), where={"grp": group})
        ranked = sorted(members - unreachable, key=lambda i: -float(vector(i, held[i]) @ q))[:5]
        assert [h.id for h in hits] == ranked
        for h in hits:
            assert abs(h.score - float(vector(h.id, held[h.id]) @ q)) < 1e-5
            assert h.metadata["grp"] == group
    return held


def _kill_at(point: str) -> None:
    """Make this process kill itself at an exact point of the write path."""
    from chromadb.api.models.Collection import Collection

    def before(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    def after(original):
        def call_then_die(self, *args, **kwargs):
            original(self, *args, **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)

        return call_then_die

    if point == "before-chroma":  # the write's add, upsert or delete never reaches Chroma
        Collection.add = Collection.upsert = Collection.delete = before
    elif point == "after-chroma":  # Chroma has applied it; nothing after it runs
        Collection.add = after(Collection.add)
        Collection.upsert = after(Collection.upsert)
        Collection.delete = after(Collection.delete)
    elif point.startswith("compact-"):
        _kill_in_compaction(point)
    elif point == "adaptor-create":
        from chromadb.api.client import Client

        create = Client.create_collection

        def create_then_die(self, name, *args, **kwargs):
            collection = create(self, name, *args, **kwargs)
            if name.startswith("mrl-adaptor-"):
                os.kill(os.getpid(), signal.SIGKILL)
            return collection

        Client.create_collection = create_then_die


def _kill_in_compaction(point: str) -> None:
    """Die at one of compaction's steps (mrl_rag.store.local_format's own calls)."""
    from mrl_rag.store import local_format

    fsync_dir, rename = local_format._fsync_dir, local_format.os.rename
    renames = []

    def fsync_then_maybe_die(path):
        fsync_dir(path)
        copy_done = point == "compact-copy-complete" and path.name.endswith(".compact")
        swapped = point == "compact-swapped" and path.name == "mrl_rag"
        if copy_done or swapped:
            os.kill(os.getpid(), signal.SIGKILL)

    def rename_or_die(src, dst):
        renames.append(src)
        if point == "compact-between-renames" and len(renames) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        rename(src, dst)

    local_format._fsync_dir = fsync_then_maybe_die
    local_format.os.rename = rename_or_die


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("op")
    parser.add_argument("path", type=Path)
    parser.add_argument("fmt")
    parser.add_argument("--kill-at")
    args = parser.parse_args()
    if args.op == "upsert-one":  # a base, then one upsert (killed at --kill-at)
        store = base(args.path, args.fmt)
        print("ready", flush=True)
        _kill_at(args.kill_at)
        write(store, ids()[:STEP], 2, upsert=True)
    elif args.op == "add-one":  # all but the first step, then an add of it (killed)
        store = open_store(args.path, args.fmt, search_dim=8)
        write(store, ids()[STEP:], 1, upsert=False)
        print("ready", flush=True)
        _kill_at(args.kill_at)
        write(store, ids()[:STEP], 1, upsert=False)
    elif args.op == "compact":  # a base with replaced and deleted records, then compact
        store = base(args.path, args.fmt)
        write(store, ids()[:STEP], 2, upsert=True)
        store.delete(ids()[STEP : 2 * STEP])
        print("ready", flush=True)
        _kill_at(args.kill_at)
        store.compact()
    elif args.op == "delete-one":  # a base, then one delete (killed at --kill-at)
        store = base(args.path, args.fmt)
        print("ready", flush=True)
        _kill_at(args.kill_at)
        store.delete(ids()[:STEP])
    elif args.op == "adaptor":  # a new store created with an adaptor
        from mrl_rag import OrthogonalAdaptor

        x = np.stack([vector(i, 1) for i in ids()])
        adaptor = OrthogonalAdaptor.fit(x, model="fault-test")
        if args.kill_at:
            _kill_at(args.kill_at)
        store = open_store(args.path, args.fmt, search_dim=8, adaptor=adaptor)
        if store.count() == 0:
            write(store, ids(), 1, upsert=False)
    elif args.op == "hold":  # open the store, write, and keep it open until killed
        store = base(args.path, args.fmt)
        print("ready", flush=True)
        sys.stdin.read()
    else:
        run(args.op, args.path, args.fmt)
    print("done", flush=True)


if __name__ == "__main__":
    main()
