"""Chroma alone: a record that no query finds after reopening, though ``get`` returns it.

Chroma persists its HNSW index every ``sync_threshold`` records (1000 by
default) and rebuilds the rest from its log each time a folder is opened. This
script writes 240 small vectors, upserts them again unchanged (so the log holds
updates), closes the client cleanly, opens the folder again and queries every
record by its own vector. No crash and no mrl-rag code is involved.

With chromadb 1.5.9 on this 2-core machine, a few reopenings in a few hundred
(more when the machine is busy) leave one record that no query reaches: not
with ``n_results`` equal to the whole collection, not even with
``query(ids=[that id])``, while ``get`` returns its embedding exactly. The
fault suite (``tests/faultkit.py``) tells this apart from an inconsistency of
the store.

Run:
    python benchmarks/chroma_replay_unreachable.py --trials 300
"""

from __future__ import annotations

import argparse
import shutil
import tempfile

import chromadb
import numpy as np

N, DIM = 240, 8


def trial(folder: str, x: np.ndarray, ids: list[str]) -> list[str]:
    """Write, upsert unchanged, reopen; the ids no query finds."""
    client = chromadb.PersistentClient(folder)
    col = client.create_collection(
        "replay", configuration={"hnsw": {"space": "cosine", "ef_search": 200}}
    )
    for start in range(0, N, 12):
        col.add(ids=ids[start : start + 12], embeddings=x[start : start + 12])
    col.upsert(ids=ids, embeddings=x)
    client.close()
    client = chromadb.PersistentClient(folder)
    col = client.get_collection("replay")
    found = col.query(query_embeddings=x, n_results=N, include=[])["ids"]
    lost = [i for i, hits in zip(ids, found, strict=True) if i not in hits]
    for record_id in lost:
        row = ids.index(record_id)
        by_id = col.query(query_embeddings=x[row : row + 1], n_results=1, ids=[record_id])
        stored = np.asarray(col.get(ids=[record_id], include=["embeddings"])["embeddings"][0])
        print(
            f"  {record_id}: query(ids=[{record_id!r}]) -> {by_id['ids'][0]}, "
            f"get's embedding differs by {float(np.abs(stored - x[row]).max()):.1e}",
            flush=True,
        )
    client.close()
    return lost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    ids = [f"r{i:04d}" for i in range(N)]
    failed = 0
    for t in range(args.trials):
        x = rng.normal(size=(N, DIM)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        folder = tempfile.mkdtemp(prefix="chroma-replay-")
        try:
            lost = trial(folder, x, ids)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if lost:
            failed += 1
            print(f"trial {t}: {len(lost)} record(s) unreachable after reopening", flush=True)
    print(f"chromadb {chromadb.__version__}: {failed} of {args.trials} reopenings lost a record")


if __name__ == "__main__":
    main()
