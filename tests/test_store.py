"""The funnel store on real Chroma clients: embedded, in-memory and a local server."""

from __future__ import annotations

import gc
import itertools
import uuid
from pathlib import Path

import chromadb
import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from mrl_rag import (
    InvalidArgumentError,
    InvalidDimensionError,
    InvalidTextError,
    MatryoshkaEmbedder,
    MatryoshkaStore,
    StoreDamagedError,
    StoreMismatchError,
    list_stores,
    truncate,
)

from .conftest import record_model_calls, tiny_profile

WORDS = "cat dog bird fish tree river city car train paris london tokyo cheese bread wine coffee tea music film book".split()  # noqa: SIM905
# 60 distinct word triples: the tiny model sees every text differently (no ties).
TEXTS = [" ".join(t) for t in itertools.islice(itertools.combinations(WORDS, 3), 0, 1140, 19)]
IDS = [f"doc-{i}" for i in range(60)]
METAS = [{"group": "even" if i % 2 == 0 else "odd", "n": i} for i in range(60)]
QUERIES = ["cat and dog", "tea in tokyo", "a film about paris", "bread wine cheese"]


@pytest.fixture(scope="module")
def embedder(tiny_model_path: Path) -> MatryoshkaEmbedder:
    model = SentenceTransformer(str(tiny_model_path), device="cpu")
    return MatryoshkaEmbedder(model, profile=tiny_profile())


@pytest.fixture(params=["persistent-local", "persistent-chroma", "ephemeral", "http"])
def make_store(request, tmp_path: Path, embedder: MatryoshkaEmbedder):
    """Build stores on one kind of client; every test runs on each kind."""
    kind = request.param
    if kind == "http":
        host, port = request.getfixturevalue("chroma_server")
        client = chromadb.HttpClient(host=host, port=port)
    elif kind == "ephemeral":
        client = chromadb.EphemeralClient()
    else:
        client = chromadb.PersistentClient(path=str(tmp_path / "db"))
    name = f"t{uuid.uuid4().hex[:12]}"
    fmt = "chroma" if kind == "persistent-chroma" else "auto"

    def build(**kwargs: object) -> MatryoshkaStore:
        kwargs.setdefault("embedder", embedder)
        kwargs.setdefault("full_vectors", fmt)
        kwargs.setdefault("collection", name)
        return MatryoshkaStore(client=client, **kwargs)

    build.kind = kind  # type: ignore[attr-defined]
    build.client = client  # type: ignore[attr-defined]
    return build


def exact_top(embedder, query: str, k: int, where_ids=None) -> tuple[list[str], np.ndarray]:
    """Brute-force cosine ranking with full vectors: the reference for the funnel."""
    docs = embedder.encode(TEXTS, input_type="document")
    scores = docs @ embedder.encode([query], input_type="query")[0]
    order = [
        i for i in np.argsort(-scores, kind="stable") if where_ids is None or IDS[i] in where_ids
    ]
    return [IDS[i] for i in order[:k]], scores[order[:k]]


def assert_exact(hits, embedder, query: str, k: int, where_ids=None) -> None:
    """The hits are the exact top k (scores equal; ids equal up to float-level ties)."""
    ids, scores = exact_top(embedder, query, k, where_ids)
    np.testing.assert_allclose([h.score for h in hits], scores, atol=1e-5)
    assert len({h.id for h in hits} ^ set(ids)) <= 2 * np.sum(np.abs(np.diff(scores)) < 1e-5)


def test_add_and_search_return_exact_full_vector_ranking(make_store, embedder) -> None:
    store = make_store(search_dim=8)
    assert store.add(TEXTS, ids=IDS, metadatas=METAS) == IDS
    assert store.count() == 60
    expected_format = "local" if make_store.kind == "persistent-local" else "chroma"
    assert store.full_vector_format == expected_format
    for query in QUERIES:
        hits = store.search(query, k=5, shortlist=60)  # shortlist = everything: exact
        assert_exact(hits, embedder, query, 5)
        q = embedder.encode([query], input_type="query")[0]
        full = embedder.encode([h.text for h in hits], input_type="document")
        np.testing.assert_allclose([h.score for h in hits], full @ q, atol=1e-5)
        small = truncate(full, 8) @ truncate(q, 8)
        np.testing.assert_allclose([h.search_score for h in hits], small, atol=1e-3)
        top = hits[0]
        i = IDS.index(top.id)
        assert (top.text, top.metadata) == (TEXTS[i], METAS[i])  # internal keys hidden


def test_metadata_filter_goes_to_the_first_stage(make_store, embedder) -> None:
    store = make_store(search_dim=16)
    store.add(TEXTS, ids=IDS, metadatas=METAS)
    hits = store.search("cat and dog", k=5, shortlist=60, where={"group": "odd"})
    assert hits and all(h.metadata["group"] == "odd" for h in hits)
    odd = {IDS[i] for i in range(1, 60, 2)}
    assert_exact(hits, embedder, "cat and dog", 5, where_ids=odd)
    assert store.search("cat", k=3, where={"n": {"$gt": 1000}}) == []


def test_delete_and_upsert(make_store) -> None:
    store = make_store()
    store.add(TEXTS, ids=IDS, metadatas=METAS)
    store.delete(["doc-0", "doc-1"])
    store.delete(where={"group": "odd"})
    assert store.count() == 29
    found = {h.id for h in store.search("cat", k=60, shortlist=60)}
    assert "doc-0" not in found and not any(int(i.split("-")[1]) % 2 for i in found)
    # add skips existing ids; upsert replaces them, vector and all.
    store.add(["brand new text"], ids=["doc-2"])
    assert store.get(["doc-2"])[0].text == TEXTS[2]
    store.add(["tea tea tea"], ids=["doc-2"], upsert=True)
    assert store.get(["doc-2"])[0].text == "tea tea tea"
    assert store.count() == 29
    assert store.search("tea tea tea", k=1, shortlist=60)[0].id == "doc-2"
    # a deleted id is new again: add writes it whole, first stage included.
    store.add(["coffee coffee coffee"], ids=["doc-0"], metadatas=[{"group": "new"}])
    (back,) = store.get(["doc-0"])
    assert (back.text, back.metadata) == ("coffee coffee coffee", {"group": "new"})
    assert store.search("coffee coffee coffee", k=1, shortlist=60)[0].id == "doc-0"
    with pytest.raises(TypeError, match="never deletes everything"):
        store.delete()


