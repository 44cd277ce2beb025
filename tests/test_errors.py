"""One exception family: every bad input is an MRLRagError naming the parameter and value.

Each case is run on a real embedded store, and where the LangChain adapter
offers the same call, through it too: the same misuse gets the same type.
After each refusal the store holds exactly what it held before.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import inspect
from pathlib import Path

import numpy as np
import pytest

import mrl_rag
from mrl_rag import (
    ArgumentTypeError,
    InvalidArgumentError,
    InvalidDimensionError,
    InvalidTextError,
    InvalidVectorError,
    MatryoshkaEmbedder,
    MatryoshkaStore,
    MRLRagError,
    RecordNotFoundError,
)

from .conftest import TINY_DIM, tiny_profile

ROOT = Path(__file__).resolve().parents[1]
N = 12


@pytest.fixture
def store(tmp_path):
    with MatryoshkaStore(profile=tiny_profile(), path=tmp_path / "s", search_dim=16) as opened:
        vectors = np.random.default_rng(0).normal(size=(N, TINY_DIM)).astype(np.float32)
        opened.add_vectors([f"r{i}" for i in range(N)], vectors, texts=[f"t {i}" for i in range(N)])
        yield opened


def _snapshot(store: MatryoshkaStore) -> list:
    return [(r.id, r.text, r.metadata) for r in store.get()]


QUERY = np.random.default_rng(1).normal(size=TINY_DIM).astype(np.float32)

CASES = [
    # (label, call, error type, words the message must hold)
    (
        "nan query",
        lambda s: s.search_by_vector(np.full(TINY_DIM, np.nan)),
        InvalidVectorError,
        ["query_vector", "NaN"],
    ),
    (
        "zero query",
        lambda s: s.search_by_vector(np.zeros(TINY_DIM)),
        InvalidVectorError,
        ["query_vector", "all zeros"],
    ),
    (
        "short query",
        lambda s: s.search_by_vector(QUERY[:8]),
        InvalidVectorError,
        ["query_vector", "64-dimensional", "(8,)"],
    ),
    (
        "zero document",
        lambda s: s.add_vectors(["z"], np.zeros((1, TINY_DIM))),
        InvalidVectorError,
        ["full_vectors[0]", "all zeros"],
    ),
    (
        "nan document",
        lambda s: s.add_vectors(["z"], np.full((1, TINY_DIM), np.nan)),
        InvalidVectorError,
        ["full_vectors[0]", "NaN"],
    ),
    (
        "shortlist 0",
        lambda s: s.search_by_vector(QUERY, shortlist=0),
        InvalidArgumentError,
        ["shortlist", "positive integer", "0"],
    ),
    (
        "k 2**63",
        lambda s: s.search_by_vector(QUERY, k=2**63),
        InvalidArgumentError,
        ["k must be", "at most 2147483647", str(2**63)],
    ),
    (
        "k float",
        lambda s: s.search_by_vector(QUERY, k=3.0),
        InvalidArgumentError,
        ["k must be a positive integer", "3.0", "float"],
    ),
    (
        "rerank_dim",
        lambda s: s.search_by_vector(QUERY, rerank_dim=12),
        InvalidDimensionError,
        ["rerank_dim=12", "Allowed"],
    ),
    (
        "cascade",
        lambda s: s.search_by_vector(QUERY, cascade=[(32, 0)]),
        InvalidArgumentError,
        ["cascade[0] keep", "0"],
    ),
    (
        "adaptor nope",
        lambda s: s.reindex(16, adaptor="nope"),
        ArgumentTypeError,
        ["adaptor", "'nope'", "OrthogonalAdaptor"],
    ),
    (
        "surrogate id",
        lambda s: s.add_vectors(["\ud800"], QUERY[None], texts=["x"]),
        InvalidArgumentError,
        ["ids[0]", "lone surrogate"],
    ),
    (
        "surrogate text",
        lambda s: s.add_vectors(["x"], QUERY[None], texts=["a\udfff"]),
        InvalidTextError,
        ["texts[0]", "lone surrogate"],
    ),
    (
        "surrogate metadata",
        lambda s: s.add_vectors(["x"], QUERY[None], metadatas=[{"k": "\ud800"}]),
        InvalidArgumentError,
        ["metadatas[0]['k']", "lone surrogate"],
    ),
    (
        "batch_size",
        lambda s: s.add_vectors(["x"], QUERY[None], batch_size=0),
        InvalidArgumentError,
        ["batch_size", "0"],
    ),
    ("missing ids", lambda s: s.full_vectors(["r0", "nope"]), RecordNotFoundError, ["'nope'"]),
    (
        "mmr_lambda",
        lambda s: s.search_by_vector(QUERY, mmr_lambda=1.5),
        InvalidArgumentError,
        ["mmr_lambda", "1.5"],
    ),
]


@pytest.mark.parametrize(("label", "call", "kind", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_a_clear_library_error_and_changes_nothing(store, label, call, kind, words):
    before = _snapshot(store)
    with pytest.raises(kind) as caught:
        call(store)
    assert isinstance(caught.value, MRLRagError)
    message = str(caught.value)
    for word in words:
        assert word in message, (label, message)
    assert _snapshot(store) == before


@pytest.mark.parametrize("search_dim", [4.9, "16", 16.0, True, 12, 128])
def test_reopening_refuses_what_creating_refuses(tmp_path, search_dim) -> None:
    path = tmp_path / "s"
    MatryoshkaStore(profile=tiny_profile(), path=path, search_dim=16).close()
    for attempt in ("reopen", "new"):
        target = path if attempt == "reopen" else tmp_path / "new"
        with pytest.raises(InvalidDimensionError, match="search_dim"):
            MatryoshkaStore(profile=tiny_profile(), path=target, search_dim=search_dim)
    assert not (tmp_path / "new").exists() or not any((tmp_path / "new").iterdir())


def test_the_embedder_checks_texts_and_dims_once_with_the_same_errors(tiny_model_path) -> None:
    embedder = MatryoshkaEmbedder(tiny_model_path, profile=tiny_profile())
    with pytest.raises(InvalidTextError, match=r"text holds a lone surrogate"):
        embedder.embed_query("a\ud800")
    with pytest.raises(InvalidTextError, match=r"texts\[1\] is empty"):
        embedder.embed_documents(["fine", " "])
    with pytest.raises(InvalidDimensionError, match="dim=12 is not a dimension"):
        embedder.embed_query("cat", dim=12)
    with pytest.raises(InvalidDimensionError, match=r"dim must be a positive integer, got '8'"):
        asyncio.run(embedder.aembed_query("cat", dim="8"))  # type: ignore[arg-type]


def test_langchain_adapter_raises_what_the_core_raises(tiny_model_path) -> None:
    import chromadb
    from langchain_mrl_rag import MatryoshkaEmbeddings, MatryoshkaVectorStore

    embeddings = MatryoshkaEmbeddings(model=str(tiny_model_path), profile=None)
    lc = MatryoshkaVectorStore(embeddings, client=chromadb.EphemeralClient(), collection_name="err")
    lc.add_texts(["the cat", "the dog"], ids=["a", "b"])
    core = lc.store
    pairs = [
        (lambda: lc.add_texts("one string"), lambda: core.add("one string")),
        (lambda: lc.add_texts(["ok", "a\ud800"]), lambda: core.add(["ok", "a\ud800"])),
        (lambda: lc.similarity_search("cat", k=0), lambda: core.search("cat", k=0)),
        (lambda: lc.similarity_search("cat", k=2**40), lambda: core.search("cat", k=2**40)),
        (
            lambda: lc.similarity_search_by_vector([float("nan")] * TINY_DIM),
            lambda: core.search_by_vector(np.full(TINY_DIM, np.nan)),
        ),
        (
            lambda: lc.similarity_search_by_vector([0.0] * TINY_DIM),
            lambda: core.search_by_vector(np.zeros(TINY_DIM)),
        ),
        (lambda: lc.similarity_search("", k=1), lambda: core.search("", k=1)),
    ]
    for adapter_call, core_call in pairs:
        with pytest.raises(MRLRagError) as from_adapter:
            adapter_call()
        with pytest.raises(MRLRagError) as from_core:
            core_call()
        assert type(from_adapter.value) is type(from_core.value), (from_adapter, from_core)
    assert core.count() == 2
    core.drop()


def _library_errors() -> set[str]:
    return {
        name
        for name, obj in vars(mrl_rag).items()
        if inspect.isclass(obj) and issubclass(obj, MRLRagError)
    }


def test_the_library_raises_only_its_own_errors() -> None:
    """No ``raise ValueError(...)`` and friends: every raised class is an MRLRagError.

    Allowed besides: ``AssertionError`` (an internal invariant), ``SystemExit``
    (a command's exit status), re-raising what
    was caught, and a class passed in as a parameter (``error``/``kind``).
    """
    allowed = _library_errors() | {"AssertionError", "SystemExit"}
    sources = [*ROOT.glob("mrl_rag/**/*.py"), *ROOT.glob("integrations/*/**/*.py")]
    offenders = []
    for path in sources:
        if "egg-info" in str(path):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Raise) or node.exc is None:
                continue
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if not isinstance(target, ast.Name):
                continue
            name = target.id
            is_builtin_error = isinstance(getattr(builtins, name, None), type)
            if is_builtin_error and name not in allowed:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} raises {name}")
    assert not offenders, "\n".join(offenders)
