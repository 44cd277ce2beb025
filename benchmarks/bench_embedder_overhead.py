"""What the embedder costs on top of a raw SentenceTransformer.encode call.

Embeds the same texts through ``MatryoshkaEmbedder.embed_documents`` and through
``SentenceTransformer.encode`` (same loaded model, same batch size), side by side
in one run, alternating the order (A B B A ...) so drift and warm-up hit both
equally, and prints the ratio of the median times. Target: at most 1.05.

    python benchmarks/bench_embedder_overhead.py --data ../shared/datasets/scifact
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _beir import DEFAULT_DATA_ROOT, load_beir, offline_embedder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_ROOT / "scifact")
    parser.add_argument("--n", type=int, default=2000, help="number of texts (default 2000)")
    parser.add_argument("--rounds", type=int, default=2, help="A/B pairs per side (default 2)")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    texts = load_beir(args.data).doc_texts[: args.n]
    embedder = offline_embedder(batch_size=args.batch_size, show_progress_bar=False)
    model = embedder.model

    def run_raw() -> np.ndarray:
        return model.encode(texts, batch_size=args.batch_size, show_progress_bar=False)

    def run_embedder() -> np.ndarray:
        return embedder.embed_documents(texts)

    print(
        f"{len(texts)} texts from {args.data}, batch size {args.batch_size}, "
        f"{args.rounds} round(s) of each, order A B B A ..."
    )
    run_raw()  # warm-up
    times: dict[str, list[float]] = {"raw encode": [], "embedder": []}
    schedule = []
    for i in range(args.rounds):
        pair = [("raw encode", run_raw), ("embedder", run_embedder)]
        schedule += pair if i % 2 == 0 else pair[::-1]
    outputs = {}
    for name, fn in schedule:
        start = time.perf_counter()
        outputs[name] = fn()
        times[name].append(time.perf_counter() - start)
        print(f"  {name:<10} {times[name][-1]:7.2f} s")
    same = np.allclose(outputs["embedder"], outputs["raw encode"], atol=1e-5)
    raw_t, emb_t = (statistics.median(times[k]) for k in ("raw encode", "embedder"))
    print(f"median raw encode: {raw_t:.2f} s ({len(texts) / raw_t:.1f} texts/s)")
    print(f"median embedder:   {emb_t:.2f} s ({len(texts) / emb_t:.1f} texts/s)")
    print(f"identical vectors: {same}")
    print(f"ratio embedder / raw = {emb_t / raw_t:.3f}  (target <= 1.05)")


if __name__ == "__main__":
    main()