def test_default_ids_make_reruns_idempotent(make_store) -> None:
    store = make_store()
    first = store.add(TEXTS[:10])
    second = store.add(TEXTS[:20])
    assert second[:10] == first and len(set(second)) == 20
    assert store.count() == 20


def test_reindex_changes_dimension_without_the_model(make_store, embedder) -> None:
    store = make_store(search_dim=8)
    store.add(TEXTS, ids=IDS, metadatas=METAS)
    before = [[h.id for h in store.search(q, k=5, shortlist=60)] for q in QUERIES]
    # A store without an embedder cannot run the model: reindex must not need it.
    bare = make_store(embedder=None, profile=embedder.profile)
    assert bare.search_dim == 8
    bare.reindex(32)
    assert bare.search_dim == 32 and bare.count() == 60
    reopened = make_store()
    assert reopened.search_dim == 32
    after = [[h.id for h in reopened.search(q, k=5, shortlist=60)] for q in QUERIES]
    assert after == before
    hit = reopened.search(QUERIES[0], k=1)[0]
    assert hit.metadata == METAS[IDS.index(hit.id)]
    names = {c if isinstance(c, str) else c.name for c in make_store.client.list_collections()}
    assert not any(".mrl-" in n for n in names)


def test_failed_reindex_leaves_the_old_index_serving(make_store, monkeypatch) -> None:
    store = make_store(search_dim=8)
    store.add(TEXTS, ids=IDS)
    before = [h.id for h in store.search(QUERIES[1], k=5)]
    calls = {"n": 0}
    from mrl_rag.store import layout

    original = layout.create_collection

    def failing_create(client, name, metadata, hnsw):
        collection = original(client, name, metadata, hnsw)
        real_add = collection.add

        def add(**kwargs):
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("disk full (simulated)")
            return real_add(**kwargs)

        monkeypatch.setattr(collection, "add", add)
        return collection

    monkeypatch.setattr(layout, "create_collection", failing_create)
    with pytest.raises(RuntimeError, match="simulated"):
        store.reindex(32, batch_size=20)
    monkeypatch.undo()
    assert store.search_dim == 8
    assert [h.id for h in store.search(QUERIES[1], k=5)] == before
    assert make_store().search_dim == 8
    store.reindex(16, batch_size=20)  # the leftover half-built index is replaced
    assert make_store().search_dim == 16


def test_cascade(make_store, embedder) -> None:
    store = make_store(search_dim=8)
    store.add(TEXTS, ids=IDS)
    plain = [h.id for h in store.search(QUERIES[2], k=5, shortlist=60)]
    wide = [h.id for h in store.search(QUERIES[2], k=5, shortlist=60, cascade=[(16, 60), (32, 60)])]
    assert wide == plain
    narrow = store.search(QUERIES[2], k=5, shortlist=60, cascade=[(16, 20), (32, 10)])
    assert len(narrow) == 5
    with pytest.raises(ValueError, match=r"cascade\[0\] dim=8 must be above"):
        store.search(QUERIES[2], k=5, cascade=[(8, 20)])
    with pytest.raises(ValueError, match=r"cascade\[1\] keep=30 must be at least k=5 and no more"):
        store.search(QUERIES[2], k=5, cascade=[(16, 20), (32, 30)])
    # A rerank at 32 dims: the scores are cosines at 32 dims.
    at32 = store.search(QUERIES[2], k=5, shortlist=60, rerank_dim=32)
    q32 = truncate(embedder.encode([QUERIES[2]], input_type="query")[0], 32)
    d32 = truncate(embedder.encode([h.text for h in at32], input_type="document"), 32)
    np.testing.assert_allclose([h.score for h in at32], d32 @ q32, atol=1e-5)
    with pytest.raises(ValueError, match=r"rerank_dim=8 is below the store's search_dim \(16\)"):
        store.reindex(16)
        store.search(QUERIES[2], k=5, rerank_dim=8)
    with pytest.raises(
        ValueError, match=r"cascade\[0\] dim=32 must be above .* below the final rerank's \(32\)"
    ):
        store.search(QUERIES[2], k=5, rerank_dim=32, cascade=[(32, 20)])
    with pytest.raises(InvalidDimensionError, match=r"cascade\[0\] dim=20 is not a dimension"):
        store.search(QUERIES[2], k=5, cascade=[(20, 20)])


