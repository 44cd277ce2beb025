"""The LlamaIndex adapter with the real offline model and real Chroma."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import chromadb
import numpy as np
import pytest
from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.llms import MockLLM
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import MetadataMode, NodeRelationship, QueryBundle
from llama_index.core.vector_stores import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)
from llama_index.retrievers.mrl_rag import MatryoshkaRetriever
from llama_index.vector_stores.chroma import ChromaVectorStore
from llama_index.vector_stores.mrl_rag import MatryoshkaVectorStore, to_chroma_where

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

import llamaindex_agent_tool  # noqa: E402
from _li_common import offline_embed_model, small_index  # noqa: E402
from demo_dimensions import DOCUMENTS  # noqa: E402

from .conftest import record_model_calls, run_example  # noqa: E402

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::mrl_rag.TruncationQualityWarning"),
]


@pytest.fixture(scope="module")
def embed_model():
    return offline_embed_model()


@pytest.fixture(scope="module")
def built(embed_model):
    return small_index(embed_model, search_dim=64)


def test_embedding_prefixes_batches_and_async(embed_model) -> None:
    assert type(embed_model).class_name() == "MatryoshkaEmbedding"
    core = embed_model.matryoshka_embedder
    prefixed = offline_embed_model(query_prefix="query: ", text_prefix="passage: ")
    np.testing.assert_allclose(
        prefixed.get_query_embedding("tides"), core.embed_documents(["query: tides"])[0], atol=1e-5
    )
    np.testing.assert_allclose(
        prefixed.get_text_embedding("tides"), core.embed_documents(["passage: tides"])[0], atol=1e-5
    )
    batch = embed_model.get_text_embedding_batch(DOCUMENTS[:5])
    np.testing.assert_allclose(batch, core.embed_documents(DOCUMENTS[:5]), atol=1e-5)
    assert len(offline_embed_model(dim=96).get_query_embedding("tides")) == 96


async def test_async_embeddings(embed_model) -> None:
    vector = await embed_model.aget_query_embedding("tides")
    np.testing.assert_allclose(vector, embed_model.get_query_embedding("tides"), atol=1e-6)
    texts = await embed_model.aget_text_embedding_batch(DOCUMENTS[:3])
    assert np.asarray(texts).shape == (3, 384)


def test_embedding_needs_a_model_name() -> None:
    from llama_index.embeddings.mrl_rag import MatryoshkaEmbedding

    with pytest.raises(ValueError, match="model_name is required"):
        MatryoshkaEmbedding()


def test_query_engine_sends_retrieved_text_to_the_synthesizer(built) -> None:
    index, _ = built
    response = index.as_query_engine(llm=MockLLM(), similarity_top_k=2).query(
        "Which organelle makes ATP?"
    )
    top = response.source_nodes[0]
    assert top.node.ref_doc_id == "doc-5"
    assert top.node.metadata == {"topic": "science", "n": 5}
    assert top.node.relationships[NodeRelationship.SOURCE].node_id == "doc-5"
    assert "Mitochondria produce most of a cell's supply of ATP" in str(response)  # MockLLM echoes


def test_retriever_query_engine_with_filters(built) -> None:
    _, vector_store = built
    retriever = MatryoshkaRetriever(
        vector_store.store,
        similarity_top_k=1,
        filters=MetadataFilters(filters=[MetadataFilter(key="topic", value="food")]),
    )
    response = RetrieverQueryEngine.from_args(retriever, llm=MockLLM()).query("a hot drink")
    assert response.source_nodes[0].node.metadata["topic"] == "food"
    assert "Espresso" in str(response)


def test_scores_are_cosines_and_precomputed_embeddings_are_used(built, embed_model) -> None:
    _, vector_store = built
    retriever = MatryoshkaRetriever(vector_store.store, similarity_top_k=3)
    nodes = retriever.retrieve("why does the sea have tides")
    core = vector_store.store.search("why does the sea have tides", k=3)
    assert [n.node.node_id for n in nodes] == [h.id for h in core]
    assert [n.score for n in nodes] == pytest.approx([h.score for h in core])
    q = np.array(embed_model.get_query_embedding("why does the sea have tides"))
    # LlamaIndex embeds a node with its metadata (MetadataMode.EMBED).
    d = np.array(
        embed_model.get_text_embedding(nodes[0].node.get_content(metadata_mode=MetadataMode.EMBED))
    )
    assert nodes[0].score == pytest.approx(float(q @ d), abs=1e-5)
    # A precomputed embedding wins over the text.
    other = embed_model.get_query_embedding("how is espresso brewed")
    bundle = QueryBundle(query_str="why does the sea have tides", embedding=other)
    assert "Espresso" in retriever.retrieve(bundle)[0].node.get_content()


def test_delete_ref_doc_removes_every_node(embed_model) -> None:
    vector_store = MatryoshkaVectorStore.from_embedding(
        embed_model,
        client=chromadb.EphemeralClient(),
        collection_name=f"del-{uuid.uuid4().hex[:8]}",
        search_dim=64,
    )
    long_doc = Document(text=" ".join(DOCUMENTS), doc_id="long")
    short_doc = Document(text=DOCUMENTS[0], doc_id="short")
    index = VectorStoreIndex.from_documents(
        [long_doc, short_doc],
        storage_context=StorageContext.from_defaults(vector_store=vector_store),
        embed_model=embed_model,
        transformations=[SentenceSplitter(chunk_size=64, chunk_overlap=0)],
    )
    assert vector_store.store.count() > 3
    index.delete_ref_doc("long")
    assert vector_store.store.count() == 1
    nodes = index.as_retriever(similarity_top_k=5).retrieve("Eiffel Tower")
    assert [n.node.ref_doc_id for n in nodes] == ["short"]


def test_metadata_filters_translate_to_chroma(built) -> None:
    f = MetadataFilters(
        filters=[
            MetadataFilter(key="topic", operator=FilterOperator.IN, value=["food", "culture"]),
            MetadataFilters(
                filters=[
                    MetadataFilter(key="n", operator=FilterOperator.GTE, value=22),
                    MetadataFilter(key="n", operator=FilterOperator.LT, value=17),
                ],
                condition=FilterCondition.OR,
            ),
        ],
        condition=FilterCondition.AND,
    )
    assert to_chroma_where(f) == {
        "$and": [
            {"topic": {"$in": ["food", "culture"]}},
            {"$or": [{"n": {"$gte": 22}}, {"n": {"$lt": 17}}]},
        ]
    }
    index, _ = built
    nodes = index.as_retriever(similarity_top_k=10, filters=f).retrieve("anything at all")
    assert sorted(n.node.metadata["n"] for n in nodes) == [16, 22, 23]
    bad = MetadataFilters(
        filters=[MetadataFilter(key="topic", operator=FilterOperator.TEXT_MATCH, value="foo")]
    )
    with pytest.raises(
        ValueError,
        match=r"operator 'text_match' \(on key 'topic'\) is not supported.*supported: ==, !=, >",
    ):
        index.as_retriever(filters=bad).retrieve("x")


def test_truncated_embed_model_is_refused_by_the_funnel_store(embed_model) -> None:
    vector_store = MatryoshkaVectorStore.from_embedding(
        embed_model, client=chromadb.EphemeralClient(), collection_name=f"t-{uuid.uuid4().hex[:8]}"
    )
    with pytest.raises(
        ValueError, match=r"needs full 384-dimensional node embedding.*got a 128-dimensional"
    ):
        VectorStoreIndex.from_documents(
            [Document(text="hello")],
            storage_context=StorageContext.from_defaults(vector_store=vector_store),
            embed_model=offline_embed_model(dim=128),
        )
    assert vector_store.store.count() == 0


def test_plain_chroma_vector_store_with_matryoshka_embedding() -> None:
    """The simple path: LlamaIndex's own ChromaVectorStore, 128-d truncated vectors."""
    client = chromadb.EphemeralClient()
    collection = client.create_collection(f"plain-{uuid.uuid4().hex[:8]}")
    embed_model = offline_embed_model(dim=128)
    index = VectorStoreIndex.from_documents(
        [Document(text=t) for t in DOCUMENTS],
        storage_context=StorageContext.from_defaults(
            vector_store=ChromaVectorStore(chroma_collection=collection)
        ),
        embed_model=embed_model,
    )
    assert collection.get(limit=1, include=["embeddings"])["embeddings"].shape == (1, 128)
    best = index.as_retriever(similarity_top_k=1).retrieve("why does the sea have tides")[0]
    assert best.node.get_content().startswith("The Moon's gravity")


