"""The one validation path of mrl-rag: every argument check lives here.

The embedder, the store, the encoders and both framework adapters check
dimensions, counts, texts, vectors and options through these functions, so
that the same misuse gets the same error everywhere. Each error names the
parameter, the value given and what is allowed, and is an
:class:`~mrl_rag.MRLRagError` (see :mod:`mrl_rag._errors` for the family).

Dimensions that depend on the model (``dim``, ``search_dim``, ``rerank_dim``,
a cascade's dims) are checked by :meth:`ModelProfile.validate_dim`, which
calls :func:`check_count` first.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from mrl_rag._errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    InvalidDimensionError,
    InvalidTextError,
    InvalidVectorError,
)

__all__ = [
    "MAX_COUNT",
    "check_choice",
    "check_count",
    "check_dim_type",
    "check_full_vector",
    "check_positive_number",
    "check_text",
    "check_texts",
    "check_vectors",
]

#: The largest count (``k``, ``shortlist``, ``batch_size``, a dimension) accepted:
#: Chroma takes ``n_results`` as a 32-bit integer.
MAX_COUNT = 2**31 - 1

T = TypeVar("T")


def check_count(
    value: Any, *, name: str, maximum: int = MAX_COUNT, error: type[Exception] | None = None
) -> int:
    """Return ``value`` as an ``int`` if it is an integer from 1 to ``maximum``.

    Args:
        value: The value to check. Python and NumPy integers are accepted;
            ``bool``, floats (even ``4.0``) and strings are not.
        name: The parameter name to use in the error message.
        maximum: The largest value allowed.
        error: The exception class to raise (default :class:`InvalidArgumentError`).

    Returns:
        ``value`` as a plain ``int``.

    Raises:
        InvalidArgumentError: If ``value`` is not an integer in ``1..maximum``.
    """
    kind = error or InvalidArgumentError
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise kind(f"{name} must be a positive integer, got {value!r} ({type(value).__name__}).")
    if value < 1:
        raise kind(f"{name} must be a positive integer, got {value}.")
    if value > maximum:
        raise kind(f"{name} must be a positive integer of at most {maximum}, got {value}.")
    return int(value)


def check_dim_type(dim: Any, *, name: str = "dim") -> int:
    """:func:`check_count` for a dimension: raises :class:`InvalidDimensionError`."""
    return check_count(dim, name=name, error=InvalidDimensionError)


def check_positive_number(value: Any, *, name: str, allow_zero: bool = False) -> float:
    """Return ``value`` as a ``float`` if it is a finite number above 0 (or 0, if allowed).

    Raises:
        InvalidArgumentError: If ``value`` is not a number, is NaN or infinite, or
            is below the allowed range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgumentError(
            f"{name} must be a number of seconds, got {value!r} ({type(value).__name__})."
        )
    number = float(value)
    low_ok = number >= 0 if allow_zero else number > 0
    if not math.isfinite(number) or not low_ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidArgumentError(f"{name} must be a finite number {bound}, got {value!r}.")
    return number


def check_choice(value: T, allowed: Iterable[T], *, name: str) -> T:
    """Return ``value`` if it is one of ``allowed``, else an error listing them."""
    options = tuple(allowed)
    if not any(value is option or value == option for option in options):
        listed = ", ".join(map(repr, options))
        raise InvalidArgumentError(f"{name} must be one of {listed}, got {value!r}.")
    return value


# -- texts ------------------------------------------------------------------------


def check_texts(texts: Any, *, name: str = "texts") -> list[str]:
    """Check a batch of texts and return it as a list.

    Args:
        texts: A list, tuple or other iterable of strings (not a single string).
        name: The parameter name to use in error messages.

    Returns:
        The texts as a new list (an empty list stays empty).

    Raises:
        InvalidTextError: If ``texts`` is a single string or not iterable, or if
            an element is ``None``, not a string, empty (or only whitespace), or
            holds a lone surrogate. The message names the element's index.
    """
    if isinstance(texts, (str, bytes)):
        raise InvalidTextError(
            f"{name} must be a list of strings, got a single {type(texts).__name__}; "
            "wrap it in a list ([text])."
        )
    if isinstance(texts, dict) or not isinstance(texts, Iterable):
        raise InvalidTextError(f"{name} must be a list of strings, got {type(texts).__name__}.")
    checked = list(texts)
    for index, text in enumerate(checked):
        if not isinstance(text, str):
            what = "None" if text is None else f"a {type(text).__name__} ({text!r:.40})"
            raise InvalidTextError(
                f"{name}[{index}] is {what}; every text must be a non-empty string."
            )
        if not text.strip():
            raise InvalidTextError(
                f"{name}[{index}] is empty or only whitespace ({text!r:.20}); "
                "every text must be a non-empty string."
            )
        check_utf8(text, name=f"{name}[{index}]")
    return checked


def check_text(text: Any, *, name: str = "text") -> str:
    """Check one text: a non-empty string, or :class:`InvalidTextError` naming ``name``."""
    if not isinstance(text, str):
        what = "None" if text is None else f"a {type(text).__name__}"
        raise InvalidTextError(f"{name} must be a non-empty string, got {what}.")
    if not text.strip():
        raise InvalidTextError(f"{name} must be a non-empty string, got {text!r:.20}.")
    check_utf8(text, name=name)
    return text


def check_utf8(text: str, *, name: str, error: type[Exception] = InvalidTextError) -> str:
    """Refuse a string that UTF-8 cannot encode (a lone surrogate), naming ``name``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise error(
            f"{name} holds a lone surrogate at position {exc.start} ({text!r:.40}); "
            "strings must be valid UTF-8."
        ) from None
    return text


# -- vectors ----------------------------------------------------------------------


def check_vectors(vectors: Any, full_dim: int, *, name: str, model: str) -> npt.NDArray[np.float32]:
    """Full vectors as float32 ``(n, full_dim)``: finite and not zero."""
    try:
        full = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidVectorError(
            f"{name} must be an array of numbers of shape (n, {full_dim}): {exc}"
        ) from None
    if full.ndim != 2 or full.shape[1] != full_dim:
        raise InvalidVectorError(
            f"{name} must have shape (n, {full_dim}) for {model}, got {full.shape}."
        )
    bad = np.flatnonzero(~np.isfinite(full).all(axis=1))
    if len(bad):
        raise InvalidVectorError(f"{name}[{bad[0]}] holds NaN or infinite values.")
    zero = np.flatnonzero(~full.any(axis=1))
    if len(zero):
        raise InvalidVectorError(
            f"{name}[{zero[0]}] is all zeros; it has no direction to search by."
        )
    return full


def check_full_vector(vector: Any, full_dim: int, *, name: str) -> npt.NDArray[np.float32]:
    """One full vector, float32 ``(full_dim,)``: finite and not zero."""
    try:
        query = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidVectorError(f"{name} must be a vector of {full_dim} numbers: {exc}") from None
    if query.shape != (full_dim,):
        raise InvalidVectorError(
            f"{name} must be a full {full_dim}-dimensional vector, got shape {query.shape}."
        )
    if not np.isfinite(query).all():
        raise InvalidVectorError(f"{name} holds NaN or infinite values.")
    if not query.any():
        raise InvalidVectorError(f"{name} is all zeros; it has no direction to search by.")
    return query


def require_type(value: Any, kinds: type | tuple[type, ...], *, name: str, allowed: str) -> None:
    """Raise :class:`ArgumentTypeError` unless ``value`` is an instance of ``kinds``."""
    if not isinstance(value, kinds):
        raise ArgumentTypeError(f"{name} must be {allowed}, got {type(value).__name__}.")
