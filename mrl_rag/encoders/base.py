"""The encoder interface: what a backend must do for :class:`~mrl_rag.MatryoshkaEmbedder`.

An encoder turns a batch of texts into full-size vectors, nothing more. The
embedder does everything Matryoshka on top of it, the same way for every
backend: it picks the prefix for queries or documents from the model's
profile, applies the profile's pre-truncation step, renormalises, and cuts
prefixes to the requested dimension. So a new backend is one new module that
implements this protocol; no other backend and no embedder code changes.

Backends shipped: :class:`~mrl_rag.encoders.SentenceTransformerEncoder`
(in-process), :class:`~mrl_rag.encoders.OpenAICompatibleEncoder` (OpenAI,
TEI, vLLM, Infinity, Ollama's ``/v1``), and in the adapters any LangChain
``Embeddings`` (``langchain_mrl_rag.LangChainEncoder``) or LlamaIndex
``BaseEmbedding`` (``llama_index.embeddings.mrl_rag.LlamaIndexEncoder``),
which covers Ollama, Cohere, Voyage, Bedrock, Gemini and Hugging Face
endpoints through their own well-kept clients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from mrl_rag._errors import InvalidArgumentError

__all__ = ["Encoder", "InputType", "refuse_options", "with_prompt"]

#: What a text is embedded as: a search query, or a document to be found.
InputType = Literal["query", "document"]


@runtime_checkable
class Encoder(Protocol):
    """A backend that embeds texts at the model's full dimension.

    Attributes:
        model_name: The model's name, used to find its registered profile.
        full_dim: The dimension of the vectors :meth:`encode` returns, or
            ``None`` if it is only known after a first call (the embedder then
            embeds one probe text to learn it).
    """

    model_name: str
    full_dim: int | None

    def encode(
        self,
        texts: Sequence[str],
        *,
        input_type: InputType = "document",
        prompt: str = "",
        **options: Any,
    ) -> npt.NDArray[np.float32]:
        """Embed ``texts`` at full size.

        Args:
            texts: Checked, non-empty texts, without any prefix.
            input_type: Whether the texts are queries or documents. A backend
                whose provider distinguishes them (Cohere's and Voyage's
                ``input_type``, LangChain's ``embed_query``) passes it on.
            prompt: The profile's prefix for this input type, to put before
                every text (``""`` for none).
            **options: The profile's extra options for this input type
                (jina-embeddings-v3's ``task``), for a backend that runs the
                model's own ``encode``; a backend whose provider object is
                configured by the user ignores them.

        Returns:
            An array of shape ``(len(texts), full_dim)``; the embedder
            normalises it, so raw model output is fine.
        """
        ...

    async def aencode(
        self,
        texts: Sequence[str],
        *,
        input_type: InputType = "document",
        prompt: str = "",
        **options: Any,
    ) -> npt.NDArray[np.float32]:
        """:meth:`encode` for asyncio."""
        ...


def with_prompt(texts: Sequence[str], prompt: str) -> list[str]:
    """``texts`` with ``prompt`` put before each, for backends that take plain strings."""
    return [prompt + text for text in texts] if prompt else list(texts)


def refuse_options(options: Mapping[str, Any], *, why: str) -> None:
    """Refuse a profile's model options in a backend that cannot pass them on.

    Dropping them would embed with the wrong task silently; ``why`` says what to
    do instead.

    Raises:
        InvalidArgumentError: If ``options`` is not empty.
    """
    if options:
        raise InvalidArgumentError(f"The profile sets model options {dict(options)!r}; {why}")
