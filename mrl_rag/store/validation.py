"""Validation of everything a write carries, before anything is written.

Metadata is normalised to exactly what Chroma stores and returns, so that the
copy the local format keeps equals what ``get`` and filters see: ``None``
values are dropped (Chroma keeps no key for them), ``-0.0`` becomes ``0.0``,
and what Chroma would change, hide or refuse (integers outside 64 bits, NaN or
infinite floats, empty or mixed lists, keys ``""``, ``#...``, ``$...`` or
``chroma:...``) is an error that names the record, the key and the value.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

from mrl_rag._errors import ArgumentTypeError, InvalidArgumentError
from mrl_rag._validation import check_utf8, check_vectors

__all__ = ["INTERNAL_PREFIX", "check_ids", "check_metadatas", "check_vectors", "content_id"]


#: Metadata keys starting with this belong to mrl-rag.
INTERNAL_PREFIX = "_mrl"
_INT64 = (-(2**63), 2**63 - 1)
#: The longest list a metadata value may be.
MAX_LIST = 1024


def content_id(text: str) -> str:
    """A stable id for a text: rerunning the same add yields the same ids."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_ids(ids: Sequence[str] | None, n: int, default: list[str] | None) -> list[str]:
    """Ids as a list: given (non-empty, unique, valid UTF-8) or derived from texts."""
    derived = ids is None
    if ids is None:
        if default is None:
            raise ArgumentTypeError("ids are required for precomputed vectors.")
        ids = [content_id(text) for text in default]
    else:
        if isinstance(ids, str):
            raise ArgumentTypeError("ids must be a list of strings, got a single str.")
        ids = list(ids)
        for i, record_id in enumerate(ids):
            if not isinstance(record_id, str) or not record_id:
                raise InvalidArgumentError(
                    f"ids[{i}] must be a non-empty string, got {record_id!r}."
                )
            check_utf8(record_id, name=f"ids[{i}]", error=InvalidArgumentError)
        if len(ids) != n:
            raise InvalidArgumentError(f"ids has {len(ids)} entries for {n} texts.")
    seen: dict[str, int] = {}
    for i, record_id in enumerate(ids):
        if record_id in seen:
            if derived:
                raise InvalidArgumentError(
                    f"texts[{i}] repeats texts[{seen[record_id]}]: identical texts get the "
                    "same default id. Pass ids=... to keep both, or drop the duplicate."
                )
            raise InvalidArgumentError(
                f"ids[{i}] repeats ids[{seen[record_id]}] ({record_id!r}); ids must be "
                "unique within one call."
            )
        seen[record_id] = i
    return ids


def _scalar(value: Any, where: str) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise InvalidArgumentError(
                f"{where} is {value}, outside Chroma's 64-bit integers "
                f"({_INT64[0]} to {_INT64[1]}); store it as a string."
            )
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgumentError(f"{where} is {value}; Chroma stores only finite floats.")
        return value + 0.0  # -0.0 becomes 0.0, as Chroma returns it
    if isinstance(value, str):
        check_utf8(value, name=where, error=InvalidArgumentError)
        return value
    raise InvalidArgumentError(
        f"{where} is a {type(value).__name__} ({value!r:.40}); Chroma metadata values are "
        "str, int, float, bool, None or a non-empty list of one of the first four."
    )


def _normalise(metadata: Mapping[str, Any], label: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise InvalidArgumentError(f"{label} has key {key!r}; keys must be non-empty strings.")
        if key.startswith(INTERNAL_PREFIX):
            raise InvalidArgumentError(
                f"{label} uses reserved key {key!r}; keys starting with "
                f"{INTERNAL_PREFIX!r} belong to mrl-rag."
            )
        if key[0] in "#$" or key.startswith("chroma:") or not _encodable(key):
            raise InvalidArgumentError(
                f"{label} has key {key!r}; Chroma reserves keys starting with '#', '$' "
                "or 'chroma:' (it hides or refuses them) and refuses strings that are "
                "not valid UTF-8."
            )
        where = f"{label}[{key!r}]"
        if value is None:
            continue  # Chroma keeps no key for None
        if isinstance(value, list | tuple):
            if len(value) > MAX_LIST:
                raise InvalidArgumentError(
                    f"{where} is a list of {len(value)} items; at most {MAX_LIST} are allowed "
                    "(Chroma 1.5.9 fails on lists of about 5,000 and the store then no "
                    "longer opens)."
                )
            items = [_scalar(v, f"{where}[{j}]") for j, v in enumerate(value)]
            kinds = {bool if isinstance(v, bool) else type(v) for v in items}
            if not items or len(kinds) != 1:
                raise InvalidArgumentError(
                    f"{where} is {value!r:.60}; a list value must be non-empty and hold one "
                    "type (str, int, float or bool)."
                )
            out[key] = items
        else:
            out[key] = _scalar(value, where)
    return out


def check_metadatas(
    metadatas: Sequence[Mapping[str, Any] | None] | None, n: int
) -> list[dict[str, Any]]:
    """Metadata per record, normalised to what Chroma stores (see the module)."""
    if metadatas is None:
        return [{} for _ in range(n)]
    if isinstance(metadatas, Mapping):
        raise ArgumentTypeError(
            "metadatas must be a list with one dict (or None) per record, got a dict."
        )
    metadatas = list(metadatas)
    if len(metadatas) != n:
        raise InvalidArgumentError(f"metadatas has {len(metadatas)} entries for {n} records.")
    out = []
    for i, metadata in enumerate(metadatas):
        if metadata is None:
            out.append({})
        elif not isinstance(metadata, Mapping):
            raise ArgumentTypeError(
                f"metadatas[{i}] must be a dict or None, got {type(metadata).__name__}."
            )
        else:
            out.append(_normalise(metadata, f"metadatas[{i}]"))
    return out
