"""A process killed (SIGKILL) in the middle of a large add loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import chromadb
import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from mrl_rag import MatryoshkaEmbedder, MatryoshkaStore

from .conftest import tiny_profile

N = 4000
# The tiny profile's fields, to rebuild it in the child process.
PROFILE = {k: v for k, v in tiny_profile().to_dict().items() if k != "schema_version"}

CHILD = textwrap.dedent(
    """
    import sys
    from mrl_rag import MatryoshkaEmbedder, MatryoshkaStore, ModelProfile
    model_path, db, fmt = sys.argv[1:4]
    embedder = MatryoshkaEmbedder(model_path, profile=ModelProfile(**{profile}))
    store = MatryoshkaStore(embedder, path=db, collection="crash", search_dim=8, full_vectors=fmt)
    texts = [f"text number {{i}} about cat {{i % 17}} and dog {{i % 5}}" for i in range({n})]
    ids = [f"id-{{i}}" for i in range({n})]
    for start in range(0, {n}, 40):
        store.add(texts[start:start + 40], ids=ids[start:start + 40])
        print("batch", start // 40, flush=True)
    print("done", flush=True)
    """
)


def texts_and_ids() -> tuple[list[str], list[str]]:
    texts = [f"text number {i} about cat {i % 17} and dog {i % 5}" for i in range(N)]
    return texts, [f"id-{i}" for i in range(N)]


@pytest.mark.parametrize("fmt", ["local", "chroma"])
def test_sigkill_mid_add_then_rerun(tmp_path: Path, tiny_model_path: Path, fmt: str) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(profile=repr(PROFILE), n=N))
    db = tmp_path / "db"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(
        [sys.executable, str(script), str(tiny_model_path), str(db), fmt],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith("batch 8"):
            os.kill(child.pid, signal.SIGKILL)  # mid-add: batches keep coming
            break
        assert line != "done\n", "the add finished before it could be killed"
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL

    model = SentenceTransformer(str(tiny_model_path), device="cpu")
    embedder = MatryoshkaEmbedder(model, profile=tiny_profile())
    client = chromadb.PersistentClient(path=str(db))
    store = MatryoshkaStore(embedder, client=client, collection="crash", full_vectors=fmt)
    texts, ids = texts_and_ids()
    got = store.collection.get(include=["metadatas", "documents"])
    survived = len(got["ids"])
    assert 9 * 40 <= survived < N
    # Every searchable id has its full vector, and it is the right one.
    full = store.full_vectors(got["ids"])
    expected = embedder.encode(got["documents"], input_type="document")
    np.testing.assert_allclose(full, expected, atol=1e-5)

    # Running the same add again completes it, without duplicates.
    store.add(texts, ids=ids, batch_size=500)
    assert store.count() == N
    final = store.collection.get(include=["metadatas", "documents"])
    assert sorted(final["ids"]) == sorted(ids)
    np.testing.assert_allclose(
        store.full_vectors(final["ids"]),
        embedder.encode(final["documents"], input_type="document"),
        atol=1e-5,
    )
    # The last records (written by the rerun) are searchable: a document's own vector
    # finds a record with that exact full vector.
    own = embedder.encode([texts[N - 1]], input_type="document")[0]
    assert store.search_by_vector(own, k=1)[0].score == pytest.approx(1.0, abs=1e-5)
    assert len(store.search("cat and dog", k=10)) == 10
