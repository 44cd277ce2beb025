"""An LCEL RAG chain over the funnel retriever: retriever -> prompt -> chat model -> parser.

Runs offline with a fake chat model that answers with a canned string; replace
``FakeListChatModel`` with any LangChain chat model (``ChatOpenAI``,
``ChatOllama``...) for real answers. The prompt it received is printed, to show
the retrieved context reaching it.

    python examples/langchain_rag_chain.py
"""

from __future__ import annotations

from typing import Any

from _lc_common import offline_embeddings, small_vector_store
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.language_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnablePassthrough
from langchain_mrl_rag import MatryoshkaRetriever

PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "Answer the question using only this context:\n\n{context}"),
        ("human", "{question}"),
    ]
)


def format_docs(docs: list[Document]) -> str:
    return "\n\n".join(f"[{d.id}] {d.page_content}" for d in docs)


def build_chain(chat_model: Any = None) -> tuple[Runnable, MatryoshkaRetriever]:
    store = small_vector_store(offline_embeddings()).store
    retriever = MatryoshkaRetriever(store=store, k=2)
    model = chat_model or FakeListChatModel(responses=["Mitochondria produce most ATP."])
    chain = (
        {"context": retriever | format_docs, "question": RunnablePassthrough()}
        | PROMPT
        | model
        | StrOutputParser()
    )
    return chain, retriever


class PromptRecorder(BaseCallbackHandler):
    """Keeps the messages each chat model call received."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        """Record the prompt text of each call."""
        self.prompts.extend("\n".join(m.content for m in batch) for batch in messages)


def main() -> None:
    chain, _ = build_chain()
    recorder = PromptRecorder()
    answer = chain.invoke("Which organelle makes ATP?", config={"callbacks": [recorder]})
    print("Prompt the chat model received:\n" + recorder.prompts[0])
    print("\nAnswer:", answer)


if __name__ == "__main__":
    main()