async def test_agent_tool_returns_the_answering_node() -> None:
    outputs, answer = await llamaindex_agent_tool.run_agent(
        llamaindex_agent_tool.build_tool(), llamaindex_agent_tool.QUESTION
    )
    assert len(outputs) == 1
    assert (
        "Antibiotics kill bacteria but have no effect on viruses such as influenza." in outputs[0]
    )
    assert answer.startswith("No")


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("llamaindex_query_engine.py", "Mitochondria produce most"),
        ("llamaindex_agent_tool.py", "Antibiotics kill bacteria"),
    ],
)
def test_examples_run(script: str, expected: str) -> None:
    result = run_example(script, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert expected in result.stdout


def test_nodes_without_text_are_stored(embed_model) -> None:
    from llama_index.core.schema import TextNode

    vector_store = MatryoshkaVectorStore.from_embedding(
        embed_model, client=chromadb.EphemeralClient(), collection_name=f"e-{uuid.uuid4().hex[:8]}"
    )
    node = TextNode(id_="empty", text="", metadata={"kind": "image"})
    node.embedding = embed_model.get_text_embedding("an image without a caption")
    assert vector_store.add([node]) == ["empty"]
    (got,) = vector_store.get_nodes(["empty"])
    assert got.get_content() == "" and got.metadata == {"kind": "image"}
    vector_store.delete_nodes([])  # nothing to delete: a no-op, not an error
    assert vector_store.store.count() == 1


async def test_retrieve_batch_is_one_search(built, embed_model) -> None:
    from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler

    _, vector_store = built
    debug = LlamaDebugHandler()
    retriever = MatryoshkaRetriever(
        vector_store.store, similarity_top_k=2, callback_manager=CallbackManager([debug])
    )
    queries = ["why does the sea have tides", "how is espresso brewed", "a hot drink"]
    one_by_one = [[n.node.node_id for n in retriever.retrieve(q)] for q in queries]
    debug.flush_event_logs()
    store = vector_store.store
    calls = []
    real = store._search_many
    store._search_many = lambda queries, *a: calls.append(len(queries)) or real(queries, *a)
    try:
        other = embed_model.get_query_embedding("how is espresso brewed")
        mixed = [queries[0], QueryBundle(query_str="ignored", embedding=other), queries[2]]
        batched = retriever.retrieve_batch(mixed)
        assert [[n.node.node_id for n in nodes] for nodes in batched] == one_by_one
        assert calls == [3]
        assert len(debug.get_event_pairs(CBEventType.RETRIEVE)) == 3
        again = await retriever.aretrieve_batch(queries)
        assert [[n.node.node_id for n in nodes] for nodes in again] == one_by_one
    finally:
        del store._search_many
    assert retriever.retrieve_batch([]) == []


def test_not_filters_exclude_what_they_name(built) -> None:
    """FilterCondition.NOT: none of the filters matches (as LlamaIndex defines it)."""
    index, vector_store = built
    every = {h.id: h.metadata for h in vector_store.store.search("anything", k=50, shortlist=50)}
    not_food = MetadataFilters(
        filters=[MetadataFilter(key="topic", value="food")], condition=FilterCondition.NOT
    )
    assert to_chroma_where(not_food) == {"topic": {"$ne": "food"}}
    got = index.as_retriever(similarity_top_k=50, filters=not_food).retrieve("a hot drink")
    assert {n.node.metadata["n"] for n in got} == {
        m["n"] for m in every.values() if m["topic"] != "food"
    }
    neither = MetadataFilters(
        filters=[
            MetadataFilter(key="topic", operator=FilterOperator.IN, value=["food", "science"]),
            MetadataFilter(key="n", operator=FilterOperator.NE, value=3),
        ],
        condition=FilterCondition.NOT,
    )
    assert to_chroma_where(neither) == {
        "$and": [{"topic": {"$nin": ["food", "science"]}}, {"n": {"$eq": 3}}]
    }
    got = index.as_retriever(similarity_top_k=50, filters=neither).retrieve("x")
    expected = {m["n"] for m in every.values() if m["topic"] not in ("food", "science")}
    assert {n.node.metadata["n"] for n in got} == expected & {3}
    ranged = MetadataFilters(
        filters=[MetadataFilter(key="n", operator=FilterOperator.GT, value=3)],
        condition=FilterCondition.NOT,
    )
    with pytest.raises(ValueError, match=r"NOT of 'gt' \(on key 'n'\) cannot be expressed"):
        index.as_retriever(filters=ranged).retrieve("x")


def test_mmr_mode_and_vector_store_kwargs_are_honoured(built, embed_model) -> None:
    index, vector_store = built
    query = "food and drink"
    q = np.asarray(embed_model.get_query_embedding(query))
    mmr = index.as_retriever(
        similarity_top_k=4,
        vector_store_query_mode="mmr",
        vector_store_kwargs={"mmr_threshold": 0.2, "mmr_prefetch_k": 24},
    ).retrieve(query)
    core = vector_store.store.search_by_vector(q, k=4, shortlist=24, mmr_lambda=0.2)
    plain = vector_store.store.search_by_vector(q, k=4, shortlist=24)
    assert [n.node.node_id for n in mmr] == [h.id for h in core]
    assert [h.id for h in core] != [h.id for h in plain]  # the mode is not ignored
    science = index.as_retriever(
        similarity_top_k=5, vector_store_kwargs={"where": {"topic": "science"}}
    ).retrieve(query)
    assert science and {n.node.metadata["topic"] for n in science} == {"science"}
    both = index.as_retriever(
        filters=MetadataFilters(filters=[MetadataFilter(key="topic", value="food")]),
        vector_store_kwargs={"where": {"topic": "science"}},
    )
    with pytest.raises(ValueError, match="as query filters or as vector_store_kwargs where"):
        both.retrieve(query)
    with pytest.raises(ValueError, match="vector_store_query_mode='sparse' is not supported"):
        index.as_retriever(vector_store_query_mode="sparse").retrieve(query)


def test_from_embedding_passes_store_options_and_refuses_others(embed_model) -> None:
    name = f"opt-{uuid.uuid4().hex[:8]}"
    client = chromadb.EphemeralClient()
    vector_store = MatryoshkaVectorStore.from_embedding(
        embed_model,
        client=client,
        collection_name=name,
        shortlist=7,
        full_dtype="float16",
        hnsw={"ef_search": 321},
    )
    assert vector_store.shortlist == 7
    assert vector_store.store.collection.metadata["mrl:full_dtype"] == "float16"
    assert vector_store.store.collection.configuration_json["hnsw"]["ef_search"] == 321
    with pytest.raises(TypeError, match="typo_option"):
        MatryoshkaVectorStore.from_embedding(embed_model, client=client, typo_option=1)
    from llama_index.core.embeddings import MockEmbedding

    with pytest.raises(TypeError, match=r"needs a MatryoshkaEmbedding .* got MockEmbedding"):
        MatryoshkaVectorStore.from_embedding(MockEmbedding(embed_dim=8), client=client)


async def test_async_text_batches_are_one_model_call_per_batch(monkeypatch) -> None:
    embed_model = offline_embed_model(embed_batch_size=32)
    core = embed_model.matryoshka_embedder
    calls = record_model_calls(monkeypatch, core)
    texts = [f"{DOCUMENTS[i % len(DOCUMENTS)]} ({i})" for i in range(64)]
    vectors = await embed_model.aget_text_embedding_batch(texts)
    assert [len(c) for c in calls] == [32, 32]
    np.testing.assert_allclose(vectors, embed_model.get_text_embedding_batch(texts), atol=1e-5)


def test_get_nodes_by_filter_and_clear(embed_model) -> None:
    index, vector_store = small_index(embed_model, search_dim=64)
    food = MetadataFilters(filters=[MetadataFilter(key="topic", value="food")])
    nodes = vector_store.get_nodes(filters=food)
    assert sorted(n.metadata["n"] for n in nodes) == [16, 17, 18, 19]
    assert all(n.ref_doc_id == f"doc-{n.metadata['n']}" for n in nodes)
    first = nodes[0].node_id
    assert [n.node_id for n in vector_store.get_nodes([first, "nope"], filters=food)] == [first]
    assert (
        vector_store.get_nodes(
            [first], filters=MetadataFilters(filters=[MetadataFilter(key="topic", value="science")])
        )
        == []
    )
    assert len(vector_store.get_nodes()) == 24
    vector_store.clear()
    assert vector_store.get_nodes() == [] and vector_store.store.count() == 0
    index.insert(Document(text="Green tea is steamed or pan-fired.", doc_id="tea"))
    assert vector_store.get_nodes()[0].ref_doc_id == "tea"


def test_from_params_embedded_and_over_a_server(embed_model, chroma_server, tmp_path) -> None:
    host, port = chroma_server
    name = f"fp-{uuid.uuid4().hex[:8]}"
    remote = MatryoshkaVectorStore.from_params(embed_model, name, host=host, port=port, shortlist=9)
    assert remote.shortlist == 9 and remote.store.full_vector_format == "chroma"
    assert name in {c.name for c in chromadb.HttpClient(host=host, port=port).list_collections()}
    local = MatryoshkaVectorStore.from_params(embed_model, name, persist_dir=tmp_path / "db")
    assert local.store.full_vector_format == "local" and (tmp_path / "db" / "mrl_rag").is_dir()
    local.store.close()
    with pytest.raises(ValueError, match="not both"):
        MatryoshkaVectorStore.from_params(embed_model, name, host=host, persist_dir=tmp_path)
