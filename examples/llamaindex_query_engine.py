"""LlamaIndex query engines over the funnel store, offline.

``VectorStoreIndex.from_documents`` fills a MatryoshkaVectorStore; both
``index.as_query_engine()`` and a ``RetrieverQueryEngine`` over
``MatryoshkaRetriever`` answer with ``MockLLM`` (which echoes its prompt, so
the retrieved text is visible). Use any LlamaIndex LLM for real answers.

    python examples/llamaindex_query_engine.py
"""

from __future__ import annotations

from _li_common import offline_embed_model, small_index
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.vector_stores import FilterOperator, MetadataFilter, MetadataFilters
from llama_index.retrievers.mrl_rag import MatryoshkaRetriever

QUESTION = "Which organelle makes ATP?"


def main() -> None:
    embed_model = offline_embed_model()
    index, vector_store = small_index(embed_model)

    engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=2)
    response = engine.query(QUESTION)
    print("index.as_query_engine sources:")
    for source in response.source_nodes:
        print(f"  {source.score:.3f} {source.node.ref_doc_id} {source.node.get_content()[:60]}")
    print("Prompt that reached the LLM (MockLLM echoes it):")
    print("  ..." + str(response)[-300:].replace("\n", "\n  "))

    retriever = MatryoshkaRetriever(
        vector_store.store,
        similarity_top_k=1,
        filters=MetadataFilters(
            filters=[MetadataFilter(key="topic", operator=FilterOperator.EQ, value="food")]
        ),
    )
    food = RetrieverQueryEngine.from_args(retriever, llm=MockLLM()).query("a hot drink")
    best = food.source_nodes[0]
    print(
        f"\nRetrieverQueryEngine, topic == 'food': {best.node.metadata} "
        f"{best.node.get_content()[:60]}"
    )


if __name__ == "__main__":
    main()
