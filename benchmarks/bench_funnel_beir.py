"""Funnel quality on real BEIR sets, per search dimension.

For each set: embeds corpus and queries once with the offline all-MiniLM-L6-v2
(cached on disk), loads them into a MatryoshkaStore (embedded Chroma), then
re-indexes it at each search dimension from the stored full vectors (no model
call) and runs every test query through ``store.search_by_vector``. Prints
nDCG@10 of the funnel, its share of exact full-dimension search, recall@10
against exact full-dimension search, and, for comparison, nDCG@10 of exact
truncated-only search at that dimension.

    python benchmarks/bench_funnel_beir.py --data ../shared/datasets
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _beir import (
    DEFAULT_DATA_ROOT,
    MODEL_DIMS,
    OFFLINE_MODELS,
    cached_full_vectors,
    load_beir,
    offline_embedder,
)

from mrl_rag import MatryoshkaStore, cosine_scores, top_k, truncate
from mrl_rag.evaluation import ndcg_at_k


def evaluate(
    name: str, data_root: Path, dims: list[int], shortlist: int, adaptor: bool, model: str
) -> None:
    data = load_beir(data_root / name)
    embedder = offline_embedder(model, show_progress_bar=True)
    queries = cached_full_vectors(embedder, data.query_texts, "query")
    docs = cached_full_vectors(embedder, data.doc_texts, "document")
    full_dim = docs.shape[1]

    def ndcg(rankings: list[list[int]]) -> float:
        return float(
            np.mean(
                [
                    ndcg_at_k([data.doc_ids[i] for i in ranked], data.qrels[qid])
                    for ranked, qid in zip(rankings, data.query_ids, strict=True)
                ]
            )
        )

    exact = top_k(cosine_scores(queries, docs), 10)
    exact_ndcg = ndcg(exact.tolist())
    print(
        f"\n{name}: {len(docs)} documents, {len(queries)} queries, exact full-dim "
        f"({full_dim}) nDCG@10 = {exact_ndcg:.4f}; funnel shortlist {shortlist}"
    )
    print(
        f"{'dim':>5} {'funnel nDCG@10':>15} {'% of exact':>11} {'recall@10 vs exact':>19} "
        f"{'truncated-only nDCG@10':>23} {'p50 ms':>7} {'reindex s':>10}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        store = MatryoshkaStore(
            profile=embedder.profile, path=Path(tmp) / "db", collection=name, search_dim=dims[0]
        )
        store.add_vectors(data.doc_ids, docs, texts=data.doc_texts, batch_size=2000)
        rotate = None
        if adaptor:
            rotate = store.fit_adaptor()  # no labels: the corpus's own full vectors
            store.reindex(dims[0], adaptor=rotate)
        index = {doc_id: i for i, doc_id in enumerate(data.doc_ids)}
        for dim in dims:
            start = time.perf_counter()
            if dim != store.search_dim:
                store.reindex(dim)
            reindex_s = time.perf_counter() - start
            rankings, times = [], []
            for q in queries:
                t0 = time.perf_counter()
                hits = store.search_by_vector(q, k=10, shortlist=shortlist)
                times.append(time.perf_counter() - t0)
                rankings.append([index[h.id] for h in hits])
            funnel = ndcg(rankings)
            recall = np.mean(
                [len(set(r) & set(e)) / 10 for r, e in zip(rankings, exact.tolist(), strict=True)]
            )
            q_view = rotate.transform(queries) if rotate else queries
            d_view = rotate.transform(docs) if rotate else docs
            trunc = ndcg(
                top_k(cosine_scores(truncate(q_view, dim), truncate(d_view, dim)), 10).tolist()
            )
            label = f"{dim}" if dim != full_dim else f"{dim}*"
            print(
                f"{label:>5} {funnel:>15.4f} {funnel / exact_ndcg:>10.1%} {recall:>19.3f} "
                f"{trunc:>23.4f} {statistics.median(times) * 1000:>7.2f} "
                f"{reindex_s if dim != dims[0] else float('nan'):>10.1f}"
            )
    print("(* full dimension: the first stage is HNSW at full size, the rerank changes nothing)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument("--sets", nargs="+", default=["scifact", "nfcorpus"])
    parser.add_argument(
        "--model",
        choices=OFFLINE_MODELS,
        default="wordllama",
        help="the MRL-trained one by default",
    )
    parser.add_argument("--dims", type=int, nargs="+", help="default: the model's trained dims")
    parser.add_argument("--shortlist", type=int, default=None, help="default: the store's")
    parser.add_argument("--adaptor", action="store_true", help="fit and use an orthogonal adaptor")
    args = parser.parse_args()
    from mrl_rag import DEFAULT_SHORTLIST

    warnings.simplefilter("ignore")  # the not-Matryoshka warning: that is what we measure
    for name in args.sets:
        dims = args.dims or sorted(MODEL_DIMS[args.model])
        shortlist = args.shortlist or DEFAULT_SHORTLIST
        evaluate(name, args.data, dims, shortlist, args.adaptor, args.model)


if __name__ == "__main__":
    main()
