"""Funnel store against plain Chroma as the collection grows: latency, recall, memory, disk, ingest.

For each size N it builds, once (cached under ``--work``; delete a size's
folder to rebuild it), from the same synthetic 768-d Matryoshka-like vectors:

- ``plain``: the Chroma collection a user already has (full vectors, cosine HNSW,
  default settings), queried as users do: ``n_results=10`` with documents and
  metadatas;
- ``funnel``: a :class:`MatryoshkaStore` with default settings (search dim 128,
  shortlist 100, float32 full vectors in the local format);
- ``funnel16``: the same with ``full_dtype="float16"``, served with the full
  vectors hot (``keep_full_vectors="memory"``) and cold (``"disk"``); built with
  ``chroma_texts=False`` (texts only in the local files: the lean ingest), which
  its search path does not see (the local format reads texts from its files
  either way). Sizes built before this option was used say so in their
  ``<side>.json``;
- ``remote``: a ``chroma``-format funnel in the plain collection's folder, for
  the client-server rows (``chroma run`` serves that folder).

Then it measures, side by side in one process, in A B B A order over
``--rounds`` rounds: p50/p95 latency of every side, recall@10 against exact
full-dimension search, Chroma alone at the funnel's ``n_results`` (the floor of
any funnel on Chroma, and the rerank's overhead above it) and at ``n_results=10``
(the least any first stage can ask), batched search of 100 queries against one
at a time, and the same over ``chroma run``, with its floor: the first stage
alone plus a ``get`` of the 10 winners alone (the two calls a search that
answers from what the server holds must make). Memory is measured in a fresh
process per side after serving every query: anonymous RSS and file-backed RSS
separately, and the full-vector bytes; Chroma alone holding the first stage is
its floor.

Results go to ``<work>/results.json`` (one entry per size, merged across runs),
a Markdown table (``--table``) and a PNG chart of each ratio against N
(``--chart``).

    .venv/bin/python benchmarks/bench_scaling.py --sizes 50000 200000   # about 40 minutes
    .venv/bin/python benchmarks/bench_scaling.py --sizes 1000000        # 75 min to build; cached
    .venv/bin/python benchmarks/bench_scaling.py --report               # table and chart only
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synthetic import exact_top10, make_data, recall_at_10

ROOT = Path(__file__).resolve().parents[1]
DIM = 768
TARGETS = {
    "embedded_p50": 0.75,
    "server_p50": 1.25,
    "hot_memory": 0.65,
    "cold_memory": 0.30,
    "ingest": 0.5,
    "batch_speedup": 1.5,
}


def profile() -> Any:
    from mrl_rag import ModelProfile

    return ModelProfile(name="synthetic-mrl", full_dim=DIM, source="benchmark")


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def records(n: int) -> tuple[list[str], list[str], list[dict[str, int]]]:
    ids = [str(i) for i in range(n)]
    return ids, [f"document {i}" for i in range(n)], [{"n": i} for i in range(n)]


def open_side(kind: str, where: Path, **kwargs: Any) -> Any:
    """A store object (or plain collection) on a built side."""
    import chromadb

    from mrl_rag import MatryoshkaStore

    if kind == "plain":
        return chromadb.PersistentClient(path=str(where / "plain")).get_collection("plain")
    return MatryoshkaStore(profile=profile(), path=where / kind, collection=kind, **kwargs)


def build(where: Path, kinds: list[str], docs: np.ndarray) -> dict[str, dict[str, float]]:
    """Build the sides not built yet, together: chunk by chunk, in A B B A order.

    Each side's ingest seconds are the sum of its own chunks' times, so a noisy
    machine slows every side alike. Seconds and disk bytes are kept beside each.
    """
    import chromadb

    from mrl_rag import MatryoshkaStore

    done = {
        k: json.loads((where / f"{k}.json").read_text())
        for k in kinds
        if (where / f"{k}.json").exists()
    }
    todo = [k for k in kinds if k not in done]
    if not todo:
        return done
    ids, texts, metas = records(len(docs))
    targets: dict[str, Any] = {}
    options: dict[str, dict[str, Any]] = {
        "funnel": {},
        # float16, and texts only in the local files: the lean configuration for ingest
        "funnel16": {"full_dtype": "float16", "chroma_texts": False},
        "funnel8": {"full_dtype": "int8", "chroma_texts": False},  # memory only
        "remote": {"full_vectors": "chroma"},  # in the plain folder, for `chroma run`
    }
    for kind in todo:
        if kind != "remote":
            shutil.rmtree(where / kind, ignore_errors=True)
        if kind == "plain":
            targets[kind] = chromadb.PersistentClient(path=str(where / "plain")).create_collection(
                "plain", configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
            )
        else:
            path = where / ("plain" if kind == "remote" else kind)
            targets[kind] = MatryoshkaStore(
                profile=profile(), path=path, collection=kind, **options[kind]
            )
    seconds = dict.fromkeys(todo, 0.0)
    step = 5000
    for chunk, s in enumerate(range(0, len(docs), step)):
        part = slice(s, s + step)
        for kind in todo if chunk % 2 == 0 else todo[::-1]:
            start = time.perf_counter()
            if kind == "plain":
                targets[kind].add(
                    ids=ids[part],
                    embeddings=docs[part],
                    documents=texts[part],
                    metadatas=metas[part],
                )
            else:
                targets[kind].add_vectors(
                    ids[part], docs[part], texts=texts[part], metadatas=metas[part], batch_size=step
                )
            seconds[kind] += time.perf_counter() - start
        print(f"    {min(s + step, len(docs)):,} records", end="\r", flush=True)
    for kind in todo:
        if kind != "plain":
            targets[kind].close()
    for kind in todo:
        folder = where / ("plain" if kind == "remote" else kind)
        done[kind] = {
            "ingest_s": seconds[kind],
            "disk_bytes": float(folder_bytes(folder)),
            "options": options.get(kind, {}),
        }
        (where / f"{kind}.json").write_text(json.dumps(done[kind]))
    return done


def timed_rounds(
    sides: dict[str, Callable[[np.ndarray], list[int]]], queries: np.ndarray, rounds: int
) -> dict[str, dict[str, Any]]:
    """Each side answers every query per round, sides alternating A B B A; p50, p95, hits."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    found: dict[str, list[list[int]]] = {}
    names = list(sides)
    for name in names:  # warm-up: indexes loaded, maps touched, replicas filled
        for q in queries[:30]:
            sides[name](q)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            search, hits = sides[name], []
            for q in queries:
                start = time.perf_counter()
                hits.append(search(q))
                times[name].append(time.perf_counter() - start)
            found.setdefault(name, hits)
    return {
        name: {
            "p50_ms": statistics.median(times[name]) * 1e3,
            "p95_ms": float(np.percentile(times[name], 95) * 1e3),
            "found": found[name],
        }
        for name in names
    }


