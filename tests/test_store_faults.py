"""The store's one invariant under faults, with real processes and real Chroma.

Invariant: for every id, search, get, where filters and the first stage agree
on its text, metadata and full vector; counts agree; exact search equals brute
force over what the store holds. It must hold after a SIGKILL at any moment of
add, upsert, delete, reindex and adaptor creation, after any refused write
(which changes nothing), and while other threads write.
"""

from __future__ import annotations

import gc
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import chromadb
import numpy as np
import pytest

from mrl_rag import (
    MatryoshkaStore,
    OrthogonalAdaptor,
    StoreDamagedError,
    StoreLockedError,
)

from . import faultkit as fk

KILLS = int(os.environ.get("MRL_RAG_KILLS", "30"))
CHILD = [sys.executable, str(Path(fk.__file__))]


def spawn(*args: str, stdin: int | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [*CHILD, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=stdin,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_ready(child: subprocess.Popen) -> None:
    line = child.stdout.readline()
    assert line == "ready\n", (line, child.stderr.read())


def release(*stores: MatryoshkaStore) -> None:
    """Let go of stores, as a process that is done with a folder does."""
    for store in stores:
        store.close()


def op_duration(op: str, fmt: str, path: Path) -> float:
    child = spawn(op, str(path), fmt)
    wait_ready(child)
    start = time.monotonic()
    _, err = child.communicate(timeout=300)
    assert child.returncode == 0, err
    return time.monotonic() - start


def run_child(*args: str) -> None:
    child = spawn(*args)
    _, err = child.communicate(timeout=300)
    assert child.returncode == 0, err


@pytest.mark.parametrize("fmt", ["local", "chroma"])
@pytest.mark.parametrize("op", ["add", "upsert", "delete", "reindex"])
def test_sigkill_at_random_moments_keeps_the_invariant(op: str, fmt: str, tmp_path: Path) -> None:
    # Every trial starts from a copy of one base store (made by a process of its own).
    start = tmp_path / "start"
    if op != "add":
        run_child("base", str(start), fmt)
    else:
        start.mkdir()
    timing = tmp_path / "timing"
    shutil.copytree(start, timing)
    duration = op_duration(op, fmt, timing)
    rng = random.Random(f"{op}-{fmt}")
    final = fk.expected_final(op)
    kills = attempts = 0
    while kills < KILLS:
        attempts += 1
        assert attempts <= 2 * KILLS, f"only {kills} kills landed in {attempts} runs"
        path = tmp_path / f"trial{attempts}"
        shutil.copytree(start, path)
        child = spawn(op, str(path), fmt)
        wait_ready(child)
        delay = rng.uniform(0, duration)
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)
        killed = child.returncode == -signal.SIGKILL
        kills += killed
        if not killed:
            duration *= 0.8  # it ran faster than when timed: aim earlier
        try:
            check_trial(op, fmt, path, final)
        except BaseException as exc:
            raise AssertionError(f"trial {attempts}, killed {delay:.3f} s in: {exc!r}") from exc
        shutil.rmtree(path)


def check_trial(op: str, fmt: str, path: Path, final: dict[str, int]) -> None:
    """The invariant after the kill, then after a rerun that completes the operation."""
    store = fk.open_store(path, fmt)
    try:
        allowed = {i: {1, 2} if op == "upsert" else {1} for i in fk.ids()}
        held = fk.check_invariant(store, allowed)
        if op in ("upsert", "reindex"):
            assert set(held) == set(fk.ids())
        if op == "delete":
            assert set(final) <= set(held)
        if op == "reindex":
            assert store.search_dim in (8, 16)
            store.reindex(16, adaptor=store.fit_adaptor())
        else:
            fk.run(op, path, fmt)
        assert fk.check_invariant(store) == final
    finally:
        store.close()


@pytest.mark.parametrize("fmt", ["local", "chroma"])
@pytest.mark.parametrize("point", ["before-chroma", "after-chroma"])
@pytest.mark.parametrize("op", ["upsert-one", "add-one"])
def test_kill_between_the_side_files_and_chroma(
    op: str, point: str, fmt: str, tmp_path: Path
) -> None:
    """Observation 1: a kill after the side files, before (or after) Chroma's upsert or add.

    ``upsert-one`` replaces the first step's records (version 1 by 2);
    ``add-one`` adds them (version 1) to a store holding every other record.
    """
    child = spawn(op, str(tmp_path / "db"), fmt, "--kill-at", point)
    child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL
    store = fk.open_store(tmp_path / "db", fmt)
    held = fk.check_invariant(store)
    first = fk.ids()[: fk.STEP]
    # Chroma was written, or the local log had the write READY: it is completed
    # (rolled forward). Only a chroma-format write killed before Chroma never happened.
    happened = (point, fmt) != ("before-chroma", "chroma")
    if op == "upsert-one":
        assert {held[i] for i in first} == {2 if happened else 1}
    else:
        assert {held[i] for i in first} == {1} if happened else not set(first) & set(held)
    assert {held[i] for i in fk.ids()[fk.STEP :]} == {1}
    # Reopening again changes nothing (the recovery is done once, for good).
    release(store)
    store = fk.open_store(tmp_path / "db", fmt)
    assert fk.check_invariant(store) == held


@pytest.mark.parametrize("fmt", ["local", "chroma"])
@pytest.mark.parametrize("point", ["before-chroma", "after-chroma"])
def test_kill_around_chromas_delete(point: str, fmt: str, tmp_path: Path) -> None:
    """A delete killed before or after Chroma applies it: done whole or not at all."""
    child = spawn("delete-one", str(tmp_path / "db"), fmt, "--kill-at", point)
    child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL
    store = fk.open_store(tmp_path / "db", fmt)
    held = fk.check_invariant(store)
    first = fk.ids()[: fk.STEP]
    # The local log had the delete READY: it is rolled forward. A chroma-format
    # delete killed before Chroma never happened.
    gone = (point, fmt) != ("before-chroma", "chroma")
    assert not set(first) & set(held) if gone else {held[i] for i in first} == {1}
    assert {held[i] for i in fk.ids()[fk.STEP :]} == {1}
    release(store)
    store = fk.open_store(tmp_path / "db", fmt)
    assert fk.check_invariant(store) == held


@pytest.mark.parametrize(
    "point", ["compact-copy-complete", "compact-between-renames", "compact-swapped"]
)
def test_kill_during_compaction(point: str, tmp_path: Path) -> None:
    """Compaction killed at each step: the store opens with every live record, once."""
    child = spawn("compact", str(tmp_path / "db"), "local", "--kill-at", point)
    _, err = child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL, err
    expected = {i: 2 for i in fk.ids()[: fk.STEP]}
    expected |= dict.fromkeys(fk.ids()[2 * fk.STEP :], 1)
    store = fk.open_store(tmp_path / "db", "local")
    assert fk.check_invariant(store) == expected
    folder = tmp_path / "db" / "mrl_rag"
    assert not list(folder.glob("*.compact")) and not list(folder.glob("*.old"))
    compacted = point != "compact-copy-complete"  # before the swap the old files serve
    assert (store.compact() == 0) == compacted
    assert fk.check_invariant(store) == expected
    release(store)
    store = fk.open_store(tmp_path / "db", "local")
    assert fk.check_invariant(store) == expected


def _side_sizes(path: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in (path / "mrl_rag").rglob("*") if p.is_file()}


@pytest.mark.parametrize("fmt", ["local", "chroma"])
def test_refused_writes_change_nothing(fmt: str, tmp_path: Path, monkeypatch) -> None:
    """Observation 2: what validation or Chroma refuses changes nothing at all."""
    store = fk.base(tmp_path / "db", fmt)
    before = fk.check_invariant(store)
    sizes = _side_sizes(tmp_path / "db")
    one = ["r0000"]
    new_vec = fk.vector("r0000", 9)[None]
    bad_writes = [
        ({"metadatas": [{"": 1}]}, "keys must be non-empty"),
        ({"metadatas": [{"#document": 1}]}, "has key '[#$][a-z]*'; Chroma reserves"),
        ({"metadatas": [{"$and": 1}]}, "has key '[#$][a-z]*'; Chroma reserves"),
        ({"metadatas": [{"n": 2**64}]}, "outside Chroma's 64-bit integers"),
        ({"metadatas": [{"n": float("nan")}]}, "only finite floats"),
        ({"metadatas": [{"n": [1.5, float("nan")]}]}, "only finite floats"),
        ({"metadatas": [{"n": []}]}, "must be non-empty"),
        ({"metadatas": [{"chroma:foo": "v"}]}, "'chroma:'"),
        ({"metadatas": [{"tags": list(range(2000))}]}, "list of 2000 items; at most 1024"),
        ({"texts": ["bad \ud800 text"]}, "lone surrogate"),
    ]
    for kwargs, message in bad_writes:
        with pytest.raises(ValueError, match=message):
            store.add_vectors(one, new_vec, upsert=True, **{"texts": ["NEW text"], **kwargs})
    for vectors, message in (
        (np.full((1, fk.DIM), np.nan), "NaN or infinite"),
        (np.zeros((1, fk.DIM)), "all zeros"),
    ):
        with pytest.raises(ValueError, match=message):
            store.add_vectors(one, vectors, texts=["NEW text"], upsert=True)
    with pytest.raises(ValueError, match="lone surrogate"):
        store.add_vectors(["bad\ud800id"], new_vec)
    blind = np.zeros((1, fk.DIM), dtype=np.float32)
    blind[0, -1] = 1.0  # zero in the first search_dim dims: the first stage could never find it
    with pytest.raises(ValueError, match=r"full_vectors\[0\] is zero in its first 8 dimensions"):
        store.add_vectors(["blind"], blind)
    # A refusal that only Chroma itself makes: the side files are cut back.
    from chromadb.api.models.Collection import Collection
    from chromadb.errors import InvalidArgumentError

    def refuse(self, *args, **kwargs):
        raise InvalidArgumentError("refused by Chroma")

    monkeypatch.setattr(Collection, "upsert", refuse)
    with pytest.raises(InvalidArgumentError):
        store.add_vectors(one, new_vec, texts=["NEW text"], metadatas=[{"k": 1}], upsert=True)
    monkeypatch.setattr(Collection, "add", refuse)  # an add of new ids is Chroma's add
    with pytest.raises(InvalidArgumentError):
        store.add_vectors(["brand-new"], new_vec, texts=["NEW text"])
    monkeypatch.undo()
    assert fk.check_invariant(store) == before
    assert _side_sizes(tmp_path / "db") == sizes
    release(store)
    assert fk.check_invariant(fk.open_store(tmp_path / "db", fmt)) == before


@pytest.mark.parametrize("fmt", ["local", "chroma"])
def test_searching_threads_beside_an_upserting_one(fmt: str, tmp_path: Path) -> None:
    """Observation 3: 8 searching threads and one upserting thread, no error, no mix-up."""
    store = fk.base(tmp_path / "db", fmt)
    errors: list[BaseException] = []
    searches = [0]
    stop = threading.Event()

    def search_loop(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            while not stop.is_set():
                record_id = fk.ids()[rng.integers(fk.N)]
                q = fk.vector(record_id, int(rng.integers(1, 4)))
                hits = store.search_by_vector(q, k=5, shortlist=40, where={"grp": {"$gte": 0}})
                for h in hits:  # each hit is one consistent version of its record
                    version = h.metadata["ver"]
                    assert h.text == fk.text(h.id, version)
                    assert h.metadata == fk.metadata(h.id, version)
                    assert abs(h.score - float(fk.vector(h.id, version) @ q)) < 1e-5
                searches[0] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=search_loop, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    try:
        for version in (2, 3, 2):
            for start in range(0, fk.N, fk.STEP):
                record_ids = fk.ids()[start : start + fk.STEP]
                fk.write(store, record_ids, version, upsert=True)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
    assert searches[0] > 50
    assert fk.check_invariant(store) == dict.fromkeys(fk.ids(), 2)


def test_a_second_process_on_an_embedded_path_is_refused(tmp_path: Path) -> None:
    """Observation 4: two processes never share one embedded Chroma folder."""
    holder = spawn("hold", str(tmp_path / "db"), "local", stdin=subprocess.PIPE)
    wait_ready(holder)
    try:
        second = spawn("upsert", str(tmp_path / "db"), "local")
        _, err = second.communicate(timeout=120)
        assert second.returncode != 0
        assert "StoreLockedError" in err and f"(pid {holder.pid})" in err
        assert "chroma run" in err
        with pytest.raises(StoreLockedError, match=f"pid {holder.pid}"):
            fk.open_store(tmp_path / "db", "local")
    finally:
        holder.communicate(input="", timeout=60)
    assert holder.returncode == 0
    store = fk.open_store(tmp_path / "db", "local")  # free again once it has exited
    assert fk.check_invariant(store) == dict.fromkeys(fk.ids(), 1)


SERVER_CHILD = """
import sys, time
import chromadb, numpy as np
sys.path.insert(0, {tests!r})
import faultkit as fk
from mrl_rag import MatryoshkaStore
role, host, port, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
client = chromadb.HttpClient(host=host, port=port)
store = MatryoshkaStore(profile=fk.profile(), client=client, collection=name)
if role.startswith("writer"):
    part = fk.ids()[0::2] if role == "writer0" else fk.ids()[1::2]
    for start in range(0, len(part), fk.STEP):
        fk.write(store, part[start:start + fk.STEP], 2, upsert=True)
    print("done", flush=True)
else:
    seen, errors, dims = set(), 0, set()
    deadline = time.monotonic() + float(sys.argv[5])
    while time.monotonic() < deadline:
        try:
            for h in store.search_by_vector(fk.vector("r0001", 2), k=10, shortlist=60):
                assert h.text == fk.text(h.id, h.metadata["ver"])
                seen.add((h.id, h.metadata["ver"]))
            dims.add(store.search_dim)
        except Exception as exc:
            errors += 1
            print("error", type(exc).__name__, exc, flush=True)
    print("seen-v2", int(("r0001", 2) in seen), "errors", errors, "dims", sorted(dims), flush=True)
"""


def test_several_processes_share_a_store_through_a_chroma_server(
    chroma_server, tmp_path: Path
) -> None:
    """Observations 4 and 5 on a server: two writers and a reader, then a reindex."""
    host, port = chroma_server
    name = f"multi{os.getpid()}"
    client = chromadb.HttpClient(host=host, port=port)
    store = MatryoshkaStore(profile=fk.profile(), client=client, collection=name, search_dim=8)
    fk.write(store, fk.ids(), 1, upsert=False)
    script = tmp_path / "server_child.py"
    script.write_text(SERVER_CHILD.format(tests=str(Path(__file__).parent)))

    def child(*args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, str(script), *args, host, str(port), name, "40"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    reader = child("reader")
    writers = [child("writer0"), child("writer1")]
    for w in writers:
        out, err = w.communicate(timeout=300)
        assert w.returncode == 0 and "done" in out, err
    store.reindex(16)  # while the reader keeps searching
    out, err = reader.communicate(timeout=300)
    assert reader.returncode == 0, err
    assert out.strip().endswith("seen-v2 1 errors 0 dims [8, 16]"), out
    assert fk.check_invariant(store) == dict.fromkeys(fk.ids(), 2)
    client.delete_collection(name)


@pytest.mark.parametrize("fmt", ["local", "chroma"])
def test_reindex_under_another_serving_store_object(fmt: str, tmp_path: Path) -> None:
    """Observation 5, one process: another store object keeps answering through a reindex."""
    serving = fk.base(tmp_path / "db", fmt)
    reindexing = fk.open_store(tmp_path / "db", fmt)
    errors: list[BaseException] = []
    dims: set[int] = set()
    stop = threading.Event()

    def search_loop(store: MatryoshkaStore) -> None:
        try:
            while not stop.is_set():
                (hit,) = store.search_by_vector(fk.vector("r0003", 1), k=1, shortlist=30)
                assert hit.id == "r0003" and abs(hit.score - 1) < 1e-5
                dims.add(store.search_dim)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=search_loop, args=(s,)) for s in (serving, reindexing)]
    for t in threads:
        t.start()
    try:
        for dim in (16, 8, 32):
            reindexing.reindex(dim, batch_size=50)
            time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
    assert serving.search_dim == 32 and dims >= {8, 16, 32}
    fk.check_invariant(serving)


def test_damaged_side_files_are_refused_not_repaired(tmp_path: Path) -> None:
    """Observation 6: damaged files are reported with the repair command; repair works."""
    path = tmp_path / "db"
    store = fk.base(path, "local")
    folder = next(p for p in (path / "mrl_rag").iterdir() if p.is_dir())
    release(store)
    pristine = {p.name: p.read_bytes() for p in folder.iterdir()}

    def damage_then_open(name: str, data: bytes | None) -> None:
        for p, content in pristine.items():
            (folder / p).write_bytes(content)
        if data is None:
            (folder / name).unlink()
        else:
            (folder / name).write_bytes(data)
        with pytest.raises(StoreDamagedError, match=rf"{name}.*mrl-rag repair"):
            fk.open_store(path, "local")
        gc.collect()

    log = pristine["log.bin"]
    damage_then_open("vectors.float32", pristine["vectors.float32"][: -fk.DIM * 4])
    damage_then_open("log.bin", None)
    damage_then_open("log.bin", log[:56] + b"\x00" * 56 + log[112:])  # an entry zeroed
    damage_then_open("records.jsonl", pristine["records.jsonl"][:100])
    # A torn tail past the last commit is the one thing cut.
    for p, content in pristine.items():
        (folder / p).write_bytes(content)
    with open(folder / "vectors.float32", "ab") as fh:
        fh.write(b"\x01" * 100)
    with open(folder / "log.bin", "ab") as fh:
        fh.write(b"\x02" * 30)
    store = fk.open_store(path, "local")
    assert fk.check_invariant(store) == dict.fromkeys(fk.ids(), 1)
    assert (folder / "vectors.float32").stat().st_size == len(pristine["vectors.float32"])


def test_repair_rebuilds_the_full_vectors_with_the_model(tmp_path: Path, tiny_model_path) -> None:
    from sentence_transformers import SentenceTransformer

    from mrl_rag import MatryoshkaEmbedder

    from .conftest import tiny_profile

    embedder = MatryoshkaEmbedder(
        SentenceTransformer(str(tiny_model_path), device="cpu"), profile=tiny_profile()
    )
    path = tmp_path / "db"
    from .test_store import TEXTS

    texts = TEXTS
    store = MatryoshkaStore(embedder, path=path, collection="col", search_dim=8)
    store.add(texts, metadatas=[{"i": i} for i in range(len(texts))])
    folder = next(p for p in (path / "mrl_rag").iterdir() if p.is_dir())
    release(store)
    (folder / "vectors.float32").write_bytes(b"")
    with pytest.raises(StoreDamagedError, match=r"vectors\.float32 is shorter"):
        MatryoshkaStore(embedder, path=path, collection="col")
    gc.collect()
    repaired = MatryoshkaStore.repair(embedder, path=path, collection="col")
    got = repaired.get(repaired.collection.get()["ids"])
    assert sorted((r.metadata["i"], r.text) for r in got) == list(enumerate(texts))
    np.testing.assert_allclose(
        repaired.full_vectors([r.id for r in got]),
        embedder.encode([r.text for r in got], input_type="document"),
        atol=1e-5,
    )
    hit = repaired.search_by_vector(embedder.encode([texts[7]], input_type="document")[0], k=1)
    assert hit[0].score == pytest.approx(1.0, abs=1e-5)
    assert any(".damaged-" in p.name for p in (path / "mrl_rag").iterdir())


@pytest.mark.parametrize("fmt", ["local", "chroma"])
def test_kill_while_the_adaptor_side_collection_is_created(fmt: str, tmp_path: Path) -> None:
    """Observation 7: the store opens afterwards, and rerunning the call works."""
    path = tmp_path / "db"
    child = spawn("adaptor", str(path), fmt, "--kill-at", "adaptor-create")
    child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL
    rerun = spawn("adaptor", str(path), fmt)
    _out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    store = fk.open_store(path, fmt)
    assert store.adaptor is not None
    assert fk.check_invariant(store) == dict.fromkeys(fk.ids(), 1)
    # A half-written side collection of a reindex is replaced, not trusted.
    x = np.stack([fk.vector(i, 1) for i in fk.ids()])
    other = OrthogonalAdaptor.fit(x[::2], model="fault-test")
    side = store._client.create_collection(
        f"mrl-adaptor-{store._store_id}-{other.fingerprint}",
        metadata={"mrl:internal": other.fingerprint},
    )
    side.add(ids=["000000"], embeddings=[other.rotation[0]])
    store.reindex(16, adaptor=other)
    release(store)
    assert fk.open_store(path, fmt).adaptor.fingerprint == other.fingerprint


def test_internal_names_never_clash_with_user_collections(tmp_path: Path) -> None:
    """Observation 8: mrl-rag never deletes, renames or adopts what it did not create."""
    client = chromadb.PersistentClient(path=str(tmp_path / "db"))
    mine = {
        "docs__mrl_reindex": {"owner": "user"},
        "logs__mrl_retired": {"owner": "user"},
        "docs.mrl-reindex-0123456789ab": {"owner": "user"},
        "logs.mrl-retired-0123456789ab": {"mrl:internal": "0123456789ab", "mrl:home": "other"},
    }
    for name, meta in mine.items():
        client.create_collection(name, metadata=meta).add(ids=["u"], embeddings=[[1.0, 2.0]])
    docs = MatryoshkaStore(profile=fk.profile(), client=client, collection="docs", search_dim=8)
    docs.add_vectors(["a"], fk.vector("a", 1)[None])
    docs.reindex(16)
    logs = MatryoshkaStore(profile=fk.profile(), client=client, collection="logs")
    assert logs.count() == 0
    for name, meta in mine.items():
        kept = client.get_collection(name)
        assert kept.metadata == meta and kept.get()["ids"] == ["u"]
    names = {c.name for c in client.list_collections()}
    assert names == {*mine, "docs", "logs"}


@pytest.mark.parametrize("fmt", ["local", "chroma"])
def test_metadata_round_trips_the_same_through_search_get_and_filters(
    fmt: str, tmp_path: Path
) -> None:
    """Observation 9: what search returns is what get returns and filters see."""
    store = fk.open_store(tmp_path / "db", fmt, search_dim=8)
    metas = [
        {"none": None, "n": 1},
        {"big": 2**63 - 1, "neg": -(2**63)},
        {"zero": -0.0, "f": 0.1, "b": True},
        {"l": ["x", "y"], "li": [1, 2], "lb": [False]},
        {"s": "ünïcødé"},
    ]
    ids = [f"m{i}" for i in range(len(metas))]
    store.add_vectors(ids, np.stack([fk.vector(i, 1) for i in ids]), metadatas=metas)
    by_get = {r.id: r.metadata for r in store.get(ids)}
    for record_id in ids:
        (hit,) = store.search_by_vector(fk.vector(record_id, 1), k=1)
        assert hit.metadata == by_get[record_id]
    assert by_get["m0"] == {"n": 1}
    assert str(by_get["m2"]["zero"]) == "0.0"
    assert (
        store.get(["m0"])[0].metadata == store.search_by_vector(fk.vector("m0", 1), k=1)[0].metadata
    )
    found = store.search_by_vector(fk.vector("m1", 1), k=5, where={"big": 2**63 - 1})
    assert [h.id for h in found] == ["m1"]


def test_repair_command(tmp_path: Path, tiny_model_path) -> None:
    from mrl_rag import MatryoshkaEmbedder
    from mrl_rag.cli import main

    from .test_store import TEXTS

    embedder = MatryoshkaEmbedder(tiny_model_path)
    path = tmp_path / "db"
    with MatryoshkaStore(embedder, path=path, collection="docs", search_dim=8) as store:
        store.add(TEXTS[:20])
    folder = next(p for p in (path / "mrl_rag").iterdir() if p.is_dir())
    (folder / "log.bin").unlink()
    assert main(["repair", str(tmp_path / "nowhere"), "--model", str(tiny_model_path)]) == 2
    args = ["repair", str(path), "--collection", "docs", "--model", str(tiny_model_path)]
    assert main(args) == 0
    with MatryoshkaStore(embedder, path=path, collection="docs") as store:
        got = store.get(store.collection.get()["ids"])
        np.testing.assert_allclose(
            store.full_vectors([r.id for r in got]),
            embedder.encode([r.text for r in got], input_type="document"),
            atol=1e-5,
        )


# -- found in review: races between store objects and threads of one process ---


@pytest.mark.parametrize("fmt", ["local", "chroma"])
def test_opening_while_another_thread_writes(fmt: str, tmp_path: Path) -> None:
    """No false 'damaged' report from comparing counts in the middle of a write."""
    store = fk.open_store(tmp_path / "db", fmt, search_dim=8)
    done = threading.Event()

    def writer() -> None:
        for start in range(0, fk.N, 2):
            fk.write(store, fk.ids()[start : start + 2], 1, upsert=False)
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    opened = 0
    while not done.is_set():
        fk.open_store(tmp_path / "db", fmt).close()
        opened += 1
    t.join()
    assert opened > 5
    assert fk.check_invariant(store) == dict.fromkeys(fk.ids(), 1)


@pytest.mark.parametrize("fmt", ["local", "chroma"])
def test_writes_of_another_store_object_follow_a_reindex(fmt: str, tmp_path: Path) -> None:
    a = fk.base(tmp_path / "db", fmt)
    b = fk.open_store(tmp_path / "db", fmt)
    a.reindex(16)
    fk.write(b, fk.ids()[: fk.STEP], 2, upsert=True)  # b still holds the retired collection
    assert b.search_dim == 16
    expected = dict.fromkeys(fk.ids(), 1) | dict.fromkeys(fk.ids()[: fk.STEP], 2)
    assert fk.check_invariant(b) == expected
    assert fk.check_invariant(a) == expected


@pytest.mark.parametrize("fmt", ["local", "chroma"])
def test_writes_wait_for_a_reindex_instead_of_being_lost(fmt: str, tmp_path: Path) -> None:
    store = fk.base(tmp_path / "db", fmt)
    other = fk.open_store(tmp_path / "db", fmt)
    started = threading.Event()
    original = store._read_full

    def slow_read(*args):
        started.set()
        time.sleep(0.05)
        return original(*args)

    store._read_full = slow_read
    t = threading.Thread(target=store.reindex, args=(16,), kwargs={"batch_size": 40})
    t.start()
    started.wait(30)
    fk.write(other, fk.ids()[: fk.STEP], 2, upsert=True)  # while the copy runs
    other.delete(fk.ids()[-3:])
    t.join()
    expected = dict.fromkeys(fk.ids()[:-3], 1) | dict.fromkeys(fk.ids()[: fk.STEP], 2)
    assert store.search_dim == 16
    assert fk.check_invariant(store) == expected


@pytest.mark.parametrize("fmt", ["local", "chroma"])
def test_add_skips_an_id_another_thread_added_first(fmt: str, tmp_path: Path) -> None:
    store = fk.base(tmp_path / "db", fmt)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def add(version: int) -> None:
        try:
            barrier.wait()
            fk.write(store, ["r9001", "r9002"], version, upsert=False)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(v,)) for v in (1, 2, 3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    (a, b) = store.get(["r9001", "r9002"])
    assert a.metadata["ver"] == b.metadata["ver"]  # one add won, whole; the others skipped
    for r in (a, b):
        (hit,) = store.search_by_vector(fk.vector(r.id, r.metadata["ver"]), k=1)
        assert (hit.id, hit.text, hit.metadata) == (r.id, r.text, r.metadata)
        assert hit.score == pytest.approx(1.0, abs=1e-5)


def test_a_write_of_unknown_outcome_is_finished_before_anyone_reads(tmp_path: Path) -> None:
    """Chroma applied the batch but the call raised: readers never see half of it."""
    from mrl_rag.store import store as store_module

    store = fk.base(tmp_path / "db", "local")
    real = store_module.apply_batch
    seen: dict[str, object] = {}

    def reader() -> None:
        hits = store.search_by_vector(fk.vector("r0000", 2), k=1)
        seen["hit"] = (hits[0].id, hits[0].text, hits[0].metadata["ver"])

    def flaky(layout, batch, chroma, **options):
        real(layout, batch, chroma, **options)  # Chroma applied it ...
        seen["thread"] = t = threading.Thread(target=reader)
        t.start()
        time.sleep(0.3)  # the reader now waits for the write lock
        raise RuntimeError("connection reset: outcome unknown")  # ... the caller sees an error

    store_module.apply_batch = flaky
    try:
        with pytest.raises(RuntimeError, match="outcome unknown"):
            fk.write(store, ["r0000"], 2, upsert=True)
    finally:
        store_module.apply_batch = real
    seen["thread"].join()
    assert seen["hit"] == ("r0000", fk.text("r0000", 2), 2)  # the write was completed first
    assert fk.check_invariant(store)["r0000"] == 2


@pytest.mark.parametrize("fmt", ["local", "chroma"])
def test_vectors_the_first_stage_could_not_find_are_refused_after_a_reindex(
    fmt: str, tmp_path: Path
) -> None:
    a = fk.base(tmp_path / "db", fmt)
    b = fk.open_store(tmp_path / "db", fmt)
    half = np.zeros((1, fk.DIM), dtype=np.float32)
    half[0, 12] = 1.0  # zero in the first 8 dims, not in the first 16
    with pytest.raises(ValueError, match="zero in its first 8 dimensions"):
        a.add_vectors(["r9000"], half)
    b.reindex(16)
    a.add_vectors(["r9000"], half)  # a checks against the index it writes to: 16 dims
    with pytest.raises(ValueError, match="zero in its first 8 dimensions"):
        b.reindex(8)  # ... and a reindex that would hide it is refused, nothing changed
    assert b.search_dim == 16
    (hit,) = b.search_by_vector(half[0], k=1)
    assert hit.id == "r9000" and hit.score == pytest.approx(1.0)
    a.delete(["r9000"])
    assert fk.check_invariant(b) == dict.fromkeys(fk.ids(), 1)
