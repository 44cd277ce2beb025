"""The shared half of encoders that wrap a provider's client object.

The LangChain and LlamaIndex wrappers differ only in which four methods of the
provider object they call; everything else (prompts, refusing per-call model
options, arrays, sending queries one at a time) is here, once.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mrl_rag.encoders.base import InputType, refuse_options, with_prompt

__all__ = ["ProviderEncoder"]

_WHY = (
    "a provider object cannot take them per call: configure the task on the provider "
    "object, and pass profile=profile.replace(query_options={}, document_options={})."
)


class ProviderEncoder(abc.ABC):
    """An :class:`~mrl_rag.encoders.Encoder` over a provider object's query and document calls.

    Queries go one at a time through the provider's query method (so its own
    query/document switch applies, and thousands of queries never become
    thousands of concurrent requests); documents go as one batch. Subclasses
    set ``model_name`` and ``full_dim`` and implement the four calls.
    """

    model_name: str
    full_dim: int | None

    @abc.abstractmethod
    def _embed_query(self, text: str) -> Sequence[float]: ...

    @abc.abstractmethod
    def _embed_documents(self, texts: list[str]) -> Sequence[Sequence[float]]: ...

    @abc.abstractmethod
    async def _aembed_query(self, text: str) -> Sequence[float]: ...

    @abc.abstractmethod
    async def _aembed_documents(self, texts: list[str]) -> Sequence[Sequence[float]]: ...

    def encode(
        self,
        texts: Sequence[str],
        *,
        input_type: InputType = "document",
        prompt: str = "",
        **options: Any,
    ) -> npt.NDArray[np.float32]:
        """Full vectors from the provider, queries one by one, documents in one call."""
        refuse_options(options, why=_WHY)
        batch = with_prompt(texts, prompt)
        if input_type == "query":
            rows: Sequence[Sequence[float]] = [self._embed_query(t) for t in batch]
        else:
            rows = self._embed_documents(batch)
        return np.asarray(rows, dtype=np.float32)

    async def aencode(
        self,
        texts: Sequence[str],
        *,
        input_type: InputType = "document",
        prompt: str = "",
        **options: Any,
    ) -> npt.NDArray[np.float32]:
        """:meth:`encode` through the provider's own async methods."""
        refuse_options(options, why=_WHY)
        batch = with_prompt(texts, prompt)
        if input_type == "query":
            rows: Sequence[Sequence[float]] = [await self._aembed_query(t) for t in batch]
        else:
            rows = await self._aembed_documents(batch)
        return np.asarray(rows, dtype=np.float32)
