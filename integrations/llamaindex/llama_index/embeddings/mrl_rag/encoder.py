"""Any LlamaIndex ``BaseEmbedding`` as a full-size backend of ``mrl_rag.MatryoshkaEmbedder``."""

from __future__ import annotations

from llama_index.core.base.embeddings.base import BaseEmbedding

from mrl_rag import ArgumentTypeError
from mrl_rag.encoders import ProviderEncoder


class LlamaIndexEncoder(ProviderEncoder):
    """Wraps a LlamaIndex ``BaseEmbedding`` (Ollama, Cohere, Voyage, Bedrock, ...) as an encoder.

    The provider embeds at full size; :class:`mrl_rag.MatryoshkaEmbedder`
    truncates locally. Queries go through ``get_query_embedding`` (so the
    provider's own query/document distinction applies), documents through
    ``get_text_embedding_batch`` in the object's ``embed_batch_size``; the
    profile's prefixes, if any, are put before the texts first.

    Example:
        ```python
        from llama_index.embeddings.ollama import OllamaEmbedding
        from llama_index.embeddings.mrl_rag import LlamaIndexEncoder, MatryoshkaEmbedding
        from mrl_rag import MatryoshkaEmbedder

        encoder = LlamaIndexEncoder(OllamaEmbedding(model_name="nomic-embed-text"))
        embedder = MatryoshkaEmbedder(encoder, profile="nomic-ai/nomic-embed-text-v1.5")
        embed_model = MatryoshkaEmbedding(embedder=embedder)
        ```

    Args:
        embed_model: The LlamaIndex embedding object, configured to return the
            model's full dimension and no instruction of its own if the
            profile adds prefixes.
        model_name: The name the model's mrl-rag profile is registered under;
            by default the object's ``model_name``.
        full_dim: The model's full dimension, if known.

    Raises:
        ArgumentTypeError: If ``embed_model`` is not a LlamaIndex ``BaseEmbedding``,
            or is mrl-rag's own (which would truncate twice).
    """

    def __init__(
        self,
        embed_model: BaseEmbedding,
        *,
        model_name: str | None = None,
        full_dim: int | None = None,
    ) -> None:
        from llama_index.embeddings.mrl_rag.base import MatryoshkaEmbedding

        if not isinstance(embed_model, BaseEmbedding) or isinstance(
            embed_model, MatryoshkaEmbedding
        ):
            raise ArgumentTypeError(
                "embed_model must be a LlamaIndex BaseEmbedding of a provider (not "
                f"MatryoshkaEmbedding), got {type(embed_model).__name__}."
            )
        self.embed_model = embed_model
        self.model_name: str = model_name or embed_model.model_name
        self.full_dim = full_dim

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.embed_model).__name__}, {self.model_name!r})"

    def _embed_query(self, text: str) -> list[float]:
        return self.embed_model.get_query_embedding(text)

    def _embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_model.get_text_embedding_batch(texts)

    async def _aembed_query(self, text: str) -> list[float]:
        return await self.embed_model.aget_query_embedding(text)

    async def _aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await self.embed_model.aget_text_embedding_batch(texts)
