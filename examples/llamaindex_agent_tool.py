"""The funnel retriever as a tool of a LlamaIndex agent.

A ``FunctionAgent`` calls a ``RetrieverTool`` over ``MatryoshkaRetriever``.
Offline, a scripted ``MockFunctionCallingLLM`` plays the LLM (first a tool call,
then the answer); any function-calling LlamaIndex LLM works the same.

    python examples/llamaindex_agent_tool.py
"""

from __future__ import annotations

import asyncio
from typing import Any

from _li_common import offline_embed_model, small_index
from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.tools import RetrieverTool
from llama_index.retrievers.mrl_rag import MatryoshkaRetriever

QUESTION = "Do antibiotics help against the flu?"


def scripted_llm() -> MockFunctionCallingLLM:
    def respond(messages: Any, **kwargs: Any) -> ChatMessage:
        if not any(m.role == MessageRole.TOOL for m in messages):
            call = ToolCallBlock(
                tool_call_id="call-1",
                tool_name="search_facts",
                tool_kwargs={"input": "antibiotics influenza"},
            )
            return ChatMessage(role=MessageRole.ASSISTANT, blocks=[call])
        return ChatMessage(
            role=MessageRole.ASSISTANT,
            content="No: antibiotics kill bacteria, not viruses like the flu.",
        )

    return MockFunctionCallingLLM(response_generator=respond, is_chat_model=True)


def build_tool() -> RetrieverTool:
    _, vector_store = small_index(offline_embed_model())
    return RetrieverTool.from_defaults(
        retriever=MatryoshkaRetriever(vector_store.store, similarity_top_k=2),
        name="search_facts",
        description="Search a small encyclopedia of science and culture facts.",
    )


async def run_agent(tool: RetrieverTool, question: str) -> tuple[list[str], str]:
    """Run the agent; return what the tool returned and the final answer."""
    agent = FunctionAgent(tools=[tool], llm=scripted_llm())
    handler = agent.run(user_msg=question)
    outputs = []
    async for event in handler.stream_events():
        if isinstance(event, ToolCallResult):
            outputs.append(event.tool_output.content)
    answer = await handler
    return outputs, str(answer)


def main() -> None:
    outputs, answer = asyncio.run(run_agent(build_tool(), QUESTION))
    print("Tool output:\n" + outputs[0])
    print("\nAnswer:", answer)


if __name__ == "__main__":
    main()
