"""Ingest of precomputed vectors: plain Chroma against the funnel store, texts in Chroma or not.

Builds, at each size N, from the same synthetic 768-d Matryoshka-like vectors
and the same texts and metadata:

- ``plain``: a Chroma collection of the full vectors (cosine HNSW, default
  settings), filled with ``collection.add`` as users do;
- ``funnel``: a :class:`MatryoshkaStore` with default settings (``add_vectors``);
- ``funnel, chroma_texts=False``: the same, keeping texts only in its local files;
- ``Chroma alone, 128-d, no texts``: what that funnel asks of Chroma (the first
  stage's vectors and the metadata, no documents), without its own files: the
  floor of ``chroma_texts=False`` on Chroma.

The sides are filled together, chunk by chunk, in rotating order (A B C, then
C B A, ...), so a noisy machine slows each alike; each side's time is the sum
of its own chunks. It prints each side's seconds, its ratio to plain and the
median of the per-chunk ratios, and writes the table to ``--table``.

    .venv/bin/python benchmarks/bench_ingest.py --sizes 200000 --text abstract
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synthetic import make_data

DIM = 768
CHUNK = 5000
ALONE = "Chroma alone, 128-d, no texts"
VOCABULARY = (  # the words of the "abstract" texts
    "protein cell gene expression tumour patient trial dose response model data signal "
    "pathway receptor binding membrane study cohort risk factor outcome analysis method "
    "sample blood tissue level increase decrease effect control group mouse human "
    "clinical treatment therapy infection virus immune activity structure function"
)


def texts_for(n: int, kind: str) -> list[str]:
    """``short``: "document i"; ``abstract``: about 1,000 characters of prose-like words."""
    if kind == "short":
        return [f"document {i}" for i in range(n)]
    rng = np.random.default_rng(1)
    words = np.asarray(VOCABULARY.split())
    return [f"{i} " + " ".join(words[rng.integers(0, len(words), 140)]) for i in range(n)]


def build(n: int, text: str, work: Path) -> dict[str, list[float]]:
    """Fill every side at size ``n``; each side's seconds per chunk."""
    import chromadb

    from mrl_rag import MatryoshkaStore, ModelProfile, truncate
    from mrl_rag.store.store import default_search_dim

    docs, _ = make_data(n, DIM, 10)
    ids = [str(i) for i in range(n)]
    texts = texts_for(n, text)
    metas = [{"n": i, "group": i % 7} for i in range(n)]
    profile = ModelProfile(name="synthetic-mrl", full_dim=DIM, source="benchmark")
    plain = chromadb.PersistentClient(path=str(work / "plain")).create_collection(
        "plain", configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
    )
    sides: dict[str, Any] = {
        "plain": plain,
        "funnel": MatryoshkaStore(profile=profile, path=work / "funnel", collection="funnel"),
        "funnel, chroma_texts=False": MatryoshkaStore(
            profile=profile, path=work / "lean", collection="lean", chroma_texts=False
        ),
        ALONE: chromadb.PersistentClient(path=str(work / "alone")).create_collection(
            "alone", configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
        ),
    }
    first_dim = default_search_dim(profile)
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    order = list(sides)
    for chunk, start in enumerate(range(0, n, CHUNK)):
        part = slice(start, start + CHUNK)
        for name in order if chunk % 2 == 0 else order[::-1]:
            began = time.perf_counter()
            if name == "plain":
                plain.add(
                    ids=ids[part],
                    embeddings=docs[part],
                    documents=texts[part],
                    metadatas=metas[part],
                )
            elif name == ALONE:
                sides[name].add(
                    ids=ids[part], embeddings=truncate(docs[part], first_dim), metadatas=metas[part]
                )
            else:
                sides[name].add_vectors(
                    ids[part],
                    docs[part],
                    texts=texts[part],
                    metadatas=metas[part],
                    batch_size=CHUNK,
                )
            seconds[name].append(time.perf_counter() - began)
        print(f"    {min(start + CHUNK, n):,} records", end="\r", flush=True)
    for name, side in sides.items():
        if name not in ("plain", ALONE):  # the stores; Chroma collections need no closing
            side.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000])
    parser.add_argument("--text", choices=["short", "abstract"], default="abstract")
    parser.add_argument("--work", type=Path, default=None, help="build folder (default: a temp)")
    parser.add_argument("--table", type=Path, default=Path("docs/ingest.md"))
    args = parser.parse_args()
    if any(n < CHUNK for n in args.sizes):
        parser.error(f"--sizes must each be at least {CHUNK}")
    lines = [
        "# Ingest of precomputed vectors",
        "",
        f"`python benchmarks/bench_ingest.py --sizes {' '.join(map(str, args.sizes))} "
        f"--text {args.text}` (768-d synthetic vectors, {args.text} texts, chunks of "
        f"{CHUNK:,} in rotating order). Ratio: the side's total time over plain Chroma's; "
        "per chunk: the median of the chunks' ratios.",
        "",
        "| N | side | seconds | ratio | per chunk |",
        "|---|---|---|---|---|",
    ]
    for n in args.sizes:
        work = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=args.work))
        try:
            print(f"N = {n:,}", flush=True)
            seconds = build(n, args.text, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        base = seconds["plain"]
        for name, times in seconds.items():
            ratio = sum(times) / sum(base)
            per_chunk = statistics.median(t / b for t, b in zip(times, base, strict=True))
            print(f"  {name:<28} {sum(times):8.1f} s  {ratio:5.2f}x  (per chunk {per_chunk:.2f}x)")
            lines.append(f"| {n:,} | {name} | {sum(times):.1f} | {ratio:.2f}x | {per_chunk:.2f}x |")
    args.table.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.table}")


if __name__ == "__main__":
    main()