def test_bad_input_is_rejected_and_nothing_is_written(make_store) -> None:
    store = make_store()
    store.add(TEXTS[:5], ids=IDS[:5])
    cases = [
        (lambda: store.add(["ok", None], ids=["a", "b"]), InvalidTextError, r"texts\[1\] is None"),
        (lambda: store.add(["x", "y"], ids=["a", "a"]), ValueError, r"ids\[1\] repeats ids\[0\]"),
        (lambda: store.add(["x"], ids=["a", "b"]), ValueError, "ids has 2 entries for 1 texts"),
        (
            lambda: store.add(["x"], metadatas=[{"_mrl_row": 3}]),
            ValueError,
            "reserved key '_mrl_row'",
        ),
        (lambda: store.add(["x"], metadatas=["nope"]), TypeError, r"metadatas\[0\] must be a dict"),
        (lambda: store.add(["x"], ids=[""]), ValueError, r"ids\[0\] must be a non-empty string"),
        (lambda: store.search("", k=3), InvalidTextError, "query must be a non-empty string"),
        (
            lambda: store.search("cat", k=0),
            InvalidArgumentError,
            "k must be a positive integer, got 0",
        ),
        (
            lambda: store.search("cat", shortlist=-1),
            InvalidArgumentError,
            "shortlist must be a positive",
        ),
        (lambda: store.add_vectors(["v"], np.ones((1, 5))), ValueError, r"shape \(n, 64\)"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
    assert store.count() == 5


def test_opening_with_another_model_or_settings_fails(make_store, embedder) -> None:
    make_store(search_dim=16).add(TEXTS[:5], ids=IDS[:5])
    other = embedder.profile.replace(name="other-model")
    with pytest.raises(
        StoreMismatchError,
        match=r"built with model='tiny-mrl', but this store has model='other-model'",
    ):
        make_store(embedder=None, profile=other)
    with pytest.raises(StoreMismatchError, match=r"query_prefix='query: '.*query_prefix='q: '"):
        make_store(embedder=None, profile=embedder.profile.replace(query_prefix="q: "))
    with pytest.raises(StoreMismatchError, match=r"pre_truncation"):
        make_store(embedder=None, profile=embedder.profile.replace(pre_truncation="layer_norm"))
    with pytest.raises(StoreMismatchError, match=r"search_dim=16, not 32.*reindex\(32\)"):
        make_store(search_dim=32)
    assert make_store(search_dim=16).count() == 5
    foreign = f"plain{uuid.uuid4().hex[:8]}"
    make_store.client.create_collection(foreign)
    with pytest.raises(StoreMismatchError, match="not made by mrl-rag"):
        make_store(collection=foreign)


def test_constructor_validation(tmp_path: Path, embedder) -> None:
    with pytest.raises(InvalidDimensionError, match="search_dim=20 is not a dimension"):
        MatryoshkaStore(embedder, path=tmp_path / "a", search_dim=20)
    with pytest.raises(ValueError, match="full_vectors='local' needs an embedded PersistentClient"):
        MatryoshkaStore(embedder, client=chromadb.EphemeralClient(), full_vectors="local")
    with pytest.raises(TypeError, match="either path"):
        MatryoshkaStore(embedder, path=tmp_path, client=chromadb.EphemeralClient())
    with pytest.raises(TypeError, match="needs an embedder, or a profile"):
        MatryoshkaStore(path=tmp_path / "b")
    with pytest.raises(ValueError, match="full_vectors must be"):
        MatryoshkaStore(embedder, path=tmp_path / "c", full_vectors="s3")


def test_local_store_reopens_from_disk_and_format_is_checked(tmp_path: Path, embedder) -> None:
    path = tmp_path / "db"
    store = MatryoshkaStore(embedder, path=path, collection="col", search_dim=8)
    store.add(TEXTS, ids=IDS)
    before = [(h.id, round(h.score, 6)) for h in store.search(QUERIES[0], k=5)]
    assert store.full_vector_format == "local"
    assert list((path / "mrl_rag").glob("*/vectors.float32"))
    reopened = MatryoshkaStore(
        embedder, client=chromadb.PersistentClient(path=str(path)), collection="col"
    )
    assert [(h.id, round(h.score, 6)) for h in reopened.search(QUERIES[0], k=5)] == before
    with pytest.raises(StoreMismatchError, match="'local' format, but full_vectors='chroma'"):
        MatryoshkaStore(embedder, path=path, collection="col", full_vectors="chroma")


def test_local_and_chroma_formats_give_identical_results(tmp_path: Path, embedder) -> None:
    local = MatryoshkaStore(embedder, path=tmp_path / "l", search_dim=8, full_vectors="local")
    inside = MatryoshkaStore(embedder, path=tmp_path / "c", search_dim=8, full_vectors="chroma")
    for store in (local, inside):
        store.add(TEXTS, ids=IDS, metadatas=METAS)
    for query in QUERIES:
        a, b = local.search(query, k=10), inside.search(query, k=10)
        assert [(h.id, h.score, h.metadata) for h in a] == [(h.id, h.score, h.metadata) for h in b]


def test_precomputed_vectors(tmp_path: Path, embedder) -> None:
    store = MatryoshkaStore(profile=embedder.profile, path=tmp_path / "db", search_dim=8)
    full = embedder.encode(TEXTS, input_type="document")
    store.add_vectors(IDS, full * 3.0, texts=TEXTS)  # renormalised on the way in
    q = embedder.encode([QUERIES[0]], input_type="query")[0]
    hits = store.search_by_vector(q, k=5, shortlist=60)
    assert_exact(hits, embedder, QUERIES[0], 5)
    with pytest.raises(TypeError, match="opened without an embedder"):
        store.search("cat")
    with pytest.raises(ValueError, match="query_vector must be a full 64-dimensional"):
        store.search_by_vector(q[:8])


def test_missing_local_folder_is_reported(tmp_path: Path, embedder) -> None:
    import shutil

    store = MatryoshkaStore(embedder, path=tmp_path / "db", collection="col")
    store.add(TEXTS[:3], ids=IDS[:3])
    del store  # the files are shared by the store objects of a process: close them
    gc.collect()
    shutil.rmtree(tmp_path / "db" / "mrl_rag")
    with pytest.raises(StoreDamagedError, match=r"mrl_rag/[0-9a-f]+ is missing.*mrl-rag repair"):
        MatryoshkaStore(
            embedder, client=chromadb.PersistentClient(path=str(tmp_path / "db")), collection="col"
        )


# -- regressions found in review ------------------------------------------------


def test_upsert_replaces_the_whole_record(make_store, embedder) -> None:
    store = make_store(embedder=None, profile=embedder.profile)
    full = embedder.encode(TEXTS[:2], input_type="document")
    store.add_vectors(["a"], full[:1], texts=["old text"], metadatas=[{"color": "red", "size": 3}])
    store.add_vectors(["a"], full[1:2], metadatas=[{"size": 4}], upsert=True)
    (got,) = store.get(["a"])
    assert (got.text, got.metadata) == (None, {"size": 4})
    (hit,) = store.search_by_vector(embedder.encode([QUERIES[0]], input_type="query")[0], k=1)
    assert (hit.id, hit.text, hit.metadata) == ("a", None, {"size": 4})
    assert store.search_by_vector(full[0], k=5, where={"color": "red"}) == []


def test_rejected_write_changes_nothing(make_store, embedder) -> None:
    store = make_store()
    store.add(["tea tea tea"], ids=["a"], metadatas=[{"k": 1}])
    before = store.search("tea tea tea", k=1)
    with pytest.raises(ValueError, match=r"metadatas\[0\]\['k'\] is \[1, 'x'\]; a list value"):
        store.add(["bad write"], ids=["a"], metadatas=[{"k": [1, "x"]}], upsert=True)
    assert store.search("tea tea tea", k=1) == before
    assert store.get(["a"])[0].text == "tea tea tea"


def test_empty_id_lists_are_no_ops(make_store) -> None:
    store = make_store()
    store.add(TEXTS[:3], ids=IDS[:3])
    assert store.get([]) == []
    store.delete([])
    store.delete([], where={"n": 1})
    assert store.count() == 3


def test_records_without_text(make_store, embedder) -> None:
    store = make_store(embedder=None, profile=embedder.profile)
    full = embedder.encode(TEXTS[:2], input_type="document")
    store.add_vectors(["t", "none"], full, texts=[TEXTS[0], None])
    assert [(r.id, r.text) for r in store.get(["t", "none"])] == [("t", TEXTS[0]), ("none", None)]
    with pytest.raises(InvalidTextError, match=r"texts\[1\] must be a non-empty string"):
        store.add_vectors(["x", "y"], full, texts=["ok", "  "])


def test_duplicate_texts_without_ids_explain_themselves(make_store) -> None:
    with pytest.raises(ValueError, match=r"texts\[2\] repeats texts\[0\].*Pass ids="):
        make_store().add(["same", "other", "same"])


def test_two_store_objects_on_one_path_share_the_files(tmp_path: Path, embedder) -> None:
    client = chromadb.PersistentClient(path=str(tmp_path / "db"))
    first = MatryoshkaStore(embedder, client=client, collection="col", search_dim=8)
    second = MatryoshkaStore(embedder, client=client, collection="col")
    first.add(TEXTS[:3], ids=["a", "b", "c"])
    second.add(TEXTS[3:6], ids=["d", "e", "f"])
    first.add(TEXTS[6:7], ids=["g"])
    for store in (first, second):
        assert {h.id for h in store.search("cat", k=10, shortlist=60)} == set("abcdefg")
    reopened = MatryoshkaStore(embedder, path=tmp_path / "db", collection="col")
    got = reopened.get(list("abcdefg"))
    assert [r.text for r in got] == TEXTS[:7]
    np.testing.assert_allclose(
        reopened.full_vectors(list("abcdefg")),
        embedder.encode(TEXTS[:7], input_type="document"),
        atol=1e-5,
    )


def test_auto_reopens_a_chroma_format_store_on_a_persistent_client(
    tmp_path: Path, embedder
) -> None:
    MatryoshkaStore(embedder, path=tmp_path / "db", collection="col", full_vectors="chroma").add(
        TEXTS[:3]
    )
    reopened = MatryoshkaStore(embedder, path=tmp_path / "db", collection="col")
    assert reopened.full_vector_format == "chroma" and reopened.count() == 3


def test_reindex_interrupted_between_its_renames_is_finished_on_open(
    tmp_path: Path, embedder
) -> None:
    store = MatryoshkaStore(embedder, path=tmp_path / "db", collection="col", search_dim=8)
    store.add(TEXTS, ids=IDS)
    before = [h.id for h in store.search(QUERIES[0], k=5)]
    original_modify = type(store.collection).modify
    calls = {"n": 0}

    def crash_on_second_rename(self, name=None, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed between the renames (simulated)")
        return original_modify(self, name=name, **kwargs)

    type(store.collection).modify = crash_on_second_rename
    try:
        with pytest.raises(KeyboardInterrupt):
            store.reindex(16)
    finally:
        type(store.collection).modify = original_modify
    reopened = MatryoshkaStore(
        embedder, client=chromadb.PersistentClient(path=str(tmp_path / "db")), collection="col"
    )
    assert reopened.search_dim == 16 and reopened.count() == 60
    assert [h.id for h in reopened.search(QUERIES[0], k=5)] == before


def test_batched_search_equals_one_query_at_a_time(make_store, embedder) -> None:
    store = make_store(search_dim=8)
    store.add(TEXTS, ids=IDS, metadatas=METAS)
    queries = embedder.encode(QUERIES, input_type="query")
    for kwargs in ({}, {"where": {"group": "odd"}, "shortlist": 20}, {"cascade": [(16, 12)]}):
        batched = store.search_by_vectors(queries, k=5, **kwargs)
        assert batched == [store.search_by_vector(q, k=5, **kwargs) for q in queries]
    assert store.search_by_vectors(np.zeros((0, 64))) == []
    bad = queries.copy()
    bad[2] = np.nan
    with pytest.raises(ValueError, match=r"query_vectors\[2\] holds NaN"):
        store.search_by_vectors(bad)
    with pytest.raises(ValueError, match=r"query_vectors must have shape \(q, 64\)"):
        store.search_by_vectors(queries[0])


@pytest.mark.parametrize("dtype", ["float16", "int8"])
def test_smaller_full_dtypes_keep_the_ranking(make_store, embedder, dtype: str) -> None:
    store = make_store(search_dim=16, full_dtype=dtype)
    store.add(TEXTS, ids=IDS, metadatas=METAS)
    exact = embedder.encode(TEXTS, input_type="document")
    held = store.full_vectors(IDS)
    np.testing.assert_allclose(np.linalg.norm(held, axis=1), 1.0, atol=1e-5)
    worst = 1.0 - float(np.min(np.sum(held * exact, axis=1)))
    assert worst < (1e-6 if dtype == "float16" else 1e-3), worst
    for query in QUERIES:
        hits = store.search(query, k=5, shortlist=60)
        ids, scores = exact_top(embedder, query, 5)
        if dtype == "float16":
            assert [h.id for h in hits][:3] == ids[:3]
        # int8 moves scores by up to ~2e-3, so it may swap near-ties, never more:
        # each hit's exact score is within twice that of the exact ranking's at its place.
        q = embedder.encode([query], input_type="query")[0]
        true = exact[[IDS.index(h.id) for h in hits]] @ q
        assert np.all(true >= scores - 4e-3), (true, scores)
        np.testing.assert_allclose([h.score for h in hits], scores, atol=2e-3)


def test_memory_and_disk_give_identical_results(make_store, embedder) -> None:
    store = make_store(search_dim=8)
    store.add(TEXTS, ids=IDS, metadatas=METAS)
    cold = make_store(keep_full_vectors="disk")
    queries = embedder.encode(QUERIES, input_type="query")
    assert cold.load_full_vectors() == 0  # cold: nothing is brought into memory
    first = store.search_by_vectors(queries, k=6, shortlist=60)  # before any warm-up
    assert store.load_full_vectors() == 60
    late = truncate(np.random.default_rng(7).standard_normal(64).astype(np.float32), 64)
    store.add_vectors(["late"], [late], texts=["added after the warm-up"])
    hit = store.search_by_vector(late, k=1, shortlist=61)[0]  # the map (or replica) grows
    assert (hit.id, round(hit.score, 5)) == ("late", 1.0)
    store.delete(["late"])
    assert store.search_by_vectors(queries, k=6, shortlist=60) == first

    def above_ties(hits):  # Chroma may order equal scores either way
        return {(h.id, h.text, round(h.score, 5)) for h in hits if h.score > hits[-1].score + 1e-5}

    for _ in range(2):  # the second round answers from a full replica or a warm map
        hot_hits = store.search_by_vectors(queries, k=6, shortlist=60)
        cold_hits = cold.search_by_vectors(queries, k=6, shortlist=60)
        for hot, cold_one in zip(hot_hits, cold_hits, strict=True):
            np.testing.assert_allclose(
                [h.score for h in hot], [h.score for h in cold_one], atol=1e-6
            )
            assert above_ties(hot) == above_ties(cold_one)
    with pytest.raises(
        ValueError, match="keep_full_vectors must be one of 'memory', 'disk', got 'ram'"
    ):
        make_store(keep_full_vectors="ram")
    with pytest.raises(ValueError, match="full_dtype must be one of 'float32', 'float16', 'int8'"):
        make_store(full_dtype="bfloat16")


def test_replica_follows_writes_of_another_store_object(make_store, embedder) -> None:
    """A chroma-format replica answers from what Chroma holds, whoever wrote it."""
    if make_store.kind not in ("http", "persistent-chroma", "ephemeral"):
        pytest.skip("the replica serves the chroma format")
    rng = np.random.default_rng(3)
    full = truncate(rng.standard_normal((60, 64)).astype(np.float32), 64)
    reader = make_store(search_dim=8)
    reader.add_vectors(IDS, full, texts=TEXTS, metadatas=METAS)
    assert reader.load_full_vectors() == 60
    writer = make_store()
    query = truncate(full[7] + 0.01 * full[8], 64)
    assert reader.search_by_vector(query, k=1, shortlist=60)[0].id == "doc-7"
    # Another object moves doc-7 far away and gives doc-9 doc-7's vector.
    writer.add_vectors(["doc-7", "doc-9"], full[[30, 7]], texts=["moved", "new"], upsert=True)
    hits = reader.search_by_vector(query, k=2, shortlist=60)
    assert hits[0].id == "doc-9" and hits[0].text == "new"
    assert "doc-7" not in [h.id for h in hits]
    # Same first-stage prefix, opposite tail: only the winners' check can see it.
    tail = full[7].copy()
    tail[8:] = -tail[8:]
    writer.add_vectors(["doc-9"], [tail], texts=["tail flipped"], upsert=True)
    hits = reader.search_by_vector(query, k=3, shortlist=60)
    assert "doc-9" not in [h.id for h in hits]
    assert reader.search_by_vector(tail, k=1, shortlist=60)[0].text == "tail flipped"
    writer.delete(["doc-9"])
    assert "doc-9" not in [h.id for h in reader.search_by_vector(tail, k=5, shortlist=60)]


@pytest.mark.parametrize("full_dtype", ["float32", "float16", "int8"])
def test_replica_answers_from_chroma_when_writes_land_inside_a_search(
    full_dtype: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another store object writes just before each of the search's reads from Chroma.

    Deletes, new vectors, and new tails under the same first-stage prefix (which the
    distance check cannot see) land between the first stage and the winners' get.
    Every hit must still be what Chroma holds at the search's last get: text,
    metadata, and a score computed from the stored full vector.
    """
    import base64
    import random

    from chromadb.api.models.Collection import Collection

    from mrl_rag.store.chroma_format import FULL_KEY
    from mrl_rag.store.codec import decode_rows

    client = chromadb.EphemeralClient()
    profile = tiny_profile(query_prefix="", document_prefix="")
    seen: dict[str, object] = {}
    real_get = Collection.get

    def get(self, *args, **kwargs):  # the injected writer, then Chroma's own get
        if seen.get("write") is not None and not seen.get("writing"):
            seen["writing"] = True
            try:
                seen["write"]()
            finally:
                seen["writing"] = False
        got = real_get(self, *args, **kwargs)
        if kwargs.get("include") == ["metadatas", "documents"] and not seen.get("writing"):
            seen["last"] = got  # the winners' records, as the search saw them
        return got

    monkeypatch.setattr(Collection, "get", get)

    def searches_checked(seed: int) -> int:
        rng, pick = np.random.default_rng(seed), random.Random(seed)
        name, ids = f"t{uuid.uuid4().hex[:12]}", [f"d{i}" for i in range(30)]
        full = truncate(rng.standard_normal((30, 64)).astype(np.float32), 64)
        options = {"search_dim": 8, "full_vectors": "chroma", "full_dtype": full_dtype}
        reader = MatryoshkaStore(profile=profile, client=client, collection=name, **options)
        reader.add_vectors(ids, full, texts=ids, metadatas=[{"v": 0} for _ in ids])
        reader.load_full_vectors()
        writer = MatryoshkaStore(profile=profile, client=client, collection=name, **options)
        query = truncate(rng.standard_normal(64).astype(np.float32), 64)
        version = itertools.count(1)

        def write() -> None:
            if pick.random() > 0.6:
                return
            target, v = pick.choice(ids), next(version)
            if pick.random() < 0.15:
                writer.delete([target])
                return
            vector = rng.standard_normal(64).astype(np.float32)
            if pick.random() < 0.5:  # same first-stage prefix, new tail
                vector[:8] = full[ids.index(target)][:8]
            writer.add_vectors(
                [target], [vector], texts=[f"{target} v{v}"], metadatas=[{"v": v}], upsert=True
            )

        checked = 0
        for _ in range(6):
            seen.update(write=write, last=None)
            hits = reader.search_by_vector(query, k=pick.choice([1, 3, 5]), shortlist=20)
            seen["write"] = None
            last = seen["last"]
            if last is None:  # it gave up on the replica and shipped the vectors
                continue
            at = {record_id: n for n, record_id in enumerate(last["ids"])}
            for hit in hits:
                n = at[hit.id]
                row = base64.b64decode(last["metadatas"][n][FULL_KEY])
                stored = np.frombuffer(row, dtype=reader._chroma_format.dtype)[None]
                assert hit.text == last["documents"][n]
                assert hit.metadata == {"v": last["metadatas"][n]["v"]}
                assert hit.score == pytest.approx(float(decode_rows(stored)[0] @ query), abs=1e-5)
                checked += 1
        reader.close()
        writer.close()
        return checked

    checked = sum(searches_checked(seed) for seed in range(6))
    assert checked > 50


def test_first_stage_ef_search_defaults_to_twice_the_shortlist(make_store) -> None:
    from mrl_rag.store.store import DEFAULT_EF_SEARCH, DEFAULT_SHORTLIST

    def ef_of(store: MatryoshkaStore) -> int:
        return store.collection.configuration_json["hnsw"]["ef_search"]

    store = make_store(search_dim=8)
    assert ef_of(store) == DEFAULT_EF_SEARCH == 2 * DEFAULT_SHORTLIST
    store.add(TEXTS[:10], ids=IDS[:10])
    store.reindex(16)  # the new index is made alike
    assert ef_of(store) == DEFAULT_EF_SEARCH
    mine = make_store(collection=f"t{uuid.uuid4().hex[:12]}", hnsw={"ef_search": 321})
    assert ef_of(mine) == 321


def test_texts_kept_only_in_the_local_files(tmp_path: Path, embedder) -> None:
    """chroma_texts=False: Chroma holds no documents; searches and get return the texts."""
    path = tmp_path / "db"
    store = MatryoshkaStore(embedder, path=path, collection="col", search_dim=8, chroma_texts=False)
    store.add(TEXTS, ids=IDS, metadatas=METAS)
    store.add(TEXTS[:1], ids=IDS[:1], metadatas=[{"n": -1}], upsert=True)
    assert set(store.collection.get(include=["documents"])["documents"]) == {None}
    for query in QUERIES:
        hits = store.search(query, k=5, shortlist=60)
        assert_exact(hits, embedder, query, 5)
        assert all(h.text == TEXTS[IDS.index(h.id)] for h in hits)
    assert [(r.text, r.metadata) for r in store.get([IDS[1], "nope", IDS[0]])] == [
        (TEXTS[1], METAS[1]),
        (TEXTS[0], {"n": -1}),
    ]
    with pytest.raises(ValueError, match=r"where_document=\{'\$contains': 'cat'\} needs the texts"):
        store.search("cat", k=3, where_document={"$contains": "cat"})
    store.reindex(16)
    assert set(store.collection.get(include=["documents"])["documents"]) == {None}
    assert_exact(store.search(QUERIES[0], k=5, shortlist=60), embedder, QUERIES[0], 5)
    store.close()
    # An existing store keeps its own setting; asking for the other one is an error.
    reopened = MatryoshkaStore(embedder, path=path, collection="col")
    assert reopened.get([IDS[2]])[0].text == TEXTS[2]
    reopened.close()
    with pytest.raises(StoreMismatchError, match="made with chroma_texts=False, not True"):
        MatryoshkaStore(embedder, path=path, collection="col", chroma_texts=True)
    with pytest.raises(StoreDamagedError, match="chroma_texts=False: its texts are only"):
        MatryoshkaStore.repair(embedder, path=path, collection="col")
    with pytest.raises(ValueError, match="chroma_texts=False needs full_vectors='local'"):
        MatryoshkaStore(embedder, client=chromadb.EphemeralClient(), chroma_texts=False)
    with pytest.raises(TypeError, match="chroma_texts must be True, False or None, got 'no'"):
        MatryoshkaStore(embedder, path=tmp_path / "other", chroma_texts="no")  # type: ignore[arg-type]


def reference_mmr(query: np.ndarray, docs: np.ndarray, k: int, lam: float) -> list[int]:
    """Maximal marginal relevance, written out plainly: the reference for the store's."""
    picked: list[int] = []
    while len(picked) < min(k, len(docs)):
        best, best_gain = -1, -np.inf
        for i in range(len(docs)):
            if i in picked:
                continue
            relevance = float(docs[i] @ query)
            redundancy = max((float(docs[i] @ docs[j]) for j in picked), default=0.0)
            gain = relevance if not picked else lam * relevance - (1 - lam) * redundancy
            if gain > best_gain + 1e-6:
                best, best_gain = i, gain
        picked.append(best)
    return picked


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.7])
def test_max_marginal_relevance_on_the_full_vectors(make_store, embedder, lam: float) -> None:
    store = make_store(search_dim=8)
    store.add(TEXTS, ids=IDS, metadatas=METAS)
    docs = embedder.encode(TEXTS, input_type="document")
    for query in QUERIES[:2]:
        q = embedder.encode([query], input_type="query")[0]
        hits = store.search(query, k=6, shortlist=60, mmr_lambda=lam)
        assert [h.id for h in hits] == [IDS[i] for i in reference_mmr(q, docs, 6, lam)]
        np.testing.assert_allclose(
            [h.score for h in hits], docs[[IDS.index(h.id) for h in hits]] @ q, atol=1e-5
        )
        plain = store.search(query, k=6, shortlist=60)
        assert [h.id for h in store.search(query, k=6, shortlist=60, mmr_lambda=1.0)] == [
            h.id for h in plain
        ]
        if lam < 0.5:  # diversity changes the picks
            assert [h.id for h in hits] != [h.id for h in plain]
    odd = store.search(QUERIES[0], k=4, shortlist=60, where={"group": "odd"}, mmr_lambda=lam)
    assert odd and all(h.metadata["group"] == "odd" for h in odd)
    with pytest.raises(
        ValueError,
        match=r"mmr_lambda must be from 0 \(most diverse\) to 1 \(most relevant\), got 1.5",
    ):
        store.search("cat", k=3, mmr_lambda=1.5)
    with pytest.raises(TypeError, match="mmr_lambda must be a number from 0 to 1, got 'high'"):
        store.search("cat", k=3, mmr_lambda="high")  # type: ignore[arg-type]


def test_add_shows_progress_from_512_texts(tmp_path: Path, embedder, capfd) -> None:
    """The store embeds in batches below the embedder's bar threshold: it shows its own bar."""
    store = MatryoshkaStore(embedder, path=tmp_path / "db", collection="col", search_dim=8)
    many = [f"{TEXTS[i % 60]} {i}" for i in range(600)]
    store.add(many[:100], batch_size=64)
    assert "Adding to col" not in capfd.readouterr().err  # few texts: quiet
    store.add(many, batch_size=64)  # 100 stored (skipped) + 500 new, 64 per batch
    err = capfd.readouterr().err
    assert "Adding to col" in err and "600/600" in err
    assert store.count() == 600


def test_create_false_opens_existing_stores_only(tmp_path: Path, embedder) -> None:
    from mrl_rag import StoreNotFoundError

    path = tmp_path / "db"
    MatryoshkaStore(embedder, path=path, collection="docs", search_dim=8).close()
    with pytest.raises(
        StoreNotFoundError, match=r"No store called 'dosc'.*Existing collections: 'docs'"
    ):
        MatryoshkaStore(embedder, path=path, collection="dosc", create=False)
    client = chromadb.PersistentClient(path=str(path))
    assert sorted(c.name for c in client.list_collections()) == ["docs"]  # nothing was created
    del client
    MatryoshkaStore(embedder, path=path, collection="docs", create=False).close()
    typo = tmp_path / "dbb"
    with pytest.raises(StoreNotFoundError, match=r"No Chroma folder at .*dbb, and create=False"):
        MatryoshkaStore(embedder, path=typo, collection="docs", create=False)
    assert not typo.exists()  # nothing was written


def test_get_by_filter_and_by_page(make_store) -> None:
    store = make_store()
    store.add(TEXTS, ids=IDS, metadatas=METAS)
    every = store.get()
    assert sorted(r.id for r in every) == sorted(IDS)
    assert all(
        (r.text, r.metadata) == (TEXTS[IDS.index(r.id)], METAS[IDS.index(r.id)]) for r in every
    )
    pages = [r.id for o in range(0, 60, 25) for r in store.get(limit=25, offset=o)]
    assert pages == [r.id for r in every]
    odd = store.get(where={"group": "odd"})
    assert sorted(r.id for r in odd) == sorted(IDS[1::2])
    assert [r.id for r in store.get(["doc-3", "doc-2", "doc-1"], where={"group": "odd"})] == [
        "doc-3",
        "doc-1",
    ]
    with pytest.raises(ValueError, match="offset must be a whole number >= 0, got -1"):
        store.get(offset=-1)
    with pytest.raises(InvalidArgumentError, match="limit"):
        store.get(limit=0)


def test_reset_and_drop(make_store, embedder) -> None:
    store = make_store(search_dim=16, hnsw={"ef_search": 77})
    client = make_store.client
    before = {c.name for c in client.list_collections()}
    store.add(TEXTS[:10], ids=IDS[:10], metadatas=METAS[:10])
    adaptor = store.fit_adaptor()
    store.reindex(16, adaptor=adaptor)
    name = store.collection.name
    assert len({c.name for c in client.list_collections()}) > len(before)  # the adaptor's
    store.reset()
    assert store.count() == 0 and store.get() == [] and store.adaptor is None
    assert store.search_dim == 16
    assert store.collection.configuration_json["hnsw"]["ef_search"] == 77
    store.add(TEXTS[10:13], ids=IDS[10:13])
    assert [h.id for h in store.search(TEXTS[11], k=1)] == [IDS[11]]
    assert {c.name for c in client.list_collections()} == before  # no side collection left
    store.drop()
    assert name not in {c.name for c in client.list_collections()}
    with pytest.raises(Exception, match="closed"):
        store.count()
    if make_store.kind == "persistent-local":
        assert not any(
            (Path(client.get_settings().persist_directory) / "mrl_rag").glob("*/log.bin")
        )


def test_rerunning_an_upsert_embeds_and_writes_only_what_changed(
    make_store, embedder, monkeypatch
) -> None:
    store = make_store(search_dim=8)
    store.add(TEXTS[:10], ids=IDS[:10], metadatas=METAS[:10], upsert=True)
    calls = record_model_calls(monkeypatch, embedder)

    def logs() -> list[int] | None:  # the local files' sizes (no files: nothing to compare)
        if store._files is None:
            return None
        return sorted(p.stat().st_size for p in store._files.log_path.parent.glob("*"))

    before = logs()
    store.add(TEXTS[:10], ids=IDS[:10], metadatas=METAS[:10], upsert=True)
    assert calls == [] and logs() == before  # nothing embedded, nothing written
    changed_meta = [dict(m) for m in METAS[:10]]
    changed_meta[3]["n"] = 99
    texts = list(TEXTS[:10])
    texts[7] = "a brand new text about trains"
    store.add(texts, ids=IDS[:10], metadatas=changed_meta, upsert=True)
    assert [t for c in calls for t in c] == [TEXTS[3], texts[7]]
    assert store.get([IDS[3]])[0].metadata["n"] == 99
    assert store.search(texts[7], k=1)[0].id == IDS[7]


def test_info_lists_the_stores_of_a_folder(tmp_path: Path, embedder, capsys) -> None:
    from mrl_rag.cli import main

    path = tmp_path / "db"
    client = chromadb.PersistentClient(path=str(path))
    a = MatryoshkaStore(
        embedder, client=client, collection="alpha", search_dim=8, full_dtype="float16"
    )
    a.add(TEXTS[:5], ids=IDS[:5])
    b = MatryoshkaStore(
        embedder, client=client, collection="beta", full_vectors="chroma", search_dim=16
    )
    b.add(TEXTS[:3], ids=IDS[:3])
    b.reindex(16, adaptor=b.fit_adaptor())
    client.create_collection("plain-one")  # not mrl-rag's: left out
    info = a.info()
    assert (info.collection, info.model, info.full_dim, info.search_dim) == (
        "alpha",
        "tiny-mrl",
        64,
        8,
    )
    assert (info.full_vectors, info.full_dtype, info.count) == ("local", "float16", 5)
    assert info.files_bytes and info.files_bytes > 5 * 64 * 2
    assert [s.collection for s in list_stores(client)] == ["alpha", "beta"]
    assert b.info().adaptor == b.adaptor.fingerprint and b.info().files_bytes is None
    a.close(), b.close()
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == [
        "collection",
        "model",
        "full",
        "search",
        "format",
        "adaptor",
        "records",
        "files",
    ]
    assert out[1].split()[:6] == ["alpha", "tiny-mrl", "64", "8", "local", "float16"]
    assert out[2].split()[:5] == ["beta", "tiny-mrl", "64", "16", "chroma"] and len(out) == 3
    assert main(["info", str(tmp_path / "nope")]) == 2
    assert "is not an embedded Chroma folder" in capsys.readouterr().err


def test_compact_reclaims_deleted_and_replaced_records(tmp_path: Path, embedder) -> None:
    path = tmp_path / "db"
    store = MatryoshkaStore(embedder, path=path, collection="col", search_dim=8, full_dtype="int8")
    store.add(TEXTS, ids=IDS, metadatas=METAS)
    store.delete(IDS[:20])
    store.add(TEXTS[20:30], ids=IDS[20:30], metadatas=[{"v": 2}] * 10, upsert=True)
    before_hits = [
        [(h.id, h.score, h.text, h.metadata) for h in store.search(q, k=8)] for q in QUERIES
    ]
    before_full = store.full_vectors(IDS[20:])
    before_records = store.get()
    size = store.info().files_bytes
    reclaimed = store.compact()
    assert reclaimed > 0 and store.info().files_bytes == size - reclaimed
    assert [
        [(h.id, h.score, h.text, h.metadata) for h in store.search(q, k=8)] for q in QUERIES
    ] == before_hits
    np.testing.assert_array_equal(store.full_vectors(IDS[20:]), before_full)  # bytes kept
    assert sorted(store.get(), key=lambda r: r.id) == sorted(before_records, key=lambda r: r.id)
    assert store.compact() == 0  # nothing left to reclaim
    store.add(["one more text about tea"], ids=["new"])
    store.close()
    reopened = MatryoshkaStore(embedder, path=path, collection="col")
    assert reopened.count() == 41 and reopened.get(["new"])[0].text == "one more text about tea"
    assert not list(path.glob("mrl_rag/*.compact")) and not list(path.glob("mrl_rag/*.old"))
    reopened.close()
    remote = MatryoshkaStore(
        embedder, client=chromadb.EphemeralClient(), collection="rem", search_dim=8
    )
    assert remote.compact() == 0


def test_compact_command_needs_no_model(tmp_path: Path, embedder, capsys) -> None:
    from mrl_rag.cli import main

    path = tmp_path / "db"
    store = MatryoshkaStore(embedder, path=path, collection="col", search_dim=8)
    store.add(TEXTS, ids=IDS)
    store.delete(IDS[:30])
    hits = [(h.id, h.score) for h in store.search(QUERIES[0], k=5)]
    store.close()
    assert main(["compact", str(path), "--collection", "col"]) == 0
    assert "Compacted 'col'" in capsys.readouterr().out
    with MatryoshkaStore(embedder, path=path, collection="col") as reopened:
        assert [(h.id, h.score) for h in reopened.search(QUERIES[0], k=5)] == hits
    assert main(["compact", str(path), "--collection", "nope"]) == 2
    assert "no mrl-rag store 'nope'" in capsys.readouterr().err
