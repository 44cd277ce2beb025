"""The LangChain adapter in real chains: LCEL RAG, agent tool, per-call overrides, plain Chroma."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import chromadb
import numpy as np
import pytest
from langchain_chroma import Chroma
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.messages import ToolMessage
from langchain_mrl_rag import MatryoshkaRetriever, MatryoshkaVectorStore

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

import langchain_agent_tool  # noqa: E402
import langchain_rag_chain  # noqa: E402
from _lc_common import offline_embeddings, small_vector_store  # noqa: E402

from .conftest import run_example  # noqa: E402

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::mrl_rag.TruncationQualityWarning"),
]


def test_lcel_rag_chain_puts_retrieved_context_in_the_prompt() -> None:
    chain, _ = langchain_rag_chain.build_chain()
    recorder = langchain_rag_chain.PromptRecorder()
    answer = chain.invoke("Which organelle makes ATP?", config={"callbacks": [recorder]})
    assert answer == "Mitochondria produce most ATP."
    (prompt,) = recorder.prompts
    assert "[doc-5] Mitochondria produce most of a cell's supply of ATP" in prompt
    assert prompt.rstrip().endswith("Which organelle makes ATP?")


def test_agent_tool_returns_the_answering_document() -> None:
    tool = langchain_agent_tool.build_tool()
    messages, answer = langchain_agent_tool.run_agent(
        langchain_agent_tool.scripted_model(), tool, langchain_agent_tool.QUESTION
    )
    (tool_message,) = [m for m in messages if isinstance(m, ToolMessage)]
    assert tool_message.tool_call_id == "call-1"
    first = str(tool_message.content).split("\n\n")[0]
    assert first == "Antibiotics kill bacteria but have no effect on viruses such as influenza."
    assert answer.startswith("No")


@pytest.fixture(scope="module")
def vector_store() -> MatryoshkaVectorStore:
    return small_vector_store(offline_embeddings(), search_dim=64)


async def test_retriever_fields_and_per_call_overrides(vector_store) -> None:
    store = vector_store.store
    retriever = MatryoshkaRetriever(store=store, k=3)
    docs = retriever.invoke("how is espresso brewed")
    assert len(docs) == 3 and docs[0].id == "doc-16"
    hits = store.search("how is espresso brewed", k=3)
    assert [d.id for d in docs] == [h.id for h in hits]
    meta = docs[0].metadata
    assert meta["mrl_id"] == "doc-16" and meta["n"] == 16
    assert meta["mrl_score"] == pytest.approx(hits[0].score)
    assert meta["mrl_search_score"] == pytest.approx(hits[0].search_score)
    assert len(retriever.invoke("espresso", k=1)) == 1
    filtered = retriever.invoke("espresso", filter={"n": {"$lt": 5}})
    assert filtered and all(d.metadata["n"] < 5 for d in filtered)
    at64 = retriever.invoke("espresso", rerank_dim=64, shortlist=10)
    assert at64[0].metadata["mrl_score"] != pytest.approx(docs[0].metadata["mrl_score"])
    assert [d.id for d in await retriever.ainvoke("how is espresso brewed")] == [d.id for d in docs]
    with pytest.raises(ValueError, match="rerank_dim=32 is below the store's search_dim"):
        retriever.invoke("espresso", rerank_dim=32)


def test_vector_store_search_scores_and_retriever(vector_store) -> None:
    pairs = vector_store.similarity_search_with_score("tallest mountain in the world", k=2)
    assert pairs[0][0].id == "doc-2" and -1.0 <= pairs[0][1] <= 1.0
    assert pairs[0][1] >= pairs[1][1]
    as_retriever = vector_store.as_retriever(search_kwargs={"k": 1})
    assert as_retriever.invoke("tallest mountain in the world")[0].id == "doc-2"
    full = vector_store.embeddings.embed_query("tallest mountain in the world")
    assert vector_store.similarity_search_by_vector(full, k=1)[0].id == "doc-2"
    relevance = vector_store.similarity_search_with_relevance_scores("tallest mountain", k=1)
    assert 0.0 <= relevance[0][1] <= 1.0


def test_vector_store_needs_matryoshka_embeddings() -> None:
    with pytest.raises(TypeError, match="needs MatryoshkaEmbeddings"):
        MatryoshkaVectorStore(DeterministicFakeEmbedding(size=8))  # type: ignore[arg-type]
    # A truncating embeddings object would be silently ignored by the store: refused.
    with pytest.raises(ValueError, match=r"dim=128\) cuts vectors.*search_dim=128"):
        MatryoshkaVectorStore(offline_embeddings(dim=128), client=chromadb.EphemeralClient())


def test_by_vector_takes_what_embed_query_returns(vector_store) -> None:
    query = "tallest mountain in the world"
    full = vector_store.embeddings.embed_query(query)
    assert len(full) == vector_store.store.profile.full_dim
    assert vector_store.similarity_search_by_vector(full, k=1)[0].id == "doc-2"


def test_embeddings_in_plain_langchain_chroma() -> None:
    """The simple path: truncated search with the right prefixes in a plain Chroma."""
    embeddings = offline_embeddings(dim=128, query_prefix="query: ")
    core = embeddings.matryoshka_embedder
    client = chromadb.EphemeralClient()
    plain = Chroma(client=client, collection_name="plain-path", embedding_function=embeddings)
    plain.add_texts(["The Moon causes the tides.", "Espresso is pressured coffee."], ids=["a", "b"])
    stored = client.get_collection("plain-path").get(ids=["a"], include=["embeddings"])[
        "embeddings"
    ]
    assert stored.shape == (1, 128)
    np.testing.assert_allclose(
        stored[0], core.embed_documents(["The Moon causes the tides."], dim=128)[0], atol=1e-6
    )
    query = np.array(embeddings.embed_query("tides"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = core.embed_query("tides", dim=128)
        unprefixed = core.truncate(core.model.encode(["tides"], normalize_embeddings=True), 128)[0]
    np.testing.assert_allclose(query, expected, atol=1e-6)
    assert not np.allclose(query, unprefixed, atol=1e-3)  # the query prefix was applied
    assert plain.similarity_search("why are there tides", k=1)[0].page_content.startswith(
        "The Moon"
    )


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("langchain_rag_chain.py", "[doc-5] Mitochondria"),
        ("langchain_agent_tool.py", "Antibiotics kill bacteria"),
        ("langchain_switch_dimension.py", "with 0 model calls"),
    ],
)
def test_examples_run(script: str, expected: str) -> None:
    result = run_example(script, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert expected in result.stdout


def test_vector_store_accepts_where_as_well_as_filter(vector_store) -> None:
    by_filter = vector_store.similarity_search("espresso", k=3, filter={"n": {"$lt": 5}})
    by_where = vector_store.similarity_search("espresso", k=3, where={"n": {"$lt": 5}})
    assert [d.id for d in by_filter] == [d.id for d in by_where]
    assert all(d.metadata["n"] < 5 for d in by_where)
    assert vector_store.get_by_ids([]) == []


async def test_retriever_batch_is_one_search_with_a_run_per_query(vector_store) -> None:
    """batch/abatch: one model call and one Chroma query, one callback run per input."""
    from langchain_core.callbacks import BaseCallbackHandler

    class Runs(BaseCallbackHandler):
        def __init__(self) -> None:
            self.started: list[str] = []
            self.ended: list[int] = []

        def on_retriever_start(self, serialized, query, **kwargs) -> None:
            self.started.append(query)

        def on_retriever_end(self, documents, **kwargs) -> None:
            self.ended.append(len(documents))

    store = vector_store.store
    retriever = MatryoshkaRetriever(store=store, k=2)
    queries = ["how is espresso brewed", "tallest mountain in the world", "espresso"]
    one_by_one = [[d.id for d in retriever.invoke(q)] for q in queries]
    calls = []
    real = store._search_many
    store._search_many = lambda queries, *a: calls.append(len(queries)) or real(queries, *a)
    try:
        runs = Runs()
        batched = retriever.batch(queries, config={"callbacks": [runs]})
        assert [[d.id for d in docs] for docs in batched] == one_by_one
        assert calls == [3]  # one first stage for the whole batch
        assert runs.started == queries and runs.ended == [2, 2, 2]
        abatched = await retriever.abatch(queries, k=1)
        assert [[d.id for d in docs] for docs in abatched] == [ids[:1] for ids in one_by_one]
    finally:
        del store._search_many
    assert [d.id for d in await retriever.ainvoke(queries[0], k=1)] == one_by_one[0][:1]
    with pytest.raises(TypeError, match="unexpected arguments: \\['kk'\\]"):
        retriever.invoke("espresso", kk=1)
    failed = retriever.batch(["espresso", "  "], return_exceptions=True)
    assert all(isinstance(f, ValueError) and "queries[1]" in str(f) for f in failed)


async def test_max_marginal_relevance_in_every_form(vector_store) -> None:
    """MMR on the full vectors of the first stage's fetch_k candidates, sync, async, retriever."""
    store, query = vector_store.store, "food and drink"
    core = [h.id for h in store.search(query, k=4, shortlist=24, mmr_lambda=0.2)]
    plain = [h.id for h in store.search(query, k=4, shortlist=24)]
    assert core != plain  # diversity changes the picks on this data
    found = vector_store.max_marginal_relevance_search(query, k=4, fetch_k=24, lambda_mult=0.2)
    assert [d.id for d in found] == core
    full = vector_store.embeddings.embed_query(query)
    by_vector = vector_store.max_marginal_relevance_search_by_vector(
        full, k=4, fetch_k=24, lambda_mult=0.2
    )
    assert [d.id for d in by_vector] == core
    found = await vector_store.amax_marginal_relevance_search(
        query, k=4, fetch_k=24, lambda_mult=0.2
    )
    assert [d.id for d in found] == core
    retriever = vector_store.as_retriever(
        search_type="mmr", search_kwargs={"k": 4, "fetch_k": 24, "lambda_mult": 0.2}
    )
    assert [d.id for d in retriever.invoke(query)] == core
    assert [d.id for d in await retriever.ainvoke(query)] == core
    small = vector_store.max_marginal_relevance_search(query, k=3, filter={"n": {"$lt": 8}})
    assert len(small) == 3 and all(d.metadata["n"] < 8 for d in small)


