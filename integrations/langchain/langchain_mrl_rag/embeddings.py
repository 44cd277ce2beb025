"""Matryoshka embeddings as a LangChain ``Embeddings``."""

from __future__ import annotations

from typing import Any

from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from langchain_mrl_rag.encoder import LangChainEncoder
from mrl_rag import ArgumentTypeError, MatryoshkaEmbedder

#: The fields passed to :class:`mrl_rag.MatryoshkaEmbedder` under their own names.
_EMBEDDER_OPTIONS = {
    "profile",
    "dim",
    "query_prefix",
    "document_prefix",
    "device",
    "batch_size",
    "trust_remote_code",
    "model_kwargs",
}


class MatryoshkaEmbeddings(BaseModel, Embeddings):
    """Matryoshka-aware embeddings: a sentence-transformers model, or any provider.

    Adds the model's query and document prefixes by itself and returns vectors
    at a validated dimension. The model runs at full size; smaller dimensions
    are truncations of that one pass.

    Example:
        ```python
        from langchain_chroma import Chroma
        from langchain_mrl_rag import MatryoshkaEmbeddings

        embeddings = MatryoshkaEmbeddings(
            model="nomic-ai/nomic-embed-text-v1.5", trust_remote_code=True, dim=256
        )
        vector_store = Chroma(embedding_function=embeddings)
        ```
    """

    model: str
    """Hub id (for example ``"nomic-ai/nomic-embed-text-v1.5"``) or local folder."""
    profile: str | None = None
    """Name of a registered mrl-rag profile to use instead of the one of ``model``."""
    dim: int | None = None
    """Output dimension; ``None`` means the model's full dimension."""
    query_prefix: str | None = None
    """Overrides the profile's query prefix (``""`` for none)."""
    document_prefix: str | None = None
    """Overrides the profile's document prefix."""
    device: str | None = None
    """Where the model runs (``"cpu"``, ``"cuda"``, ``"mps"``); picked for you by default."""
    batch_size: int = 32
    """Texts per model batch."""
    show_progress: bool | None = None
    """Show a progress bar; ``None`` shows one from 512 texts on."""
    trust_remote_code: bool = False
    """Allow a model to run code from its hub repository. Never enabled by default."""
    model_kwargs: dict[str, Any] | None = None
    """Extra keyword arguments for the underlying transformers model."""
    embedder: MatryoshkaEmbedder | None = Field(default=None, exclude=True, repr=False)
    """An already loaded embedder to share (then the fields above are not used to load)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid", protected_namespaces=())

    _embedder: MatryoshkaEmbedder = PrivateAttr()

    @model_validator(mode="after")
    def _load(self) -> MatryoshkaEmbeddings:
        if self.embedder is not None:
            ignored = sorted(
                self.model_fields_set & (_EMBEDDER_OPTIONS - {"dim"} | {"show_progress"})
            )
            if ignored:
                raise ArgumentTypeError(
                    f"{', '.join(ignored)} configure a model loaded here, but an embedder was "
                    "given: set them on the MatryoshkaEmbedder (or its profile) instead."
                )
            self._embedder = self.embedder
            if self.dim is not None:
                self._embedder.resolve_dim(self.dim)
            return self
        options = self.model_dump(include=_EMBEDDER_OPTIONS)
        self._embedder = MatryoshkaEmbedder(
            self.model, show_progress_bar=self.show_progress, **options
        )
        return self

    @classmethod
    def from_embedder(cls, embedder: MatryoshkaEmbedder, **kwargs: Any) -> MatryoshkaEmbeddings:
        """Wrap an already loaded :class:`mrl_rag.MatryoshkaEmbedder` (no second model load)."""
        return cls(model=embedder.profile.name, embedder=embedder, **kwargs)

    @classmethod
    def from_embeddings(
        cls,
        embeddings: Embeddings,
        *,
        profile: str | None = None,
        query_prefix: str | None = None,
        document_prefix: str | None = None,
        **kwargs: Any,
    ) -> MatryoshkaEmbeddings:
        """Make any LangChain embeddings (Ollama, Cohere, Voyage, ...) Matryoshka-aware.

        The provider embeds at full size and the result is truncated locally,
        with the prefixes of the model's profile (see :class:`LangChainEncoder`
        and docs/backends.md). ``profile`` is the model's registered name (by
        default the one its ``model`` field names); ``kwargs`` are other fields
        of this class, such as ``dim``.
        """
        prefixes = {"query_prefix": query_prefix, "document_prefix": document_prefix}
        embedder = MatryoshkaEmbedder(LangChainEncoder(embeddings), profile=profile, **prefixes)
        return cls.from_embedder(embedder, **kwargs)

    @property
    def matryoshka_embedder(self) -> MatryoshkaEmbedder:
        """The core embedder, to share with a funnel store."""
        return self._embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents with the document prefix, at ``dim``."""
        return self._embedder.embed_documents(texts, dim=self.dim).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed a query with the query prefix, at ``dim``."""
        return self._embedder.embed_query(text, dim=self.dim).tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """:meth:`embed_documents` through the backend's async path."""
        return (await self._embedder.aembed_documents(texts, dim=self.dim)).tolist()

    async def aembed_query(self, text: str) -> list[float]:
        """:meth:`embed_query` through the backend's async path."""
        return (await self._embedder.aembed_query(text, dim=self.dim)).tolist()
