"""Switch the search dimension without re-embedding; and the simple path with plain Chroma.

1. A MatryoshkaVectorStore indexed at 64 dims is re-indexed at 128 from its
   stored full vectors: the model is not called again.
2. MatryoshkaEmbeddings plugged into a plain ``langchain_chroma.Chroma`` gives
   truncated search with the right prefixes, for users who want no funnel.

    python examples/langchain_switch_dimension.py
"""

from __future__ import annotations

import time

import chromadb
from _lc_common import offline_embeddings, small_vector_store
from demo_dimensions import DOCUMENTS
from langchain_chroma import Chroma

QUERY = "why does the sea have tides"


def main() -> None:
    embeddings = offline_embeddings()
    vector_store = small_vector_store(embeddings, search_dim=64)
    embedder = embeddings.matryoshka_embedder
    calls = {"n": 0}
    encode = embedder.encode

    def counting_encode(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        return encode(*args, **kwargs)

    embedder.encode = counting_encode  # type: ignore[method-assign]
    for dim in (64, 128):
        if dim != vector_store.store.search_dim:
            before, start = calls["n"], time.perf_counter()
            vector_store.store.reindex(dim)
            print(
                f"Re-indexed at {dim} dims in {time.perf_counter() - start:.2f} s with "
                f"{calls['n'] - before} model calls."
            )
        (doc, score), *_ = vector_store.similarity_search_with_score(QUERY, k=3)
        print(f"search dim {dim}: best {doc.id} ({score:.3f}) {doc.page_content[:60]}")

    small = offline_embeddings(dim=128)
    plain = Chroma(
        client=chromadb.EphemeralClient(), collection_name="plain", embedding_function=small
    )
    plain.add_texts(DOCUMENTS)
    best = plain.similarity_search(QUERY, k=1)[0]
    print(f"plain Chroma with 128-d MatryoshkaEmbeddings: best {best.page_content[:60]}")


if __name__ == "__main__":
    main()
