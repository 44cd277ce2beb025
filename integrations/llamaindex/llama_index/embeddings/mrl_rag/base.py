"""Matryoshka embeddings as a LlamaIndex ``BaseEmbedding``."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.embeddings.mrl_rag.encoder import LlamaIndexEncoder

from mrl_rag import ArgumentTypeError, InvalidArgumentError, MatryoshkaEmbedder


class MatryoshkaEmbedding(BaseEmbedding):
    """Matryoshka-aware embeddings for LlamaIndex: a sentence-transformers model, or any provider.

    Queries and texts get the model's prefixes by themselves (for
    nomic-embed-text-v1.5: ``search_query: `` / ``search_document: ``), and
    vectors come at a validated dimension cut from one full-size pass.

    Example:
        ```python
        from llama_index.embeddings.mrl_rag import MatryoshkaEmbedding

        embed_model = MatryoshkaEmbedding(
            model_name="nomic-ai/nomic-embed-text-v1.5", trust_remote_code=True
        )
        ```

    With :class:`~llama_index.vector_stores.mrl_rag.MatryoshkaVectorStore`, keep
    ``dim=None``: the funnel store needs the full vectors.
    """

    dim: int | None = Field(default=None, description="Output dimension; None = full.")
    profile: str | None = Field(default=None, description="A registered mrl-rag profile name.")
    query_prefix: str | None = Field(default=None, description="Overrides the query prefix.")
    text_prefix: str | None = Field(default=None, description="Overrides the document prefix.")
    device: str | None = Field(default=None, description="cpu, cuda, mps; picked by default.")
    trust_remote_code: bool = Field(
        default=False, description="Allow the model to run hub code. Never on by default."
    )

    _embedder: MatryoshkaEmbedder = PrivateAttr()

    def __init__(self, *, embedder: MatryoshkaEmbedder | None = None, **kwargs: Any) -> None:
        if embedder is not None:
            ignored = sorted(
                kwargs.keys()
                & {"profile", "query_prefix", "text_prefix", "device", "trust_remote_code"}
            )
            if ignored:
                raise ArgumentTypeError(
                    f"{', '.join(ignored)} configure a model loaded here, but an embedder was "
                    "given: set them on the MatryoshkaEmbedder (or its profile) instead."
                )
            kwargs.setdefault("model_name", embedder.profile.name)
        super().__init__(**kwargs)
        if embedder is None and self.model_name == "unknown":
            raise InvalidArgumentError(
                "model_name is required: a hub id such as 'nomic-ai/nomic-embed-text-v1.5' "
                "or a local sentence-transformers folder (or pass embedder=...)."
            )
        if embedder is None:
            options = {name: getattr(self, name) for name in ("profile", "query_prefix", "device")}
            embedder = MatryoshkaEmbedder(
                self.model_name,
                document_prefix=self.text_prefix,
                batch_size=self.embed_batch_size,
                trust_remote_code=self.trust_remote_code,
                **options,
            )
        if self.dim is not None:
            embedder.resolve_dim(self.dim)
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        """Name used when serialising the component."""
        return "MatryoshkaEmbedding"

    @classmethod
    def from_embed_model(
        cls, embed_model: BaseEmbedding, *, profile: str | None = None, **kwargs: Any
    ) -> MatryoshkaEmbedding:
        """Any LlamaIndex embedding (Ollama, Cohere, ...) made Matryoshka-aware (docs/backends.md).

        ``profile`` names the model's registered profile (by default the one of
        its ``model_name``); ``kwargs`` are this class's fields (``dim``,
        ``query_prefix``, ``text_prefix``), applied as when loading by name.
        """
        query, text = kwargs.pop("query_prefix", None), kwargs.pop("text_prefix", None)
        encoder = LlamaIndexEncoder(embed_model)
        embedder = MatryoshkaEmbedder(
            encoder, profile=profile, query_prefix=query, document_prefix=text
        )
        return cls(embedder=embedder, **kwargs)

    @property
    def matryoshka_embedder(self) -> MatryoshkaEmbedder:
        """The core embedder, to share with a funnel store."""
        return self._embedder

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._embedder.embed_query(query, dim=self.dim).tolist()

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._embedder.aembed_query(query, dim=self.dim)).tolist()

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._embedder.aembed_documents([text], dim=self.dim))[0].tolist()

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        # One backend call per batch (LlamaIndex's default makes one per text).
        return (await self._embedder.aembed_documents(texts, dim=self.dim)).tolist()

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._embedder.embed_documents([text], dim=self.dim)[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._embedder.embed_documents(texts, dim=self.dim).tolist()