def test_score_by_vector_and_ambiguous_arguments(vector_store) -> None:
    full = vector_store.embeddings.embed_query("tallest mountain in the world")
    pairs = vector_store.similarity_search_with_score_by_vector(full, k=2)
    by_text = vector_store.similarity_search_with_score("tallest mountain in the world", k=2)
    assert [(d.id, round(s, 5)) for d, s in pairs] == [(d.id, round(s, 5)) for d, s in by_text]
    with pytest.raises(ValueError, match="as filter= or as where=, not both"):
        vector_store.similarity_search("espresso", k=3, filter={"n": 1}, where={"n": 2})
    count = vector_store.store.count()
    with pytest.raises(TypeError, match=r"got a single str; wrap it in a list \(\[text\]\)"):
        vector_store.add_texts("just one string")
    assert vector_store.store.count() == count


def test_every_entry_point_opens_the_same_default_store(tmp_path, monkeypatch) -> None:
    from _li_common import offline_embed_model
    from llama_index.vector_stores.mrl_rag import MatryoshkaVectorStore as LlamaIndexStore

    from mrl_rag import MatryoshkaStore, StoreNotFoundError

    monkeypatch.chdir(tmp_path)
    embeddings = offline_embeddings()
    core = MatryoshkaStore(embeddings.matryoshka_embedder)  # ./mrl_store, collection mrl_rag
    core.add(["Espresso is brewed under pressure."], ids=["e"])
    core.close()
    assert (tmp_path / "mrl_store").is_dir()
    lc = MatryoshkaVectorStore(embeddings, create=False)
    assert lc.get_by_ids(["e"])[0].page_content.startswith("Espresso")
    lc.store.close()
    li = LlamaIndexStore.from_embedding(offline_embed_model(), create=False)
    assert li.get_nodes(["e"])[0].get_content().startswith("Espresso")
    li.store.close()
    with pytest.raises(StoreNotFoundError, match="No store called 'mrl-rag'"):
        MatryoshkaVectorStore(embeddings, collection_name="mrl-rag", create=False)