def embedded_sides(
    where: Path,
) -> tuple[dict[str, Callable[[np.ndarray], list[int]]], list[Any]]:
    from mrl_rag import DEFAULT_SHORTLIST, top_k, truncate

    plain = open_side("plain", where)
    funnel = open_side("funnel", where)
    hot16 = open_side("funnel16", where)
    funnel.load_full_vectors()
    hot16.load_full_vectors()
    cold16 = open_side("funnel16", where, keep_full_vectors="disk")
    dim = funnel.search_dim

    def floor(n_results: int) -> Callable[[np.ndarray], list[int]]:
        def search(q: np.ndarray) -> list[int]:
            got = funnel.collection.query(
                query_embeddings=[truncate(q, dim)], n_results=n_results, include=["distances"]
            )
            return [int(i) for i in got["ids"][0][:10]]

        return search

    # The least any rerank must do on Chroma's answer: ids to rows (a dict), one gather,
    # one matmul, top-k. No validation, no texts. Rows are the funnel's own file, which
    # holds id str(i) at row i (the benchmark adds each id once, in order).
    (vectors_file,) = (where / "funnel" / "mrl_rag").glob("*/vectors.float32")
    rows = np.memmap(vectors_file, dtype=np.float32, mode="r").reshape(-1, DIM)
    row_of = {str(i): i for i in range(len(rows))}

    def bare(q: np.ndarray) -> list[int]:
        got = funnel.collection.query(
            query_embeddings=[truncate(q, dim)], n_results=DEFAULT_SHORTLIST, include=["distances"]
        )
        ids = got["ids"][0]
        at = np.fromiter(map(row_of.__getitem__, ids), dtype=np.intp, count=len(ids))
        return [int(ids[i]) for i in top_k(rows[at] @ q, 10).tolist()]

    return {
        "plain": plain_search(plain),
        "floor": floor(DEFAULT_SHORTLIST),
        "bare": bare,
        "floor10": floor(10),  # the least any first stage on Chroma can ask
        "funnel": funnel_search(funnel),
        "funnel16_hot": funnel_search(hot16),
        "funnel16_cold": funnel_search(cold16),
    }, [funnel, hot16, cold16]


