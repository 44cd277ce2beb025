"""Batched search against one query at a time, on the same store, side by side.

Builds a funnel store of synthetic Matryoshka-like vectors (the generator of
``_synthetic.py``), then answers the same queries two ways, in
A B B A order over several rounds: ``search_by_vectors`` in batches of
``--batch`` (one first-stage call to Chroma per batch) and ``search_by_vector``
one query at a time. Prints queries per second of each and their ratio, and
checks that both return the same results.

    .venv/bin/python benchmarks/bench_batched_search.py             # 50,000 x 768
    .venv/bin/python benchmarks/bench_batched_search.py --n 20000   # a quick look
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synthetic import make_data

from mrl_rag import MatryoshkaStore, ModelProfile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--search-dim", type=int, default=128)
    parser.add_argument("--shortlist", type=int, default=100)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    docs, queries = make_data(args.n, args.dim, args.queries)
    profile = ModelProfile(name="synthetic-mrl", full_dim=args.dim, source="benchmark")
    with tempfile.TemporaryDirectory() as tmp:
        store = MatryoshkaStore(
            profile=profile, path=Path(tmp), search_dim=args.search_dim, shortlist=args.shortlist
        )
        store.add_vectors([f"d{i}" for i in range(args.n)], docs, batch_size=5000)

        def one_at_a_time() -> list:
            return [store.search_by_vector(q, k=10) for q in queries]

        def batched() -> list:
            out = []
            for start in range(0, len(queries), args.batch):
                out += store.search_by_vectors(queries[start : start + args.batch], k=10)
            return out

        same = [[h.id for h in r] for r in one_at_a_time()] == [
            [h.id for h in r] for r in batched()
        ]
        times: dict[str, list[float]] = {"one": [], "batched": []}
        for _ in range(args.rounds):
            order = (("batched", batched), ("one", one_at_a_time))
            for name, fn in order + order[::-1]:  # A B B A
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        qps = {k: len(queries) / statistics.median(v) for k, v in times.items()}
        print(
            f"{args.n} x {args.dim}, search dim {args.search_dim}, shortlist {args.shortlist}, "
            f"{len(queries)} queries, batches of {args.batch}, {args.rounds} rounds A B B A"
        )
        print(f"one at a time: {qps['one']:8.1f} queries/s")
        print(f"batched:       {qps['batched']:8.1f} queries/s")
        print(f"ratio batched / one at a time: {qps['batched'] / qps['one']:.2f} (target >= 1.5)")
        print(f"identical results: {same}")
        store.close()


if __name__ == "__main__":
    main()