def test_get_update_reset_and_delete_collection_as_in_langchain_chroma() -> None:
    from langchain_core.documents import Document

    vs = small_vector_store(offline_embeddings())
    got = vs.get(where={"n": {"$lt": 3}})
    assert sorted(got["ids"]) == ["doc-0", "doc-1", "doc-2"] and set(got) == {
        "ids",
        "documents",
        "metadatas",
    }
    assert vs.get("doc-4", include=["metadatas"]) == {"ids": ["doc-4"], "metadatas": [{"n": 4}]}
    page = vs.get(limit=5, offset=20, include=["embeddings"])
    assert len(page["ids"]) == 4 and page["embeddings"].shape == (4, 384)
    assert vs._collection is vs.store.collection
    with pytest.raises(ValueError, match="allowed: documents, metadatas, embeddings"):
        vs.get(include=["uris"])
    with pytest.raises(ValueError, match=r"where_document=\.\.\.\) is not supported"):
        vs.get(where_document={"$contains": "x"})
    vs.update_document("doc-4", Document(page_content="Espresso, again.", metadata={"n": 40}))
    assert vs.get_by_ids(["doc-4"])[0].page_content == "Espresso, again."
    assert vs.similarity_search("Espresso, again.", k=1)[0].id == "doc-4"
    vs.reset_collection()
    assert vs.get()["ids"] == [] and vs.store.count() == 0
    vs.add_texts(["after the reset"], ids=["r"])
    assert vs.get_by_ids(["r"])[0].page_content == "after the reset"
    name, client = vs.store.collection.name, vs.store._client
    vs.delete_collection()
    assert name not in {c.name for c in client.list_collections()}


def test_langchain_chroma_names_for_vectors_and_scores(vector_store) -> None:
    query = "tallest mountain in the world"
    full = vector_store.embeddings.embed_query(query)
    by_name = vector_store.similarity_search_by_vector_with_relevance_scores(full, k=2)
    assert by_name == vector_store.similarity_search_with_score_by_vector(full, k=2)
    pairs = vector_store.similarity_search_with_vectors(query, k=2)
    assert [d.id for d, _ in pairs] == [d.id for d, _ in by_name]
    for (_doc, vector), (_, score) in zip(pairs, by_name, strict=True):
        assert vector.shape == (384,) and float(vector @ np.asarray(full)) == pytest.approx(score)