def plain_search(col: Any) -> Callable[[np.ndarray], list[int]]:
    def search(q: np.ndarray) -> list[int]:
        got = col.query(
            query_embeddings=[q], n_results=10, include=["documents", "metadatas", "distances"]
        )
        return [int(i) for i in got["ids"][0]]

    return search


def funnel_search(store: Any) -> Callable[[np.ndarray], list[int]]:
    def search(q: np.ndarray) -> list[int]:
        return [int(h.id) for h in store.search_by_vector(q, k=10)]

    return search


def batched_throughput(store: Any, queries: np.ndarray, rounds: int) -> dict[str, float]:
    """Queries per second in batches of 100 against one at a time, alternating."""
    one, many = [], []
    for r in range(rounds):
        for how in ("one", "many") if r % 2 == 0 else ("many", "one"):
            start = time.perf_counter()
            if how == "one":
                for q in queries:
                    store.search_by_vector(q, k=10)
                one.append(len(queries) / (time.perf_counter() - start))
            else:
                for s in range(0, len(queries), 100):
                    store.search_by_vectors(queries[s : s + 100], k=10)
                many.append(len(queries) / (time.perf_counter() - start))
    return {"one_qps": statistics.median(one), "batch_qps": statistics.median(many)}


def rss() -> dict[str, float]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) * 1024
    return fields


def serve_memory(where: Path, side: str) -> None:
    """In a fresh process: open one side, answer every query, print its memory."""
    queries = np.load(where / "queries.npy")
    import chromadb  # the imports' own memory is the baseline

    import mrl_rag  # noqa: F401

    base = rss()
    kind, _, mode = side.partition("_")
    if kind == "floor":  # Chroma alone, holding the funnel's first stage: its memory floor
        from mrl_rag import DEFAULT_SHORTLIST, truncate

        collection = chromadb.PersistentClient(path=str(where / "funnel")).get_collection("funnel")
        dim = int((collection.metadata or {})["mrl:search_dim"])
        for q in queries:
            collection.query(
                query_embeddings=[truncate(q, dim)],
                n_results=DEFAULT_SHORTLIST,
                include=["distances"],
            )
        after = rss()
        print(json.dumps({k: after[k] - base[k] for k in after}))
        return
    opened = open_side(kind, where, **({"keep_full_vectors": "disk"} if mode == "cold" else {}))
    if kind == "plain":
        search = plain_search(opened)
    else:
        opened.load_full_vectors()  # hot: every full vector in memory, not only those met
        search = funnel_search(opened)
    for q in queries:
        search(q)
    after = rss()
    print(json.dumps({k: after[k] - base[k] for k in after}))


