"""Validation of input texts, shared by the embedder and the remote client."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mrl_rag._errors import InvalidTextError

__all__ = ["check_text", "check_texts"]


def check_texts(texts: Any, *, name: str = "texts") -> list[str]:
    """Check a batch of texts and return it as a list.

    Args:
        texts: A list, tuple or other iterable of strings (not a single string).
        name: The parameter name to use in error messages.

    Returns:
        The texts as a new list (an empty list stays empty).

    Raises:
        InvalidTextError: If ``texts`` is a single string or not iterable, or if
            an element is ``None``, not a string, or empty (or only whitespace).
            The message names the element's index.
    """
    if isinstance(texts, (str, bytes)):
        raise InvalidTextError(
            f"{name} must be a list of strings, got a single {type(texts).__name__}; "
            "wrap it in a list, or use embed_query() for one query."
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
        _check_utf8(text, f"{name}[{index}]")
    return checked


def check_text(text: Any, *, name: str = "text") -> str:
    """Check one text: a non-empty string, or :class:`InvalidTextError` naming ``name``."""
    if not isinstance(text, str):
        what = "None" if text is None else f"a {type(text).__name__}"
        raise InvalidTextError(f"{name} must be a non-empty string, got {what}.")
    if not text.strip():
        raise InvalidTextError(f"{name} must be a non-empty string, got {text!r:.20}.")
    _check_utf8(text, name)
    return text


def _check_utf8(text: str, name: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidTextError(
            f"{name} holds a lone surrogate at position {exc.start} ({text!r:.40}); "
            "texts must be valid UTF-8."
        ) from None
