"""The mrl-rag funnel store as a LlamaIndex vector store."""

from llama_index.vector_stores.mrl_rag.base import MatryoshkaVectorStore, to_chroma_where

__all__ = ["MatryoshkaVectorStore", "to_chroma_where"]
