"""LangChain integration of mrl-rag."""

from langchain_mrl_rag.embeddings import MatryoshkaEmbeddings
from langchain_mrl_rag.encoder import LangChainEncoder
from langchain_mrl_rag.retrievers import MatryoshkaRetriever
from langchain_mrl_rag.vectorstores import MatryoshkaVectorStore

__all__ = [
    "LangChainEncoder",
    "MatryoshkaEmbeddings",
    "MatryoshkaRetriever",
    "MatryoshkaVectorStore",
]
