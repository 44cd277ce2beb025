"""What storing full vectors as float16 or int8 costs, on real BEIR sets.

For each set, embeds the corpus and the judged queries once (cached, the same
cache as ``mrl-rag eval``), stores the document vectors through the store's own
codec (:mod:`mrl_rag.store.codec`) in each ``full_dtype``, decodes them, and
reports against float32: the cosine error of the stored vectors (1 - cos of
original and decoded), the error of the query-document scores a rerank sees,
exact-search nDCG@10 over the whole corpus, and how many of each query's top
10 stay the same.

    .venv/bin/python benchmarks/bench_full_dtype.py \
        --data ../shared/datasets/scifact ../shared/datasets/nfcorpus
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _beir import cached_full_vectors, load_beir, offline_embedder

from mrl_rag import top_k
from mrl_rag.evaluation import ndcg_at_k
from mrl_rag.store.codec import FULL_DTYPES, decode_rows, encode_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="BEIR folders")
    args = parser.parse_args()
    embedder = offline_embedder()
    print(f"model: {embedder.profile.name} ({embedder.profile.full_dim}-d)\n")
    print(
        f"{'set':<10}{'dtype':<9}{'bytes/vec':>10}{'1-cos max':>11}{'1-cos mean':>12}"
        f"{'|score err| max':>17}{'nDCG@10':>9}{'top-10 kept':>13}"
    )
    for path in args.data:
        data = load_beir(path)
        docs = cached_full_vectors(embedder, data.doc_texts, "document")
        queries = cached_full_vectors(embedder, data.query_texts, "query")
        exact = queries @ docs.T
        exact_top = top_k(exact, 10)
        for dtype in FULL_DTYPES:
            stored = encode_rows(docs, dtype)  # type: ignore[arg-type]
            decoded = decode_rows(stored)
            error = 1.0 - np.sum(decoded * docs, axis=1)
            scores = queries @ decoded.T
            ranked = top_k(scores, 10)
            ndcg = np.mean(
                [
                    ndcg_at_k([data.doc_ids[i] for i in row], data.qrels[qid])  # type: ignore[index]
                    for qid, row in zip(data.query_ids, ranked, strict=True)
                ]
            )
            kept = np.mean(
                [len(set(a) & set(b)) / 10 for a, b in zip(ranked, exact_top, strict=True)]
            )
            print(
                f"{data.name:<10}{dtype:<9}{stored[0].nbytes:>10}{error.max():>11.2e}"
                f"{error.mean():>12.2e}{np.abs(scores - exact).max():>17.2e}{ndcg:>9.4f}"
                f"{kept:>13.4f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
