"""The in-process backend: a sentence-transformers model run by this process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from mrl_rag._errors import ArgumentTypeError, ProfileError, TrustRemoteCodeError
from mrl_rag._validation import check_count
from mrl_rag.encoders.base import InputType

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from mrl_rag._profiles import ModelProfile

__all__ = ["PROGRESS_BAR_MIN_TEXTS", "SentenceTransformerEncoder"]

#: With ``show_progress_bar=None`` a bar is shown from this many texts on.
PROGRESS_BAR_MIN_TEXTS = 512

_TRUST_HINT = (
    "Review that code, then pass trust_remote_code=True to allow it; mrl-rag never "
    "enables it by itself."
)


@contextlib.contextmanager
def _quiet_loading(quiet: bool) -> Iterator[None]:
    """Hide transformers' "Loading weights" bar (shown on every load) unless asked for.

    Only the bars of this load are hidden: the setting is put back afterwards.
    """
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    if quiet and was_on:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if quiet and was_on:
            hf_logging.enable_progress_bar()


class SentenceTransformerEncoder:
    """Runs a sentence-transformers model in this process.

    Example:
        >>> encoder = SentenceTransformerEncoder.load("./my-model", device="cpu")  # doctest: +SKIP
        >>> MatryoshkaEmbedder(encoder)  # doctest: +SKIP

    Args:
        model: A loaded ``SentenceTransformer`` (see :meth:`load` to load one by
            name). It must be loaded without ``truncate_dim``: the embedder needs
            the full vectors.
        name: The name its profile is registered under; by default the
            model's ``base_model`` from its card, if any.
        batch_size: How many texts go through the model at once.
        show_progress_bar: Show a progress bar while encoding. ``None`` shows
            one for inputs of at least 512 texts.

    Raises:
        ArgumentTypeError: If ``model`` is not a ``SentenceTransformer``.
        ProfileError: If it was loaded with ``truncate_dim``.
    """

    def __init__(
        self,
        model: SentenceTransformer,
        *,
        name: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
    ) -> None:
        from sentence_transformers import SentenceTransformer

        if not isinstance(model, SentenceTransformer):
            raise ArgumentTypeError(
                "model must be a hub id, a local path, a SentenceTransformer or an "
                f"mrl_rag.encoders.Encoder, got {type(model).__name__}."
            )
        if model.truncate_dim is not None:
            raise ProfileError(
                f"The SentenceTransformer was created with truncate_dim={model.truncate_dim}; "
                "MatryoshkaEmbedder needs the full vectors. Load it without truncate_dim and "
                "pass dim=... to MatryoshkaEmbedder instead."
            )
        self.model = model
        card = getattr(model, "model_card_data", None)
        self.model_name: str = name or getattr(card, "base_model", None) or "unnamed model"
        getter = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        self.full_dim: int | None = getter()
        self.batch_size = check_count(batch_size, name="batch_size")
        self.show_progress_bar = show_progress_bar

    @classmethod
    def load(
        cls,
        name: str | Path,
        *,
        profile: ModelProfile | None = None,
        device: str | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
        cache_folder: str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
    ) -> SentenceTransformerEncoder:
        """Load a model by hub id or local folder.

        Args:
            name: A hub id such as ``"nomic-ai/nomic-embed-text-v1.5"`` or a
                folder saved by sentence-transformers.
            profile: The model's profile, if known: a model whose profile says
                it runs hub code is refused before anything is downloaded
                unless ``trust_remote_code`` is ``True``.
            device: Where the model runs (``"cpu"``, ``"cuda"``, ``"cuda:1"``,
                ``"mps"``); by default sentence-transformers picks the best one.
            trust_remote_code: Allow the model to run code from its hub repository.
            revision: A model revision (branch, tag or commit) on the hub.
            cache_folder: Where downloaded models are cached.
            model_kwargs: Extra keyword arguments for the transformers model,
                for example ``{"torch_dtype": "float16"}``.
            batch_size: How many texts go through the model at once.
            show_progress_bar: Show progress bars (loading and encoding).

        Raises:
            TrustRemoteCodeError: If the model needs ``trust_remote_code`` and it
                was not passed.
            ProfileError: If the profile names a model served by an API.
        """
        from sentence_transformers import SentenceTransformer

        label = str(name)
        if profile is not None:
            if profile.backend != "sentence-transformers":
                raise ProfileError(
                    f"{profile.name} is served by "
                    + ("OpenAI's" if profile.backend == "openai" else "its provider's")
                    + " API, not run "
                    "in-process; wrap its client in an encoder instead (see "
                    "mrl_rag.encoders)."
                )
            if profile.trust_remote_code and not trust_remote_code:
                raise TrustRemoteCodeError(
                    f"{profile.name} runs code from its hub repository when loaded. {_TRUST_HINT}"
                )
        try:
            with _quiet_loading(not show_progress_bar):
                model = SentenceTransformer(
                    label,
                    device=device,
                    trust_remote_code=trust_remote_code,
                    revision=revision,
                    cache_folder=cache_folder,
                    model_kwargs=model_kwargs,
                )
        except ValueError as exc:
            if "trust_remote_code" in str(exc) and not trust_remote_code:
                raise TrustRemoteCodeError(
                    f"{label} runs code from its hub repository when loaded. {_TRUST_HINT}"
                ) from exc
            raise
        return cls(model, name=label, batch_size=batch_size, show_progress_bar=show_progress_bar)

    @property
    def prompts(self) -> dict[str, str]:
        """The prompts saved with the model (used for a profile when none is registered)."""
        return dict(self.model.prompts or {})

    @property
    def device(self) -> str:
        """Where the model runs."""
        return str(self.model.device)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_name!r}, device={self.device!r})"

    def encode(
        self,
        texts: Sequence[str],
        *,
        input_type: InputType = "document",
        prompt: str = "",
        **options: Any,
    ) -> npt.NDArray[np.float32]:
        """Raw full vectors of ``texts``, each with ``prompt`` before it.

        ``options`` go to the model's ``encode`` (jina-embeddings-v3's ``task``).
        """
        show = self.show_progress_bar
        if show is None:
            show = len(texts) >= PROGRESS_BAR_MIN_TEXTS
        # ``prompt`` (not string concatenation) lets sentence-transformers exclude
        # the prefix from pooling for models configured that way, and an explicit
        # "" stops the model's own default prompt from being added a second time.
        return self.model.encode(
            list(texts),
            prompt=prompt,
            batch_size=self.batch_size,
            show_progress_bar=show,
            convert_to_numpy=True,
            normalize_embeddings=False,
            **options,
        )

    async def aencode(
        self,
        texts: Sequence[str],
        *,
        input_type: InputType = "document",
        prompt: str = "",
        **options: Any,
    ) -> npt.NDArray[np.float32]:
        """:meth:`encode` in a worker thread, so the event loop keeps running."""
        return await asyncio.to_thread(
            self.encode, texts, input_type=input_type, prompt=prompt, **options
        )
