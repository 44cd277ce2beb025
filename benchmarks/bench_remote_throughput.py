"""A 2,000-text add through the remote backend against the same model in-process.

The remote side is an OpenAI-compatible server on 127.0.0.1
(`mrl_rag.testing.EmbeddingTestServer`) running the same all-MiniLM-L6-v2 as
the in-process side. Both add the same SciFact abstracts to a fresh
MatryoshkaStore, side by side in one run; prints texts per second and the ratio.

    python benchmarks/bench_remote_throughput.py --data ../shared/datasets/scifact
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _beir import DEFAULT_DATA_ROOT, load_beir, offline_embedder

from mrl_rag import MatryoshkaEmbedder, MatryoshkaStore, OpenAICompatibleEncoder
from mrl_rag.testing import EmbeddingTestServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_ROOT / "scifact")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32, help="texts per request")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    texts = load_beir(args.data).doc_texts[: args.n]
    local = offline_embedder(batch_size=args.batch_size, show_progress_bar=False)
    with EmbeddingTestServer(local.model, delay=0.0) as server:
        remote = MatryoshkaEmbedder(
            OpenAICompatibleEncoder(
                "all-MiniLM-L6-v2",
                base_url=server.base_url,
                batch_size=args.batch_size,
                max_concurrency=args.concurrency,
                timeout=120,
            ),
            profile=local.profile,
        )
        remote.encode(texts[:64])  # warm-up, both paths
        local.encode(texts[:64])
        results = {}
        for name, embedder in (("remote", remote), ("in-process", local)):
            with tempfile.TemporaryDirectory() as tmp:
                store = MatryoshkaStore(embedder, path=Path(tmp) / "db", search_dim=64)
                start = time.perf_counter()
                store.add(texts, batch_size=256)
                results[name] = time.perf_counter() - start
                assert store.count() == len(texts)
            print(
                f"  {name:<10} {results[name]:7.1f} s  {len(texts) / results[name]:6.1f} texts/s",
                flush=True,
            )
        requests = server.requests
    ratio = results["in-process"] / results["remote"]
    print(
        f"{len(texts)} texts, {args.batch_size} per request, concurrency {args.concurrency}, "
        f"{requests} requests: remote throughput = {ratio:.3f} x in-process"
    )


if __name__ == "__main__":
    main()
