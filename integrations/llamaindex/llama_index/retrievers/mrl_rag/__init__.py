"""The mrl-rag funnel retriever for LlamaIndex."""

from llama_index.retrievers.mrl_rag.base import MatryoshkaRetriever

__all__ = ["MatryoshkaRetriever"]
