"""The Matryoshka-aware embedder."""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from mrl_rag._errors import (
    ProfileError,
    TruncationQualityWarning,
    TrustRemoteCodeError,
)
from mrl_rag._profiles import ModelProfile, find_profile, get_profile, profile_from_prompts
from mrl_rag._remote import OpenAICompatibleEncoder
from mrl_rag._texts import check_text, check_texts
from mrl_rag._truncate import check_dim_type, truncate

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["InputType", "MatryoshkaEmbedder", "check_text", "check_texts"]

logger = logging.getLogger(__name__)

InputType = Literal["query", "document"]

#: With ``show_progress_bar=None`` a bar is shown from this many texts on.
PROGRESS_BAR_MIN_TEXTS = 512


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


def _layer_norm_direction(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Nomic's pre-truncation layer norm, up to a per-vector positive scale.

    ``F.layer_norm`` without affine weights subtracts each vector's mean and
    divides by its standard deviation (plus a tiny epsilon). The division is
    the same positive scale for every component of one vector, and every
    vector is L2-normalised afterwards, so centring is all that changes the
    result. Centring in place keeps it as cheap as possible.
    """
    vectors -= vectors.mean(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
    return vectors


def _sentence_transformer_dim(model: SentenceTransformer) -> int | None:
    getter = (
        getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    )
    return getter()


class MatryoshkaEmbedder:
    """A sentence-transformers model that knows its prefixes and dimensions.

    The model runs once, at full size; the requested dimension is a prefix of
    that full vector, renormalised (see :func:`mrl_rag.truncate`). Queries and
    documents get the prefixes of the model's profile by themselves.

    Dimension precedence, as in sentence-transformers: the ``dim`` argument of a
    call, else the embedder's ``dim``, else the full dimension.

    Example:
        >>> embedder = MatryoshkaEmbedder(
        ...     "nomic-ai/nomic-embed-text-v1.5", trust_remote_code=True, dim=256
        ... )  # doctest: +SKIP
        >>> docs = embedder.embed_documents(["Matryoshka dolls nest."])  # doctest: +SKIP
        >>> docs.shape  # doctest: +SKIP
        (1, 256)

    Args:
        model: A hub id such as ``"nomic-ai/nomic-embed-text-v1.5"``, a local
            folder saved by sentence-transformers, or an already loaded
            ``SentenceTransformer``.
        profile: The model's profile, or the name of a registered one. By default
            the profile registered under ``model`` is used; for an unknown model
            one is built from its sentence-transformers configuration (prompts
            and dimension), treated as not Matryoshka-trained.
        dim: Default output dimension; ``None`` means the full dimension.
        query_prefix: Overrides the profile's query prefix (``""`` for none).
        document_prefix: Overrides the profile's document prefix.
        device: Where the model runs (``"cpu"``, ``"cuda"``, ``"cuda:1"``,
            ``"mps"``); by default sentence-transformers picks the best one.
        batch_size: How many texts go through the model at once.
        show_progress_bar: Show a progress bar while encoding. ``None`` shows
            one for inputs of at least 512 texts.
        trust_remote_code: Allow a model to run code from its hub repository.
            A model whose profile needs it is refused unless this is ``True``.
        revision: A model revision (branch, tag or commit) on the hub.
        cache_folder: Where downloaded models are cached.
        model_kwargs: Extra keyword arguments for the underlying transformers
            model, for example ``{"torch_dtype": "float16"}``.

    Raises:
        TrustRemoteCodeError: If the model needs ``trust_remote_code`` and it was
            not passed.
        ProfileError: If the profile disagrees with the loaded model, or names a
            model that is not run in-process (an OpenAI model).
        InvalidDimensionError: If ``dim`` is not allowed for the model.
    """

    def __init__(
        self,
        model: str | Path | SentenceTransformer,
        *,
        profile: ModelProfile | str | None = None,
        dim: int | None = None,
        query_prefix: str | None = None,
        document_prefix: str | None = None,
        device: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
        cache_folder: str | None = None,
        model_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.batch_size = check_dim_type(batch_size, name="batch_size")
        self.show_progress_bar = show_progress_bar
        self._warned_truncation = False
        self._warn_lock = threading.Lock()
        self._remote: OpenAICompatibleEncoder | None = None
        if isinstance(model, OpenAICompatibleEncoder):
            # The server runs the model: nothing is loaded here, no remote code runs here.
            self._remote = model
            self._model = None
            resolved = self._resolve_profile(profile, model.model)
            if resolved is None:
                probe = model.encode(["dimension probe"])
                resolved = profile_from_prompts(
                    model.model,
                    probe.shape[1],
                    {},
                    source=f"dimension probed from {model.base_url}; no prefixes known",
                    backend="openai",
                )
            self._finish(resolved, query_prefix, document_prefix, dim)
            return

        name = model if isinstance(model, str) else str(model) if isinstance(model, Path) else None
        resolved = self._resolve_profile(profile, name)
        if resolved is not None:
            # A model object passed in was loaded by the caller, who made that choice.
            self._check_loadable(resolved, trust_remote_code, loading=name is not None)

        if name is None:
            self._model = self._check_model_object(model)
        else:
            self._model = self._load(
                name,
                device=device,
                trust_remote_code=trust_remote_code,
                revision=revision,
                cache_folder=cache_folder,
                model_kwargs=model_kwargs,
                loading_bar=bool(show_progress_bar),
            )
        model_dim = _sentence_transformer_dim(self._model)
        if model_dim is None:
            raise ProfileError(
                "The model does not report its embedding dimension; pass a profile with "
                "full_dim set explicitly."
            )
        if resolved is None:
            card = getattr(self._model, "model_card_data", None)
            label = name or getattr(card, "base_model", None) or "unnamed model"
            resolved = profile_from_prompts(label, model_dim, dict(self._model.prompts or {}))
        elif resolved.full_dim != model_dim:
            raise ProfileError(
                f"The profile {resolved.name!r} says full_dim={resolved.full_dim}, but the "
                f"loaded model produces {model_dim}-dimensional vectors. Is it the right "
                "profile for this model? Pass profile=... or override full_dim."
            )

        self._finish(resolved, query_prefix, document_prefix, dim)

    def _finish(
        self,
        resolved: ModelProfile,
        query_prefix: str | None,
        document_prefix: str | None,
        dim: int | None,
    ) -> None:
        changes = {
            key: value
            for key, value in (("query_prefix", query_prefix), ("document_prefix", document_prefix))
            if value is not None
        }
        self._profile = resolved.replace(**changes) if changes else resolved
        self._dim = None if dim is None else self._profile.validate_dim(dim)

    # -- construction helpers -------------------------------------------------

    @staticmethod
    def _resolve_profile(
        profile: ModelProfile | str | None, name: str | None
    ) -> ModelProfile | None:
        if isinstance(profile, ModelProfile):
            return profile
        if isinstance(profile, str):
            return get_profile(profile)
        if profile is not None:
            raise TypeError(
                f"profile must be a ModelProfile, a registered model name or None, "
                f"got {type(profile).__name__}."
            )
        return find_profile(name) if name is not None else None

    @staticmethod
    def _check_loadable(profile: ModelProfile, trust_remote_code: bool, *, loading: bool) -> None:
        if profile.backend != "sentence-transformers":
            raise ProfileError(
                f"{profile.name} is served by the {profile.backend} API, not run "
                "in-process; MatryoshkaEmbedder loads sentence-transformers models only."
            )
        if loading and profile.trust_remote_code and not trust_remote_code:
            raise TrustRemoteCodeError(
                f"{profile.name} runs code from its hub repository when loaded. Review that "
                "code, then pass trust_remote_code=True to MatryoshkaEmbedder to allow it; "
                "mrl-rag never enables it by itself."
            )

    @staticmethod
    def _check_model_object(model: Any) -> SentenceTransformer:
        from sentence_transformers import SentenceTransformer

        if not isinstance(model, SentenceTransformer):
            raise TypeError(
                "model must be a hub id, a local path or a SentenceTransformer, got "
                f"{type(model).__name__}."
            )
        if model.truncate_dim is not None:
            raise ProfileError(
                f"The SentenceTransformer was created with truncate_dim={model.truncate_dim}; "
                "MatryoshkaEmbedder needs the full vectors. Load it without truncate_dim and "
                "pass dim=... to MatryoshkaEmbedder instead."
            )
        return model

    @staticmethod
    def _load(
        name: str,
        *,
        device: str | None,
        trust_remote_code: bool,
        revision: str | None,
        cache_folder: str | None,
        model_kwargs: dict[str, Any] | None,
        loading_bar: bool,
    ) -> SentenceTransformer:
        from sentence_transformers import SentenceTransformer

        try:
            with _quiet_loading(not loading_bar):
                return SentenceTransformer(
                    name,
                    device=device,
                    trust_remote_code=trust_remote_code,
                    revision=revision,
                    cache_folder=cache_folder,
                    model_kwargs=model_kwargs,
                )
        except ValueError as exc:
            if "trust_remote_code" in str(exc) and not trust_remote_code:
                raise TrustRemoteCodeError(
                    f"{name} runs code from its hub repository when loaded. Review that "
                    "code, then pass trust_remote_code=True to MatryoshkaEmbedder to allow "
                    "it; mrl-rag never enables it by itself."
                ) from exc
            raise

    # -- properties ----------------------------------------------------------

    @property
    def profile(self) -> ModelProfile:
        """The model's profile, with any prefix overrides applied."""
        return self._profile

    @property
    def model(self) -> SentenceTransformer | OpenAICompatibleEncoder:
        """The underlying ``SentenceTransformer``, or the remote encoder."""
        return self._remote if self._remote is not None else self._model

    @property
    def full_dim(self) -> int:
        """The dimension of the model's untruncated output."""
        return self._profile.full_dim

    @property
    def dim(self) -> int:
        """The default output dimension (the full dimension unless set)."""
        return self._dim if self._dim is not None else self._profile.full_dim

    @dim.setter
    def dim(self, value: int | None) -> None:
        self._dim = None if value is None else self._profile.validate_dim(value)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(model={self._profile.name!r}, dim={self.dim}, "
            f"full_dim={self.full_dim}, "
            + (
                f"remote={self._remote.base_url!r})"
                if self._remote
                else f"device={str(self._model.device)!r})"
            )
        )

    # -- dimensions ------------------------------------------------------------

    def resolve_dim(self, dim: int | None = None) -> int:
        """Return the dimension a call with this ``dim`` argument produces.

        Args:
            dim: The per-call dimension, or ``None`` for the embedder's default.

        Returns:
            The validated dimension.

        Raises:
            InvalidDimensionError: If the dimension is not allowed for the model.
        """
        if dim is None:
            return self.dim
        return self._profile.validate_dim(dim)

    def truncate(self, vectors: npt.ArrayLike, dim: int | None = None) -> npt.NDArray[np.float32]:
        """Truncate full vectors from :meth:`encode` to a dimension of this model.

        Unlike :func:`mrl_rag.truncate`, the dimension is checked against the
        model's profile, and truncating a model that is not Matryoshka-trained
        warns (once per embedder).

        Args:
            vectors: Full vectors, shape ``(full_dim,)`` or ``(n, full_dim)``.
            dim: Target dimension; ``None`` means the embedder's default.

        Returns:
            float32 unit vectors of the requested dimension.
        """
        target = self.resolve_dim(dim)
        array = np.asarray(vectors, dtype=np.float32)
        if array.shape[-1] != self.full_dim:
            raise ValueError(
                f"vectors must be full {self.full_dim}-dimensional vectors of "
                f"{self._profile.name}, got shape {array.shape}."
            )
        if target == self.full_dim:
            return array
        self._warn_if_not_matryoshka(target)
        return truncate(array, target)

    def _warn_if_not_matryoshka(self, dim: int) -> None:
        if self._profile.matryoshka or self._warned_truncation:
            return
        with self._warn_lock:
            if self._warned_truncation:
                return
            self._warned_truncation = True
        warnings.warn(
            f"{self._profile.name} was not trained with Matryoshka Representation "
            f"Learning, so its {dim}-dimensional prefix is a much weaker embedding than "
            f"the full {self.full_dim} dimensions. Expect to lose a large share of "
            "retrieval quality at small dimensions: measured with all-MiniLM-L6-v2 on "
            "SciFact, search at 64 of 384 dimensions kept about three quarters of the "
            "full-dimension nDCG@10. Measure it on your own texts with "
            "mrl_rag.rank_agreement(embedder, documents, queries, dims=[...]), and rerank "
            "with the full vectors (the funnel) to recover most of it.",
            TruncationQualityWarning,
            stacklevel=4,
        )

    # -- encoding --------------------------------------------------------------

    def encode(
        self, texts: Sequence[str], *, input_type: InputType = "document"
    ) -> npt.NDArray[np.float32]:
        """Encode texts once, at full size, with the right prefix.

        The result is what every truncation is cut from: float32, shape
        ``(n, full_dim)``, unit length, with the profile's pre-truncation step
        applied. Pass it to :meth:`truncate` (or :func:`mrl_rag.truncate`) for any
        smaller dimension without running the model again.

        Args:
            texts: The texts, without prefixes.
            input_type: ``"query"`` or ``"document"``: which prefix to add.

        Returns:
            The full vectors; an empty ``(0, full_dim)`` array for no texts.

        Raises:
            InvalidTextError: If a text is empty, ``None`` or not a string.
        """
        if input_type == "query":
            prefix = self._profile.query_prefix
        elif input_type == "document":
            prefix = self._profile.document_prefix
        else:
            raise ValueError(f"input_type must be 'query' or 'document', got {input_type!r}.")
        batch = check_texts(texts)
        if not batch:
            return np.zeros((0, self.full_dim), dtype=np.float32)
        if self._remote is not None:
            raw = self._remote.encode([prefix + text for text in batch])
            return self._finish_vectors(raw)
        show = self.show_progress_bar
        if show is None:
            show = len(batch) >= PROGRESS_BAR_MIN_TEXTS
        # ``prompt`` (not string concatenation) lets sentence-transformers exclude
        # the prefix from pooling for models configured that way, and an explicit
        # "" stops the model's own default prompt from being added a second time.
        raw = self._model.encode(
            batch,
            prompt=prefix,
            batch_size=self.batch_size,
            show_progress_bar=show,
            convert_to_numpy=True,
            normalize_embeddings=False,
        )
        return self._finish_vectors(raw)

    def _finish_vectors(self, raw: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Raw model output as full vectors: pre-truncation step, unit length."""
        vectors = np.asarray(raw, dtype=np.float32)
        if vectors.shape[-1] != self.full_dim:
            raise ValueError(
                f"the model returned {vectors.shape[-1]}-dimensional vectors; the profile "
                f"{self._profile.name!r} expects {self.full_dim}."
            )
        if self._profile.pre_truncation == "layer_norm":
            vectors = _layer_norm_direction(vectors)
        return truncate(vectors, self.full_dim)

    def embed_documents(
        self, texts: Sequence[str], dim: int | None = None
    ) -> npt.NDArray[np.float32]:
        """Embed documents with the document prefix.

        Args:
            texts: The documents, without prefixes.
            dim: Output dimension for this call; ``None`` means the embedder's.

        Returns:
            float32 unit vectors of shape ``(len(texts), dim)``.
        """
        target = self.resolve_dim(dim)
        return self.truncate(self.encode(texts, input_type="document"), target)

    def embed_queries(
        self, texts: Sequence[str], dim: int | None = None
    ) -> npt.NDArray[np.float32]:
        """Embed several queries with the query prefix.

        Args:
            texts: The queries, without prefixes.
            dim: Output dimension for this call; ``None`` means the embedder's.

        Returns:
            float32 unit vectors of shape ``(len(texts), dim)``.
        """
        target = self.resolve_dim(dim)
        return self.truncate(self.encode(texts, input_type="query"), target)

    def embed_query(self, text: str, dim: int | None = None) -> npt.NDArray[np.float32]:
        """Embed one query with the query prefix.

        Args:
            text: The query, without prefix.
            dim: Output dimension for this call; ``None`` means the embedder's.

        Returns:
            A float32 unit vector of shape ``(dim,)``.
        """
        target = self.resolve_dim(dim)
        return self.embed_queries([check_text(text)], dim=target)[0]
