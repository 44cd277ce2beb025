"""The orthogonal Matryoshka adaptor, alone and inside the funnel store."""

from __future__ import annotations

from pathlib import Path

import chromadb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrl_rag import (
    MatryoshkaStore,
    ModelProfile,
    MRLRagError,
    OrthogonalAdaptor,
    StoreMismatchError,
    truncate,
)

PROFILE = ModelProfile(name="anisotropic", full_dim=32, matryoshka=False, source="test")


def make_vectors(n: int = 400, d: int = 32, seed: int = 0) -> np.ndarray:
    """Vectors whose signal sits in a random subspace (not in the leading dimensions)."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((d, d)))[0]
    scale = np.exp(-np.arange(d) / 4.0)
    vectors = (rng.standard_normal((n, d)) * scale) @ basis.T
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=10_000))
def test_rotation_keeps_full_cosines_and_puts_energy_first(seed: int) -> None:
    x = make_vectors(seed=seed)
    adaptor = OrthogonalAdaptor.fit(x)
    rotated = adaptor.transform(x)
    np.testing.assert_allclose(rotated @ rotated[:10].T, x @ x[:10].T, atol=1e-5)
    energy = (rotated.astype(np.float64) ** 2).sum(axis=0)
    assert np.all(np.diff(energy) <= 1e-6 * energy.max())  # non-increasing second moment
    plain = (x[:, :4] ** 2).sum() / (x**2).sum()
    assert (rotated[:, :4] ** 2).sum() / (rotated**2).sum() > plain


def test_fit_is_deterministic_and_checked() -> None:
    x = make_vectors()
    assert OrthogonalAdaptor.fit(x).fingerprint == OrthogonalAdaptor.fit(x.copy()).fingerprint
    with pytest.raises(ValueError, match="at least 2 vectors, got 1"):
        OrthogonalAdaptor.fit(x[:1])
    few = OrthogonalAdaptor.fit(x[:5])  # fewer vectors than dimensions: still orthogonal
    np.testing.assert_allclose(few.transform(x) @ few.transform(x[:3]).T, x @ x[:3].T, atol=1e-5)
    with pytest.raises(ValueError, match="must be orthogonal"):
        OrthogonalAdaptor(np.ones((4, 4)))
    with pytest.raises(ValueError, match="must have 32 dimensions"):
        OrthogonalAdaptor.fit(x).transform(np.ones(8))


def test_save_and_load_never_unpickle(tmp_path: Path) -> None:
    adaptor = OrthogonalAdaptor.fit(make_vectors(), model="m")
    loaded = OrthogonalAdaptor.load(adaptor.save(tmp_path / "a.npz"))
    assert (loaded.fingerprint, loaded.model) == (adaptor.fingerprint, "m")
    np.savez(tmp_path / "evil.npz", format=np.array([object()], dtype=object))
    with pytest.raises(MRLRagError, match="not a valid mrl-rag adaptor"):
        OrthogonalAdaptor.load(tmp_path / "evil.npz")
    np.savez(tmp_path / "other.npz", format=np.array("something else"), rotation=np.eye(2))
    with pytest.raises(MRLRagError, match="is not an mrl-rag orthogonal adaptor"):
        OrthogonalAdaptor.load(tmp_path / "other.npz")


@pytest.fixture(params=["persistent", "ephemeral"])
def client(request, tmp_path: Path):
    if request.param == "ephemeral":
        return chromadb.EphemeralClient()
    return chromadb.PersistentClient(path=str(tmp_path / "db"))


def test_store_reindex_with_a_fitted_adaptor(client) -> None:
    import uuid

    name = f"ad{uuid.uuid4().hex[:8]}"
    x = make_vectors(n=300)
    ids = [f"v{i}" for i in range(len(x))]
    store = MatryoshkaStore(profile=PROFILE, client=client, collection=name, search_dim=4)
    store.add_vectors(ids, x)
    queries = make_vectors(n=20, seed=99)
    exact = [[ids[i] for i in np.argsort(-(x @ q), kind="stable")[:5]] for q in queries]

    def recall(s: MatryoshkaStore, shortlist: int) -> float:
        found = [[h.id for h in s.search_by_vector(q, k=5, shortlist=shortlist)] for q in queries]
        return np.mean([len(set(f) & set(e)) / 5 for f, e in zip(found, exact, strict=True)])

    before = recall(store, 10)
    adaptor = store.fit_adaptor()
    store.reindex(4, adaptor=adaptor)
    assert store.adaptor is not None and store.adaptor.fingerprint == adaptor.fingerprint
    after = recall(store, 10)
    assert after > before  # the rotation made the 4-d first stage better
    hit = store.search_by_vector(queries[0], k=1, shortlist=300)[0]
    assert hit.score == pytest.approx(float(x[ids.index(hit.id)] @ queries[0]), abs=1e-5)
    assert hit.search_score == pytest.approx(
        float(
            truncate(adaptor.transform(x[ids.index(hit.id)]), 4)
            @ truncate(adaptor.transform(queries[0]), 4)
        ),
        abs=1e-4,
    )
    # Reopened without naming it, the store loads its adaptor by itself.
    reopened = MatryoshkaStore(profile=PROFILE, client=client, collection=name)
    assert reopened.adaptor.fingerprint == adaptor.fingerprint
    assert recall(reopened, 10) == after
    other = OrthogonalAdaptor.fit(make_vectors(n=300, seed=5))
    with pytest.raises(StoreMismatchError, match=r"indexed with adaptor .* not with adaptor"):
        MatryoshkaStore(profile=PROFILE, client=client, collection=name, adaptor=other)
    store.reindex(4, adaptor=None)
    assert store.adaptor is None and recall(store, 10) == pytest.approx(before, abs=0.05)
    names = {c if isinstance(c, str) else c.name for c in client.list_collections()}
    assert not any(n.startswith("mrl-adaptor-") and store._store_id in n for n in names)


def test_broken_rotations_and_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must be orthogonal"):
        OrthogonalAdaptor(np.full((3, 3), np.nan))
    np.save(tmp_path / "plain.npy", np.eye(3))
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not really a zip")
    for name in ("plain.npy", "broken.npz"):
        with pytest.raises(MRLRagError, match="not a valid mrl-rag adaptor"):
            OrthogonalAdaptor.load(tmp_path / name)


def test_failed_creation_leaves_no_side_collection(client) -> None:
    adaptor = OrthogonalAdaptor.fit(make_vectors())
    with pytest.raises(ValueError, match="Invalid hnsw settings"):
        MatryoshkaStore(
            profile=PROFILE,
            client=client,
            collection="sidecheck",
            adaptor=adaptor,
            hnsw={"bogus": 1},
        )
    names = {c if isinstance(c, str) else c.name for c in client.list_collections()}
    assert not any(n.startswith("mrl-adaptor-") for n in names) and "sidecheck" not in names
