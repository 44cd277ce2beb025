"""The funnel retriever as an agent tool, called by a tool-calling chat model.

A minimal agent loop: the model asks for the tool, the tool searches, the model
answers. Offline, a scripted fake model plays the LLM; with a real tool-calling
chat model, ``model.bind_tools([tool])`` and the same loop work unchanged.

    python examples/langchain_agent_tool.py
"""

from __future__ import annotations

from typing import Any

from _lc_common import offline_embeddings, small_vector_store
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool, create_retriever_tool
from langchain_mrl_rag import MatryoshkaRetriever

QUESTION = "Do antibiotics help against the flu?"


class ScriptedToolModel(GenericFakeChatModel):
    """A fake chat model that supports ``bind_tools`` and replays scripted messages."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedToolModel:
        """Accept the tools; the script already knows which one to call."""
        return self


def build_tool() -> BaseTool:
    store = small_vector_store(offline_embeddings()).store
    return create_retriever_tool(
        MatryoshkaRetriever(store=store, k=2),
        name="search_facts",
        description="Search a small encyclopedia of science and culture facts.",
    )


def run_agent(model: Any, tool: BaseTool, question: str) -> tuple[list[BaseMessage], str]:
    """Call the model, run the tools it asks for, and repeat until it answers."""
    bound = model.bind_tools([tool])
    messages: list[BaseMessage] = [HumanMessage(question)]
    for _ in range(5):
        reply = bound.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            return messages, str(reply.content)
        for call in reply.tool_calls:
            messages.append(tool.invoke(call))
    raise RuntimeError("the agent did not finish in 5 steps")


def scripted_model() -> ScriptedToolModel:
    call = {"name": "search_facts", "args": {"query": "antibiotics influenza"}, "id": "call-1"}
    return ScriptedToolModel(
        messages=iter(
            [
                AIMessage(content="", tool_calls=[call]),
                AIMessage(content="No: antibiotics kill bacteria, not viruses like the flu."),
            ]
        )
    )


def main() -> None:
    messages, answer = run_agent(scripted_model(), build_tool(), QUESTION)
    tool_output = next(m for m in messages if isinstance(m, ToolMessage)).content
    print("Tool output:\n" + str(tool_output))
    print("\nAnswer:", answer)


if __name__ == "__main__":
    main()
