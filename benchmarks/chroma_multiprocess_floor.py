"""Why an embedded store serves one process: what a second Chroma process sees.

A writer process adds batches of random vectors to an embedded Chroma folder
(``PersistentClient``) while a reader process, opened after the first batches,
queries each newly added batch by its own vectors. Prints, per check, the
reader's ``count()`` and how many of 50 new records its query finds. With
chromadb 1.5.9: ``count()`` follows the writer, the query finds none of the
records written after the reader opened (its HNSW index lives in its memory).

    .venv/bin/python benchmarks/chroma_multiprocess_floor.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time

import numpy as np

BATCHES, SIZE, DIM = 12, 2000, 16


def vectors() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(BATCHES, SIZE, DIM))


def writer(path: str) -> None:
    import chromadb

    col = chromadb.PersistentClient(path=path).get_or_create_collection("floor")
    for i, batch in enumerate(vectors()):
        col.add(ids=[f"{i}-{j}" for j in range(SIZE)], embeddings=batch)
        print("wrote", i, flush=True)
        time.sleep(0.4)


def reader(path: str) -> None:
    import chromadb

    col = chromadb.PersistentClient(path=path).get_collection("floor")
    v = vectors()
    for _ in range(8):
        n = col.count()
        last = n // SIZE - 1
        got = col.query(query_embeddings=v[last, :50], n_results=1, include=[])
        found = sum(got["ids"][k][0] == f"{last}-{k}" for k in range(50))
        print(f"reader: count {n}, newest batch {last}: {found}/50 found by their own vectors")
        time.sleep(0.6)


def main() -> None:
    if len(sys.argv) == 3:
        {"writer": writer, "reader": reader}[sys.argv[1]](sys.argv[2])
        return
    with tempfile.TemporaryDirectory() as path:
        w = subprocess.Popen(
            [sys.executable, __file__, "writer", path], stdout=subprocess.PIPE, text=True
        )
        for line in w.stdout:  # type: ignore[union-attr]
            if line.startswith("wrote 1"):
                break
        subprocess.run([sys.executable, __file__, "reader", path], check=True)
        w.wait()


if __name__ == "__main__":
    main()
