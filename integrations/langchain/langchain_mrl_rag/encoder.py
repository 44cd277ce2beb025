"""Any LangChain ``Embeddings`` as a full-size backend of :class:`mrl_rag.MatryoshkaEmbedder`."""

from __future__ import annotations

from langchain_core.embeddings import Embeddings

from mrl_rag import ArgumentTypeError
from mrl_rag.encoders import ProviderEncoder


class LangChainEncoder(ProviderEncoder):
    """Wraps a LangChain ``Embeddings`` (Ollama, Cohere, Voyage, Bedrock, ...) as an encoder.

    The provider embeds at full size; :class:`mrl_rag.MatryoshkaEmbedder`
    truncates locally. Queries go through the object's ``embed_query`` (so a
    provider's own query/document distinction, such as Cohere's
    ``input_type``, applies) and documents through ``embed_documents``; the
    profile's prefixes, if any, are put before the texts first.

    Setup:
        ```bash
        pip install langchain-mrl-rag langchain-ollama
        ```

    Instantiate:
        ```python
        from langchain_ollama import OllamaEmbeddings
        from langchain_mrl_rag import LangChainEncoder, MatryoshkaEmbeddings
        from mrl_rag import MatryoshkaEmbedder

        encoder = LangChainEncoder(OllamaEmbeddings(model="nomic-embed-text"))
        embedder = MatryoshkaEmbedder(encoder, profile="nomic-ai/nomic-embed-text-v1.5")
        embeddings = MatryoshkaEmbeddings.from_embedder(embedder)
        ```

    Args:
        embeddings: The LangChain embeddings object. Configure it to return
            the model's full dimension (Voyage: ``output_dimension=2048``, the
            registered profile's full size) and no prompt of its own if the
            profile adds prefixes.
        model_name: The name the model's mrl-rag profile is registered under;
            by default the object's ``model`` or ``model_name`` field.
        full_dim: The model's full dimension, if known (otherwise the profile
            says it, or one probe text is embedded to learn it).

    Raises:
        ArgumentTypeError: If ``embeddings`` is not a LangChain ``Embeddings``,
            or is mrl-rag's own (which would truncate twice).
    """

    def __init__(
        self, embeddings: Embeddings, *, model_name: str | None = None, full_dim: int | None = None
    ) -> None:
        from langchain_mrl_rag.embeddings import MatryoshkaEmbeddings

        if not isinstance(embeddings, Embeddings) or isinstance(embeddings, MatryoshkaEmbeddings):
            raise ArgumentTypeError(
                "embeddings must be a LangChain Embeddings of a provider (not "
                f"MatryoshkaEmbeddings), got {type(embeddings).__name__}."
            )
        self.embeddings = embeddings
        named = getattr(embeddings, "model", None) or getattr(embeddings, "model_name", None)
        self.model_name: str = model_name or (
            named if isinstance(named, str) else type(embeddings).__name__
        )
        self.full_dim = full_dim

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.embeddings).__name__}, {self.model_name!r})"

    def _embed_query(self, text: str) -> list[float]:
        return self.embeddings.embed_query(text)

    def _embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embeddings.embed_documents(texts)

    async def _aembed_query(self, text: str) -> list[float]:
        return await self.embeddings.aembed_query(text)

    async def _aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await self.embeddings.aembed_documents(texts)
