"""The Matryoshka-aware embedder: prefixes, dimensions and truncation for every backend."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from mrl_rag._errors import (
    ArgumentTypeError,
    InvalidVectorError,
    ProfileError,
    TruncationQualityWarning,
)
from mrl_rag._profiles import ModelProfile, find_profile, get_profile, profile_from_prompts
from mrl_rag._truncate import truncate
from mrl_rag._validation import check_choice, check_text, check_texts, check_vectors
from mrl_rag.encoders.base import Encoder, InputType
from mrl_rag.encoders.sentence_transformers import SentenceTransformerEncoder

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["InputType", "MatryoshkaEmbedder"]

_INPUT_TYPES: tuple[InputType, ...] = ("query", "document")


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


class MatryoshkaEmbedder:
    """Any embedding backend, made Matryoshka-aware: prefixes, dimensions, truncation.

    The backend (an :class:`~mrl_rag.encoders.Encoder`) runs once per text, at
    full size; the requested dimension is a prefix of that full vector,
    renormalised (see :func:`mrl_rag.truncate`). Queries and documents get the
    prefixes of the model's profile by themselves. Every backend goes through
    the same code here, so the funnel store, the adapters and the advisor work
    unchanged on each.

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
        model: What embeds: a hub id such as ``"nomic-ai/nomic-embed-text-v1.5"``
            or a local sentence-transformers folder (loaded in-process), an
            already loaded ``SentenceTransformer``, or any
            :class:`~mrl_rag.encoders.Encoder` (an OpenAI-compatible server, or a
            LangChain / LlamaIndex embeddings object wrapped by the adapters).
        profile: The model's profile, or the name of a registered one. By default
            the profile registered under the model's name is used; for an
            unknown model one is built from what the backend tells (prompts,
            dimension), treated as not Matryoshka-trained.
        dim: Default output dimension; ``None`` means the full dimension.
        query_prefix: Overrides the profile's query prefix (``""`` for none).
        document_prefix: Overrides the profile's document prefix.
        device: For a model loaded here: where it runs (``"cpu"``, ``"cuda"``,
            ``"cuda:1"``, ``"mps"``); by default sentence-transformers picks.
        batch_size: For a model loaded here: texts through the model at once.
        show_progress_bar: Show progress bars while loading, encoding and
            storing. ``None`` shows one for inputs of at least 512 texts.
        trust_remote_code: For a model loaded here: allow it to run code from
            its hub repository. A model whose profile needs it is refused
            unless this is ``True``.
        revision: For a model loaded here: a hub revision (branch, tag, commit).
        cache_folder: For a model loaded here: where downloads are cached.
        model_kwargs: For a model loaded here: extra keyword arguments for the
            transformers model, for example ``{"torch_dtype": "float16"}``.

    Raises:
        TrustRemoteCodeError: If the model needs ``trust_remote_code`` and it was
            not passed.
        ProfileError: If the profile disagrees with the backend's dimension, or
            names a model served by an API while a name was given to load.
        InvalidDimensionError: If ``dim`` is not allowed for the model.
        ArgumentTypeError: If ``model`` is none of the above, or a loading
            option is given with a backend object (configure the object).
    """

    def __init__(
        self,
        model: str | Path | SentenceTransformer | Encoder,
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
        self.show_progress_bar = show_progress_bar
        self._warned_truncation = False
        self._warn_lock = threading.Lock()
        if isinstance(model, str | Path):
            resolved = self._resolve_profile(profile, str(model))
            self._encoder: Encoder = SentenceTransformerEncoder.load(
                model,
                profile=resolved,
                device=device,
                trust_remote_code=trust_remote_code,
                revision=revision,
                cache_folder=cache_folder,
                model_kwargs=model_kwargs,
                batch_size=batch_size,
                show_progress_bar=show_progress_bar,
            )
        else:
            loading = {
                "device": device,
                "trust_remote_code": trust_remote_code or None,
                "revision": revision,
                "cache_folder": cache_folder,
                "model_kwargs": model_kwargs,
            }
            given = [key for key, value in loading.items() if value is not None]
            if given:
                raise ArgumentTypeError(
                    f"{', '.join(given)} configure a model loaded by name; this model "
                    f"({type(model).__name__}) is already built. Set them on it instead."
                )
            if not isinstance(model, Encoder):
                # A caller-loaded model: the caller chose whether it runs hub code.
                model = SentenceTransformerEncoder(
                    model, batch_size=batch_size, show_progress_bar=show_progress_bar
                )
            self._encoder = model
            resolved = self._resolve_profile(profile, self._encoder.model_name)
        self._profile = self._checked_profile(resolved)
        changes = {
            key: value
            for key, value in (("query_prefix", query_prefix), ("document_prefix", document_prefix))
            if value is not None
        }
        if changes:
            self._profile = self._profile.replace(**changes)
        self._dim = None if dim is None else self._profile.validate_dim(dim)

    # -- construction helpers -------------------------------------------------

    @staticmethod
    def _resolve_profile(profile: ModelProfile | str | None, name: str) -> ModelProfile | None:
        if isinstance(profile, ModelProfile):
            return profile
        if isinstance(profile, str):
            return get_profile(profile)
        if profile is not None:
            raise ArgumentTypeError(
                f"profile must be a ModelProfile, a registered model name or None, "
                f"got {type(profile).__name__}."
            )
        return find_profile(name)

    def _probe_dim(self) -> int:
        """The backend's full dimension, from one embedded text (checked like any answer)."""
        raw = self._encoder.encode(["dimension probe"], input_type="document", prompt="")
        try:
            probe = np.asarray(raw, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            probe, problem = None, str(exc)
        if probe is None or probe.ndim != 2 or probe.shape[0] != 1 or probe.shape[1] < 1:
            shape = problem if probe is None else f"shape {probe.shape}"
            raise ProfileError(
                f"The backend {self._encoder!r} answered one probe text with {shape}, not "
                "one vector; it cannot be used as an embedding model."
            )
        return int(probe.shape[1])

    def _checked_profile(self, resolved: ModelProfile | None) -> ModelProfile:
        """The profile, checked against (or, if none is known, built from) the backend."""
        encoder = self._encoder
        full_dim = encoder.full_dim
        if full_dim is None and resolved is None:
            full_dim = self._probe_dim()
        if resolved is None:
            return profile_from_prompts(
                encoder.model_name,
                full_dim,  # type: ignore[arg-type]
                dict(getattr(encoder, "prompts", None) or {}),
                source=f"built from {encoder!r}; not known to be Matryoshka-trained",
            )
        if full_dim is not None and resolved.full_dim != full_dim:
            raise ProfileError(
                f"The profile {resolved.name!r} says full_dim={resolved.full_dim}, but the "
                f"model produces {full_dim}-dimensional vectors. Is it the right profile "
                "for this model? Pass profile=... or override full_dim."
            )
        return resolved

    # -- properties ----------------------------------------------------------

    @property
    def profile(self) -> ModelProfile:
        """The model's profile, with any prefix overrides applied."""
        return self._profile

    @property
    def encoder(self) -> Encoder:
        """The backend that embeds texts at full size."""
        return self._encoder

    @property
    def model(self) -> Any:
        """The ``SentenceTransformer`` for an in-process model, else the encoder."""
        encoder = self._encoder
        return encoder.model if isinstance(encoder, SentenceTransformerEncoder) else encoder

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
            f"full_dim={self.full_dim}, encoder={self._encoder!r})"
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

        Raises:
            InvalidVectorError: If the vectors are not ``full_dim`` wide.
        """
        target = self.resolve_dim(dim)
        array = np.asarray(vectors, dtype=np.float32)
        name, model = "vectors", self._profile.name
        if array.ndim == 1:
            return self._cut(
                check_vectors(array[None], self.full_dim, name=name, model=model), target
            )[0]
        return self._cut(check_vectors(array, self.full_dim, name=name, model=model), target)

    def _cut(self, vectors: npt.NDArray[np.float32], dim: int) -> npt.NDArray[np.float32]:
        """The one truncation of a call: ``dim`` is already validated."""
        if dim != self.full_dim:
            self._warn_if_not_matryoshka(dim)
        return truncate(vectors, dim)

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

    def _prompt(self, input_type: InputType) -> str:
        check_choice(input_type, _INPUT_TYPES, name="input_type")
        if input_type == "query":
            return self._profile.query_prefix
        return self._profile.document_prefix

    def _raw(self, batch: list[str], input_type: InputType) -> npt.NDArray[np.float32]:
        """The backend's vectors for checked texts, with the pre-truncation step applied."""
        raw = self._encoder.encode(
            batch,
            input_type=input_type,
            prompt=self._prompt(input_type),
            **self._profile.options_for(input_type),
        )
        return self._prepared(raw, len(batch))

    async def _araw(self, batch: list[str], input_type: InputType) -> npt.NDArray[np.float32]:
        prompt = self._prompt(input_type)
        options = self._profile.options_for(input_type)
        raw = await self._encoder.aencode(batch, input_type=input_type, prompt=prompt, **options)
        return self._prepared(raw, len(batch))

    def _prepared(self, raw: npt.ArrayLike, n: int) -> npt.NDArray[np.float32]:
        try:
            vectors = np.asarray(raw, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise ProfileError(
                f"The backend {self._encoder!r} returned something that is not an array "
                f"of {n} vectors: {exc}"
            ) from None
        if vectors.ndim != 2 or vectors.shape != (n, self.full_dim):
            raise ProfileError(
                f"The backend {self._encoder!r} returned vectors of shape {vectors.shape} "
                f"for {n} texts; the profile {self._profile.name!r} expects "
                f"({n}, {self.full_dim})."
            )
        bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
        if len(bad):
            raise InvalidVectorError(
                f"The backend {self._encoder!r} returned NaN or infinite values for "
                f"text {bad[0]} of {n} (a model run in float16 can overflow); nothing "
                "was returned or stored."
            )
        if self._profile.pre_truncation == "layer_norm":
            vectors = _layer_norm_direction(vectors)
        return vectors

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
            InvalidTextError: If a text is empty, ``None``, not a string or not
                valid UTF-8.
        """
        return self._embed(texts, input_type, self.full_dim)

    async def aencode(
        self, texts: Sequence[str], *, input_type: InputType = "document"
    ) -> npt.NDArray[np.float32]:
        """:meth:`encode` for asyncio: the backend's own async path where it has one."""
        return await self._aembed(texts, input_type, self.full_dim)

    def _embed(
        self, texts: Sequence[str], input_type: InputType, dim: int
    ) -> npt.NDArray[np.float32]:
        """Check texts, run the backend once, truncate once. ``dim`` is validated."""
        batch = check_texts(texts)
        if not batch:
            return np.zeros((0, dim), dtype=np.float32)
        return self._cut(self._raw(batch, input_type), dim)

    async def _aembed(
        self, texts: Sequence[str], input_type: InputType, dim: int
    ) -> npt.NDArray[np.float32]:
        """:meth:`_embed` through the backend's async path."""
        batch = check_texts(texts)
        if not batch:
            return np.zeros((0, dim), dtype=np.float32)
        return self._cut(await self._araw(batch, input_type), dim)

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
        return self._embed(texts, "document", self.resolve_dim(dim))

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
        return self._embed(texts, "query", self.resolve_dim(dim))

    def embed_query(self, text: str, dim: int | None = None) -> npt.NDArray[np.float32]:
        """Embed one query with the query prefix.

        Args:
            text: The query, without prefix.
            dim: Output dimension for this call; ``None`` means the embedder's.

        Returns:
            A float32 unit vector of shape ``(dim,)``.
        """
        return self._embed([check_text(text)], "query", self.resolve_dim(dim))[0]

    async def aembed_documents(
        self, texts: Sequence[str], dim: int | None = None
    ) -> npt.NDArray[np.float32]:
        """:meth:`embed_documents` for asyncio."""
        return await self._aembed(texts, "document", self.resolve_dim(dim))

    async def aembed_query(self, text: str, dim: int | None = None) -> npt.NDArray[np.float32]:
        """:meth:`embed_query` for asyncio."""
        target = self.resolve_dim(dim)
        return self._cut(await self._araw([check_text(text)], "query"), target)[0]
