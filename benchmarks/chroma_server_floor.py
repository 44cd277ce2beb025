"""What a search costs over `chroma run`, by request: the floor of any client-server funnel.

Starts a `chroma run` server on 127.0.0.1 and builds three collections of the
same 128-d vectors with a short document and a small metadata each; two of them
also carry a full-vector blob in their metadata (an int8 or a float32 768-d
vector, base64, as the ``chroma`` format stores it). Then times, interleaved
over rounds, one request of each kind a funnel could make:

- a heartbeat (the HTTP round trip alone);
- ``get`` of 10 records by id;
- ``query`` with ``n_results`` 10 and 100, including distances only, or
  documents and metadatas as well.

It prints medians in milliseconds. The plain collection a user has answers a
search with one ``query`` of 10 results including documents and metadatas; a
funnel needs at least the first stage's 100 results, and its winners' records.

    .venv/bin/python benchmarks/chroma_server_floor.py
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scaling import chroma_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    import chromadb

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.n, 128)).astype(np.float32)
    ids = [str(i) for i in range(args.n)]
    work = Path(tempfile.mkdtemp(prefix="chroma-floor-"))
    try:
        with chroma_server(work / "db") as (host, port):
            client = chromadb.HttpClient(host=host, port=port)
            collections = {}
            for label, blob in (("no blob", 0), ("int8 blob", 1368), ("float32 blob", 4096)):
                col = client.create_collection(
                    f"floor-{blob}",
                    configuration={"hnsw": {"space": "cosine"}},
                    embedding_function=None,
                )
                for s in range(0, args.n, 2000):
                    col.add(
                        ids=ids[s : s + 2000],
                        embeddings=vectors[s : s + 2000],
                        documents=[f"document {i}" for i in range(s, min(s + 2000, args.n))],
                        metadatas=[
                            {"n": i, **({"_mrl_full": "x" * blob} if blob else {})}
                            for i in range(s, min(s + 2000, args.n))
                        ],
                    )
                collections[label] = col
            requests = {"heartbeat": client.heartbeat}
            for label, col in collections.items():
                q = vectors[5:6]
                requests[f"{label}: get 10 by id, documents + metadatas"] = lambda col=col: col.get(
                    ids=ids[:10], include=["documents", "metadatas"]
                )
                for n, include in (
                    (10, ["documents", "metadatas", "distances"]),
                    (100, ["distances"]),
                    (100, ["documents", "metadatas", "distances"]),
                ):
                    what = "distances" if include == ["distances"] else "documents + metadatas"
                    requests[f"{label}: query n_results={n}, {what}"] = (
                        lambda col=col, n=n, include=include, q=q: col.query(
                            query_embeddings=q, n_results=n, include=include
                        )
                    )
            times: dict[str, list[float]] = {name: [] for name in requests}
            names = list(requests)
            for r in range(args.rounds):
                for name in names if r % 2 == 0 else names[::-1]:
                    call = requests[name]
                    call()
                    for _ in range(args.repeats):
                        start = time.perf_counter()
                        call()
                        times[name].append(time.perf_counter() - start)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"chroma run on 127.0.0.1, {args.n:,} records of 128-d; median ms per request")
    for name in names:
        print(f"  {statistics.median(times[name]) * 1e3:6.2f}  {name}")


if __name__ == "__main__":
    main()
