"""Funnel store against a plain full-dimension Chroma collection, side by side.

Synthetic Matryoshka-like data: 768-d vectors whose variance falls with the
dimension index (as in a Matryoshka model, the leading dimensions carry most of
the signal), clustered, with queries that are noisy copies of documents. Both
sides use the same embedded Chroma (PersistentClient) and the same HNSW settings.

Prints, measured in this one run: ingest time of precomputed vectors, p50/p95
query latency, resident memory of a serving process (each side served by its
own fresh subprocess), and recall@10 against exact full-dimension search; then
the ratios against the targets (latency <= 0.5x, ingest >= 3x faster, memory
<= 1/6, recall >= the full-dim HNSW collection's).

    python benchmarks/bench_funnel_synthetic.py            # 200,000 x 768, search dim 64
    python benchmarks/bench_funnel_synthetic.py --n 20000  # a quick look
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def make_data(n: int, dim: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clustered vectors with a Matryoshka-like variance profile, and noisy-copy queries."""
    rng = np.random.default_rng(seed)
    scale = (1.0 + np.arange(dim, dtype=np.float32)) ** -0.6  # variance falls with the index
    centres = rng.standard_normal((max(16, n // 200), dim), dtype=np.float32) * scale
    docs = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 20_000):
        stop = min(n, start + 20_000)
        assign = rng.integers(0, len(centres), stop - start)
        noise = rng.standard_normal((stop - start, dim), dtype=np.float32) * scale
        docs[start:stop] = centres[assign] + 0.8 * noise
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    picks = rng.choice(n, queries, replace=False)
    q = docs[picks] + 0.5 * rng.standard_normal((queries, dim), dtype=np.float32) * scale
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return docs, q


def exact_top10(docs: np.ndarray, queries: np.ndarray) -> np.ndarray:
    from mrl_rag import cosine_scores, top_k

    out = np.empty((len(queries), 10), dtype=np.int64)
    for start in range(0, len(queries), 100):
        out[start : start + 100] = top_k(cosine_scores(queries[start : start + 100], docs), 10)
    return out


def ingest(kind: str, work: Path, docs: np.ndarray, search_dim: int) -> float:
    import chromadb

    from mrl_rag import MatryoshkaStore, ModelProfile, truncate

    ids = [str(i) for i in range(len(docs))]
    start = time.perf_counter()
    if kind in ("full", "chroma"):
        # "chroma": Chroma alone holding the truncated vectors, no full vectors, no
        # rerank. No funnel built on Chroma can do better than this floor.
        vectors = docs if kind == "full" else truncate(docs, search_dim)
        client = chromadb.PersistentClient(path=str(work / kind))
        col = client.create_collection(
            kind, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
        )
        step = client.get_max_batch_size()
        for s in range(0, len(docs), step):
            col.add(ids=ids[s : s + step], embeddings=vectors[s : s + step])
    else:
        profile = ModelProfile(name="synthetic-mrl", full_dim=docs.shape[1], source="benchmark")
        store = MatryoshkaStore(
            profile=profile, path=work / "funnel", collection="funnel", search_dim=search_dim
        )
        store.add_vectors(ids, docs, batch_size=5000)
    return time.perf_counter() - start


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def serve(kind: str, work: Path, shortlists: list[int]) -> None:
    """Run in a fresh subprocess: open one side, answer every query, report."""
    import chromadb

    from mrl_rag import MatryoshkaStore, ModelProfile, truncate

    queries = np.load(work / "queries.npy")
    base = rss_mib()
    runs = {}
    if kind in ("full", "chroma"):
        col = chromadb.PersistentClient(path=str(work / kind)).get_collection(kind)
        dim = col.get(limit=1, include=["embeddings"])["embeddings"].shape[1]
        for n in [10] if kind == "full" else shortlists:
            include = ["metadatas", "documents", "distances"] if kind == "full" else ["distances"]

            def search(q: np.ndarray, n: int = n, include: list = include) -> list[int]:
                got = col.query(query_embeddings=[truncate(q, dim)], n_results=n, include=include)
                return [int(i) for i in got["ids"][0][:10]]

            runs[n] = search
    else:
        profile = ModelProfile(name="synthetic-mrl", full_dim=queries.shape[1], source="benchmark")
        store = MatryoshkaStore(profile=profile, path=work / "funnel", collection="funnel")
        for n in shortlists:

            def search(q: np.ndarray, n: int = n) -> list[int]:
                return [int(h.id) for h in store.search_by_vector(q, k=10, shortlist=n)]

            runs[n] = search
    report = {}
    for n, search in runs.items():
        for q in queries[:20]:  # warm-up: load the index
            search(q)
        times, found = [], []
        for q in queries:
            start = time.perf_counter()
            found.append(search(q))
            times.append(time.perf_counter() - start)
        report[n] = {
            "p50_ms": statistics.median(times) * 1000,
            "p95_ms": float(np.percentile(times, 95) * 1000),
            "found": found,
        }
    print(json.dumps({"runs": report, "rss_mib": rss_mib(), "rss_base_mib": base}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--search-dim", type=int, default=64)
    parser.add_argument("--shortlists", type=int, nargs="+", default=[100, 200])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "bench_funnel")
    parser.add_argument("--serve", choices=["full", "chroma", "funnel"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.work, args.shortlists)
        return

    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    print(
        f"Data: {args.n} x {args.dim} synthetic Matryoshka-like vectors, "
        f"{args.queries} queries; funnel at search dim {args.search_dim}, "
        f"shortlists {args.shortlists}; same embedded Chroma and HNSW settings.",
        flush=True,
    )
    docs, queries = make_data(args.n, args.dim, args.queries)
    np.save(args.work / "queries.npy", queries)
    truth = exact_top10(docs, queries)

    results: dict[str, dict] = {}
    for kind in ("full", "chroma", "funnel"):
        seconds = ingest(kind, args.work, docs, args.search_dim)
        print(f"  ingest {kind:<6} {seconds:7.1f} s", flush=True)
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--serve",
                kind,
                "--work",
                str(args.work),
                "--shortlists",
                *map(str, args.shortlists),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        served = json.loads(out.stdout.strip().splitlines()[-1])
        for run in served["runs"].values():
            found = run.pop("found")
            run["recall"] = float(
                np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
            )
        disk = sum(p.stat().st_size for p in (args.work / kind).rglob("*") if p.is_file())
        results[kind] = {**served, "ingest_s": seconds, "disk_mib": disk / 2**20}

    full = results["full"]
    base = full["runs"]["10"]
    print(
        f"\nBaseline, full-dim HNSW collection (query k=10, default include): "
        f"ingest {full['ingest_s']:.1f} s, p50 {base['p50_ms']:.2f} ms, "
        f"p95 {base['p95_ms']:.2f} ms, recall@10 {base['recall']:.3f}, serving RSS "
        f"{full['rss_mib']:.0f} MiB ({full['rss_mib'] - full['rss_base_mib']:.0f} MiB above "
        f"the {full['rss_base_mib']:.0f} MiB after imports), disk {full['disk_mib']:.0f} MiB"
    )
    print(
        f"\n{'':<34}{'ingest':>8}{'p50 ms':>8}{'p95 ms':>8}{'recall@10':>10}"
        f"{'RSS added':>10}{'disk MiB':>9}"
    )
    print(
        f"{'ratio to baseline; target:':<34}{'<=0.33':>8}{'<=0.5':>8}{'':>8}{'>=base':>10}"
        f"{'<=0.167':>10}{'':>9}"
    )
    rss_full = full["rss_mib"] - full["rss_base_mib"]
    labels = {"chroma": "Chroma alone, %d-d, k=%s (floor)", "funnel": "funnel %d-d, shortlist %s"}
    for kind in ("chroma", "funnel"):
        r = results[kind]
        for n, run in r["runs"].items():
            label = labels[kind] % (args.search_dim, n)
            print(
                f"{label:<34}{r['ingest_s'] / full['ingest_s']:>8.3f}"
                f"{run['p50_ms'] / base['p50_ms']:>8.3f}{run['p95_ms'] / base['p95_ms']:>8.3f}"
                f"{run['recall']:>10.3f}"
                f"{(r['rss_mib'] - r['rss_base_mib']) / rss_full:>10.3f}"
                f"{r['disk_mib'] / full['disk_mib']:>9.3f}"
            )
    print(
        "(recall@10 is against exact full-dim search; the floor row's recall is truncated-"
        "only search, without rerank)"
    )


if __name__ == "__main__":
    main()
