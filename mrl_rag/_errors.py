"""Exceptions raised by mrl-rag.

Every exception derives from :class:`MRLRagError`, and also from the built-in
exception a Python user would expect (``ValueError`` for a bad value,
``TypeError`` for a bad type, ``LookupError`` for an unknown name), so existing
``except ValueError:`` code keeps working.
"""

from __future__ import annotations


class MRLRagError(Exception):
    """Base class of every error raised by mrl-rag."""


class InvalidArgumentError(MRLRagError, ValueError):
    """An argument has a value that is not allowed.

    The message names the parameter, the value given and what is allowed.
    """


class ArgumentTypeError(MRLRagError, TypeError):
    """An argument has the wrong type, or arguments that exclude each other were combined."""


class InvalidDimensionError(InvalidArgumentError):
    """A requested embedding dimension is not allowed for this model or array."""


class InvalidVectorError(InvalidArgumentError):
    """A vector has the wrong shape, holds NaN or infinite values, or is all zeros."""


class InvalidTextError(InvalidArgumentError, TypeError):
    """An input text is empty, ``None`` or not a string.

    It is both a ``ValueError`` and a ``TypeError`` so that callers can catch it
    either way.
    """


class DataNotFoundError(MRLRagError, FileNotFoundError):
    """A file or folder of data to read (a BEIR set, documents, queries) does not exist."""


class ProfileError(MRLRagError, ValueError):
    """A model profile is inconsistent, or disagrees with the loaded model."""


class UnknownModelError(MRLRagError, LookupError):
    """No profile is registered under the requested model name."""

    def __str__(self) -> str:  # LookupError would otherwise repr() the message.
        return str(self.args[0]) if self.args else ""


class TrustRemoteCodeError(MRLRagError):
    """The model runs code from its hub repository and the user has not allowed it."""


class StoreMismatchError(MRLRagError, ValueError):
    """An existing store was built with another model or incompatible settings."""


class StoreNotFoundError(MRLRagError, LookupError):
    """A store was opened with ``create=False`` and its collection does not exist."""

    def __str__(self) -> str:  # LookupError would otherwise repr() the message.
        return str(self.args[0]) if self.args else ""


class RecordNotFoundError(MRLRagError, KeyError):
    """An id asked for is not in the store."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message.
        return str(self.args[0]) if self.args else ""


class StoreLockedError(MRLRagError, RuntimeError):
    """An embedded store's folder is already open in another process."""


class StoreDamagedError(MRLRagError, RuntimeError):
    """A store's files are damaged or do not match its Chroma collection.

    The store refuses to open rather than answer from damaged data; the message
    names the file and how to repair it.
    """


class RemoteEmbeddingError(MRLRagError, RuntimeError):
    """An embeddings server failed, refused the request, or answered something unusable."""


class TruncationQualityWarning(UserWarning):
    """Truncating a model that was not Matryoshka-trained loses retrieval quality."""
