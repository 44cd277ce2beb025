"""A framework retriever against the core store, same queries, side by side.

Loads a BEIR set (cached full vectors of the offline all-MiniLM-L6-v2) into a
MatryoshkaStore, then runs every test query both through the adapter's
retriever (LangChain ``MatryoshkaRetriever.invoke`` or LlamaIndex
``MatryoshkaRetriever.retrieve``) and through ``MatryoshkaStore.search`` (each
embeds the query), alternating which goes first. Prints whether the ranked ids
are identical and the ratio of p50 latencies (target: adapter adds < 5%).

    python benchmarks/bench_adapters.py langchain --data ../shared/datasets/scifact
    python benchmarks/bench_adapters.py llamaindex --data ../shared/datasets/nfcorpus
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from collections.abc import Callable

from _beir import DEFAULT_DATA_ROOT, cached_full_vectors, load_beir, offline_embedder

from mrl_rag import MatryoshkaStore


def adapter_search(name: str, store: MatryoshkaStore, k: int) -> Callable[[str], list[str]]:
    """The adapter's retriever, as a function from query to ranked ids."""
    if name == "langchain":
        from langchain_mrl_rag import MatryoshkaRetriever

        retriever = MatryoshkaRetriever(store=store, k=k)
        return lambda q: [d.id for d in retriever.invoke(q)]
    from llama_index.retrievers.mrl_rag import MatryoshkaRetriever as LlamaRetriever

    llama = LlamaRetriever(store, similarity_top_k=k)
    return lambda q: [n.node.node_id for n in llama.retrieve(q)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("adapter", choices=["langchain", "llamaindex"])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_ROOT / "scifact")
    parser.add_argument("--search-dim", type=int, default=128)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the queries")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    data = load_beir(args.data)
    embedder = offline_embedder()
    docs = cached_full_vectors(embedder, data.doc_texts, "document")
    with tempfile.TemporaryDirectory() as tmp:
        store = MatryoshkaStore(embedder, path=Path(tmp) / "db", search_dim=args.search_dim)
        store.add_vectors(data.doc_ids, docs, texts=data.doc_texts, batch_size=2000)
        through_adapter = adapter_search(args.adapter, store, args.k)
        for q in data.query_texts[:20]:  # warm-up
            store.search(q, k=args.k)
            through_adapter(q)
        times: dict[str, list[float]] = {"core": [], "adapter": []}
        same = 0
        for r in range(args.rounds):
            for i, q in enumerate(data.query_texts):
                order = ["core", "adapter"] if (i + r) % 2 == 0 else ["adapter", "core"]
                ranked = {}
                for side in order:
                    start = time.perf_counter()
                    if side == "core":
                        ranked[side] = [h.id for h in store.search(q, k=args.k)]
                    else:
                        ranked[side] = through_adapter(q)
                    times[side].append(time.perf_counter() - start)
                same += ranked["core"] == ranked["adapter"]
    n = len(times["core"])
    core, adapter = (statistics.median(times[s]) * 1000 for s in ("core", "adapter"))
    print(
        f"{data.name}: {len(data.query_texts)} queries x {args.rounds} rounds, k={args.k}, "
        f"search dim {args.search_dim}, store shortlist {store.shortlist}"
    )
    print(f"identical ranked ids: {same}/{n}")
    print(f"p50 core store.search:         {core:.2f} ms (query embedding included)")
    print(f"p50 {args.adapter} retriever:   {adapter:.2f} ms")
    print(f"adapter / core = {adapter / core:.3f}  (target < 1.05)")


if __name__ == "__main__":
    main()