@contextlib.contextmanager
def chroma_server(folder: Path) -> Iterator[tuple[str, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("chroma")
    log = open(folder.parent / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(exe), "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    import chromadb

    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                chromadb.HttpClient(host="127.0.0.1", port=port).heartbeat()
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("chroma run did not start; see server.log") from None
                time.sleep(0.5)
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()


def server_rows(where: Path, queries: np.ndarray, truth: np.ndarray, rounds: int) -> dict:
    import chromadb

    from mrl_rag import DEFAULT_SHORTLIST, MatryoshkaStore, truncate

    with chroma_server(where / "plain") as (host, port):
        client = chromadb.HttpClient(host=host, port=port)
        plain = client.get_collection("plain")
        hot = MatryoshkaStore(profile=profile(), client=client, collection="remote")
        start = time.perf_counter()
        held = hot.load_full_vectors()
        load_s = time.perf_counter() - start
        cold = MatryoshkaStore(
            profile=profile(), client=client, collection="remote", keep_full_vectors="disk"
        )
        first = client.get_collection("remote")
        winners = {q.tobytes(): [str(i) for i in t] for q, t in zip(queries, truth, strict=True)}

        def server_floor(q: np.ndarray) -> list[int]:  # the first stage alone, ids and distances
            got = first.query(
                query_embeddings=[truncate(q, hot.search_dim)],
                n_results=DEFAULT_SHORTLIST,
                include=["distances"],
            )
            return [int(i) for i in got["ids"][0][:10]]

        def server_get(q: np.ndarray) -> list[int]:  # the winners' records alone
            got = first.get(ids=winners[q.tobytes()], include=["documents", "metadatas"])
            return [int(i) for i in got["ids"]]

        runs = timed_rounds(
            {
                "server_plain": plain_search(plain),
                "server_funnel_hot": funnel_search(hot),
                "server_funnel_cold": funnel_search(cold),
                "server_floor": server_floor,
                "server_get": server_get,
            },
            queries,
            rounds,
        )
        replica_bytes = hot._replica.nbytes if hot._replica is not None else 0
    for run in runs.values():
        run["recall"] = recall_at_10(run.pop("found"), truth)
    runs["server_replica"] = {"records": held, "load_s": load_s, "bytes": replica_bytes}
    return runs


def measure(
    n: int, work: Path, queries_n: int, rounds: int, server_max: int, int8_max: int
) -> dict:
    where = work / str(n)
    where.mkdir(parents=True, exist_ok=True)
    print(f"\n== N = {n:,} x {DIM} ({where})", flush=True)
    docs, queries = make_data(n, DIM, queries_n)
    np.save(where / "queries.npy", queries)
    truth_path = where / f"truth-{queries_n}.npy"
    if not truth_path.exists():
        np.save(truth_path, exact_top10(docs, queries))
    truth = np.load(truth_path)
    builds = build(where, ["plain", "funnel", "funnel16"], docs)
    if n <= server_max:  # after the others: the plain folder's disk size is plain's alone
        builds.update(build(where, ["remote"], docs))
    if n <= int8_max:  # for its memory only (built on its own: its ingest is not compared)
        builds.update(build(where, ["funnel8"], docs))
    for kind, built in builds.items():
        print(f"  built {kind:<9} ingest {built['ingest_s']:8.1f} s", flush=True)
    del docs

    sides, stores = embedded_sides(where)
    runs = timed_rounds(sides, queries, rounds)
    for run in runs.values():
        run["recall"] = recall_at_10(run.pop("found"), truth)
    runs["batch"] = batched_throughput(stores[0], queries, rounds)
    for store in stores:
        store.close()  # the memory probes open the folders in processes of their own
    print("  latency measured", flush=True)
    memory = {}
    sides = ["plain", "funnel", "funnel16", "funnel16_cold", "floor"]
    for side in sides + (["funnel8"] if "funnel8" in builds else []):
        out = subprocess.run(
            [sys.executable, __file__, "--serve-memory", side, "--work", str(where)],
            capture_output=True,
            text=True,
            check=True,
        )
        memory[side] = json.loads(out.stdout.strip().splitlines()[-1])
    print("  memory measured", flush=True)
    result = {"n": n, "builds": builds, "runs": runs, "memory": memory}
    if n <= server_max:
        result["server"] = server_rows(where, queries, truth, rounds)
        print("  client-server measured", flush=True)
    result["full_vector_bytes"] = {
        "float32": n * DIM * 4,
        "float16": n * DIM * 2,
    }
    return result


def ratios(r: dict) -> dict[str, float]:
    runs, mem, builds = r["runs"], r["memory"], r["builds"]

    def served(side: str) -> float:
        return mem[side]["VmRSS"]

    out = {
        "embedded_p50": runs["funnel"]["p50_ms"] / runs["plain"]["p50_ms"],
        "embedded_p50_f16": runs["funnel16_hot"]["p50_ms"] / runs["plain"]["p50_ms"],
        "cold_p50": runs["funnel16_cold"]["p50_ms"] / runs["plain"]["p50_ms"],
        "rerank_overhead_ms": runs["funnel"]["p50_ms"] - runs["floor"]["p50_ms"],
        "floor_p50": runs["floor"]["p50_ms"] / runs["plain"]["p50_ms"],
        "recall_gap": runs["funnel"]["recall"] - runs["plain"]["recall"],
        "hot_memory": served("funnel16") / served("plain"),
        "hot_memory_f32": served("funnel") / served("plain"),
        "cold_memory": served("funnel16_cold") / served("plain"),
        "ingest": builds["funnel"]["ingest_s"] / builds["plain"]["ingest_s"],
        "disk": builds["funnel"]["disk_bytes"] / builds["plain"]["disk_bytes"],
        "batch_speedup": runs["batch"]["batch_qps"] / runs["batch"]["one_qps"],
    }
    if "floor10" in runs:
        out["floor10_p50"] = runs["floor10"]["p50_ms"] / runs["plain"]["p50_ms"]
    if "floor" in mem:
        out["floor_memory"] = served("floor") / served("plain")
    lean = builds.get("funnel16", {})
    if lean.get("options", {}).get("chroma_texts") is False:
        out["ingest_lean"] = lean["ingest_s"] / builds["plain"]["ingest_s"]
    if "server" in r:
        s = r["server"]
        if "server_floor" in s:
            out["server_floor"] = (s["server_floor"]["p50_ms"] + s["server_get"]["p50_ms"]) / s[
                "server_plain"
            ]["p50_ms"]
        out["server_p50"] = s["server_funnel_hot"]["p50_ms"] / s["server_plain"]["p50_ms"]
        out["server_p50_cold"] = s["server_funnel_cold"]["p50_ms"] / s["server_plain"]["p50_ms"]
        out["server_recall_gap"] = s["server_funnel_hot"]["recall"] - s["server_plain"]["recall"]
    return out


def table(results: dict[str, dict]) -> str:
    sizes = sorted(results, key=int)
    mib = 2**20
    lines = [
        "| | " + " | ".join(f"{int(n):,}" for n in sizes) + " |",
        "|---" * (len(sizes) + 1) + "|",
    ]

    def row(label: str, cell: Callable[[dict], str]) -> None:
        cells = []
        for n in sizes:
            try:
                cells.append(cell(results[n]))
            except KeyError:
                cells.append("")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    def ms(side: str, group: str = "runs") -> Callable[[dict], str]:
        return lambda r: (
            f"{r[group][side]['p50_ms']:.2f} / {r[group][side]['p95_ms']:.2f} ms, "
            f"recall {r[group][side]['recall']:.3f}"
        )

    row("plain Chroma, p50 / p95, recall@10", ms("plain"))
    row("Chroma alone at 128-d, n_results 100 (floor)", ms("floor"))
    row("Chroma alone at 128-d, n_results 10 (least a first stage asks)", ms("floor10"))
    row("bare rerank on it: ids to rows, gather, matmul, top-k (no checks, no texts)", ms("bare"))
    row("funnel, defaults (128-d, shortlist 100, float32)", ms("funnel"))
    row("funnel, float16 hot", ms("funnel16_hot"))
    row("funnel, float16 cold (disk)", ms("funnel16_cold"))
    row(
        "**funnel p50 / plain** (target <= 0.75)", lambda r: f"**{ratios(r)['embedded_p50']:.2f}x**"
    )
    row(
        "floor p50 / plain: n_results 100, 10",
        lambda r: f"{ratios(r)['floor_p50']:.2f}x, {ratios(r)['floor10_p50']:.2f}x",
    )
    row("recall@10, funnel - plain (target >= -0.005)", lambda r: f"{ratios(r)['recall_gap']:+.3f}")
    row(
        "rerank above the floor, p50: funnel (bare)",
        lambda r: (
            f"{ratios(r)['rerank_overhead_ms']:.2f} ms "
            f"({r['runs']['bare']['p50_ms'] - r['runs']['floor']['p50_ms']:.2f} ms)"
        ),
    )
    row(
        "batched 100 / one at a time, throughput (target >= 1.5)",
        lambda r: f"{ratios(r)['batch_speedup']:.2f}x",
    )

    def memory(r: dict, side: str) -> str:
        used = r["memory"][side]
        share = used["VmRSS"] / r["memory"]["plain"]["VmRSS"]
        return (
            f"{used['VmRSS'] / mib:.0f} MiB ({used['RssAnon'] / mib:.0f} + "
            f"{used['RssFile'] / mib:.0f}), **{share:.2f}x**"
        )

    for side, label in (
        ("plain", "plain (anon + file)"),
        ("funnel", "funnel float32 hot"),
        ("funnel16", "funnel float16 hot (target <= 0.65)"),
        ("funnel16_cold", "funnel float16 cold (target <= 0.30)"),
        ("funnel8", "funnel int8 hot"),
        ("floor", "Chroma alone at 128-d (floor)"),
    ):
        row(f"serving RSS: {label}", lambda r, side=side: memory(r, side))
    row(
        "full-vector bytes, float32 / float16",
        lambda r: (
            f"{r['full_vector_bytes']['float32'] / mib:.0f} / "
            f"{r['full_vector_bytes']['float16'] / mib:.0f} MiB"
        ),
    )
    row(
        "ingest: plain, funnel (target <= 0.5x)",
        lambda r: (
            f"{r['builds']['plain']['ingest_s']:.0f} s, "
            f"{r['builds']['funnel']['ingest_s']:.0f} s (**{ratios(r)['ingest']:.2f}x**)"
        ),
    )
    row(
        "ingest: funnel float16, texts only in local files (`chroma_texts=False`)",
        lambda r: (
            f"{r['builds']['funnel16']['ingest_s']:.0f} s (**{ratios(r)['ingest_lean']:.2f}x**)"
        ),
    )
    row(
        "disk: plain, funnel",
        lambda r: (
            f"{r['builds']['plain']['disk_bytes'] / mib:.0f}, "
            f"{r['builds']['funnel']['disk_bytes'] / mib:.0f} MiB ({ratios(r)['disk']:.2f}x)"
        ),
    )
    row("over `chroma run`: plain", ms("server_plain", "server"))
    row("over `chroma run`: funnel, replica", ms("server_funnel_hot", "server"))
    row("over `chroma run`: funnel, vectors per query", ms("server_funnel_cold", "server"))
    row(
        "**server funnel p50 / plain** (target <= 1.25)",
        lambda r: (
            f"**{ratios(r)['server_p50']:.2f}x** (per-query vectors "
            f"{ratios(r)['server_p50_cold']:.2f}x)"
        ),
    )
    row("over `chroma run`: first stage alone (ids, distances)", ms("server_floor", "server"))
    row("over `chroma run`: get of the 10 winners alone", ms("server_get", "server"))
    row(
        "server floor: first stage + get of winners, / plain",
        lambda r: f"{ratios(r)['server_floor']:.2f}x",
    )
    row(
        "replica: records, fill time, bytes",
        lambda r: (
            f"{r['server']['server_replica']['records']:,}, "
            f"{r['server']['server_replica']['load_s']:.1f} s, "
            f"{r['server']['server_replica']['bytes'] / mib:.0f} MiB"
        ),
    )
    return "\n".join(lines)


def chart(results: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(results, key=int)
    xs = [int(n) for n in sizes]
    series = [
        ("embedded_p50", "p50 latency, embedded", "C0", "-"),
        ("floor_p50", "  its floor: Chroma alone at the first stage", "C0", "--"),
        ("server_p50", "p50 latency, over chroma run", "C1", "-"),
        ("server_floor", "  its floor: first stage + get of winners", "C1", "--"),
        ("hot_memory", "serving memory, float16 hot", "C2", "-"),
        ("cold_memory", "serving memory, float16 cold", "C3", "-"),
        ("ingest", "ingest time", "C4", "-"),
        ("ingest_lean", "ingest time, chroma_texts=False", "C4", "--"),
    ]
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for key, label, colour, style in series:
        points = [(x, ratios(results[n]).get(key)) for x, n in zip(xs, sizes, strict=True)]
        points = [(x, y) for x, y in points if y is not None]
        if points:
            x, y = zip(*points, strict=True)
            target = TARGETS.get(key)
            text = f"{label} (target {target})" if target is not None else label
            ax.plot(x, y, marker="o", color=colour, linestyle=style, label=text)
            if target is not None:
                ax.axhline(target, color=colour, linestyle=":", linewidth=1)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xticks(xs, [f"{x:,}" for x in xs])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("records (768-d)")
    ax.set_ylabel("funnel / plain Chroma (lower is better)")
    ax.set_title("mrl-rag funnel against plain Chroma, default settings")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--server-max", type=int, default=200_000, help="largest N served")
    parser.add_argument(
        "--int8-max", type=int, default=200_000, help="largest N with an int8 side (memory only)"
    )
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "bench_scaling")
    parser.add_argument("--table", type=Path, default=ROOT / "docs" / "scaling.md")
    parser.add_argument("--chart", type=Path, default=ROOT / "docs" / "images" / "scaling.png")
    parser.add_argument("--report", action="store_true", help="table and chart of cached results")
    parser.add_argument("--note", default="", help="how the run was made, for the table")
    parser.add_argument("--serve-memory", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_memory:
        serve_memory(args.work, args.serve_memory)
        return
    results_path = args.work / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    if not args.report:
        for n in args.sizes:
            results[str(n)] = measure(
                n, args.work, args.queries, args.rounds, args.server_max, args.int8_max
            )
            args.work.mkdir(parents=True, exist_ok=True)
            results_path.write_text(json.dumps(results, indent=1))
    text = table(results)
    print("\n" + text)
    if args.table:
        args.table.write_text(
            "# Scaling: the funnel against plain Chroma\n\n"
            "Generated by `benchmarks/bench_scaling.py` (synthetic 768-d Matryoshka-like "
            f"vectors, {args.queries} queries, {args.rounds} interleaved rounds, "
            f"{os.cpu_count()} CPU cores). {args.note + ' ' if args.note else ''}"
            "Latency and recall are measured side by side in "
            "one process; memory in a fresh process per side after serving every query "
            "(RSS above the imports: anonymous + file-backed). The same queries run in every "
            "round, so after the first a search finds the ids it meets already looked up "
            "(the local format remembers up to 65,536). The float16 side is built with "
            "`chroma_texts=False` (texts only in the store's files; its search path is the "
            "same) where its ingest row shows a figure. Floors: what Chroma alone costs "
            "for the funnel's first stage (and over `chroma run`, the first stage plus a "
            "`get` of the 10 winners, the two requests a search that returns current "
            "texts and metadata must make).\n\n"
            f"![ratios against N](images/{args.chart.name})\n\n{text}\n\n"
            "What limits each ratio, measured: [funnel.md](funnel.md#measured).\n"
        )
    chart(results, args.chart)
    print(f"\nwrote {results_path}, {args.table}, {args.chart}")


if __name__ == "__main__":
    main()
