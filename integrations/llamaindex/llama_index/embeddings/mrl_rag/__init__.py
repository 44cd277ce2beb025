"""Matryoshka embeddings for LlamaIndex."""

from llama_index.embeddings.mrl_rag.base import MatryoshkaEmbedding

__all__ = ["MatryoshkaEmbedding"]
