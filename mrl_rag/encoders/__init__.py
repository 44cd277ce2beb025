"""Backends that embed texts at full size for :class:`~mrl_rag.MatryoshkaEmbedder`.

Each backend is one module behind the :class:`Encoder` protocol; see
:mod:`mrl_rag.encoders.base` for what a new one must do.
"""

from mrl_rag.encoders.base import Encoder, InputType, refuse_options, with_prompt
from mrl_rag.encoders.openai import OpenAICompatibleEncoder
from mrl_rag.encoders.provider import ProviderEncoder
from mrl_rag.encoders.sentence_transformers import SentenceTransformerEncoder

__all__ = [
    "Encoder",
    "InputType",
    "OpenAICompatibleEncoder",
    "ProviderEncoder",
    "SentenceTransformerEncoder",
    "refuse_options",
    "with_prompt",
]
