"""Matryoshka embeddings for LlamaIndex."""

from llama_index.embeddings.mrl_rag.base import MatryoshkaEmbedding
from llama_index.embeddings.mrl_rag.encoder import LlamaIndexEncoder

__all__ = ["LlamaIndexEncoder", "MatryoshkaEmbedding"]
