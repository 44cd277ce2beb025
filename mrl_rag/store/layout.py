"""How a store lies in Chroma: its collection's metadata, compatibility, internal collections.

A store is one Chroma collection under the user's name; its metadata (keys
starting with ``mrl:``) records the model, dimensions, prefixes, format and a
store id. mrl-rag also makes collections of its own: a reindex's new index and
the retired old one, and an adaptor's rotation. Each is marked in its metadata
(``mrl:internal`` holds the same token as its name), and mrl-rag never deletes,
renames or adopts a collection without that mark, whatever its name.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mrl_rag._adaptor import OrthogonalAdaptor
from mrl_rag._errors import InvalidArgumentError, StoreMismatchError
from mrl_rag._profiles import PROFILE_SCHEMA_VERSION, ModelProfile
from mrl_rag.store.chroma_format import FULL_KEY

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

__all__ = [
    "META",
    "STORE_FORMAT_VERSION",
    "Layout",
    "check_compatible",
    "create_collection",
    "find_collection",
    "internal_name",
    "load_adaptor",
    "profile_metadata",
    "save_adaptor",
]

#: Prefix of mrl-rag's keys in collection metadata.
META = "mrl:"
#: Version of the on-disk layout (collection metadata keys, full-vector formats).
STORE_FORMAT_VERSION = 2
_INTERNAL = META + "internal"
_HOME = META + "home"
_NAME = re.compile(r"^(?P<home>.+)\.mrl-(?P<role>reindex|retired)-(?P<token>[0-9a-f]{12})$")


@dataclass(frozen=True)
class Layout:
    """What searches need to know about the serving collection, swapped as one value.

    A reindex replaces the whole layout at once, so a search never mixes the
    old collection with the new dimension.
    """

    collection: Collection
    search_dim: int
    adaptor: OrthogonalAdaptor | None

    def search_view(self, vectors: np.ndarray) -> np.ndarray:
        """Full vectors as the truncated stages see them (rotated, with an adaptor)."""
        return vectors if self.adaptor is None else self.adaptor.transform(vectors)


def profile_metadata(profile: ModelProfile, fmt: str, dtype: str) -> dict[str, Any]:
    """The collection metadata that must match for a store to be reopened."""
    return {
        META + "model": profile.name,
        META + "full_dim": profile.full_dim,
        META + "query_prefix": profile.query_prefix,
        META + "document_prefix": profile.document_prefix,
        META + "pre_truncation": profile.pre_truncation,
        # What the model's encode is told for documents (jina's task): it changes the
        # stored vectors. Stores made before this key count as "[]" (none).
        META + "document_options": json.dumps([list(pair) for pair in profile.document_options]),
        META + "profile_schema": PROFILE_SCHEMA_VERSION,
        META + "store_version": STORE_FORMAT_VERSION,
        META + "format": fmt,
        META + "full_dtype": dtype,
    }


def stored_profile(collection: Collection) -> ModelProfile:
    """The model profile a store's collection was made with (to open it without the model)."""
    meta = collection.metadata or {}
    return ModelProfile(
        name=str(meta[META + "model"]),
        full_dim=int(meta[META + "full_dim"]),
        query_prefix=str(meta.get(META + "query_prefix") or ""),
        document_prefix=str(meta.get(META + "document_prefix") or ""),
        pre_truncation=meta.get(META + "pre_truncation") or "none",
        document_options=json.loads(str(meta.get(META + "document_options") or "[]")),
        source=f"the metadata of collection {collection.name!r}",
    )


def find_collection(client: ClientAPI, name: str) -> Collection | None:
    """The collection called ``name``, or ``None``."""
    from chromadb.errors import NotFoundError

    try:
        return client.get_collection(name, embedding_function=None)
    except (NotFoundError, ValueError):
        return None


def hnsw_config_of(hnsw: dict[str, Any]) -> Any:
    """Chroma's ``HnswIndexConfig`` for the settings, or a clear ``ValueError``."""
    from chromadb import HnswIndexConfig

    hnsw = dict(hnsw)
    space = hnsw.pop("space", "cosine")
    if space != "cosine":
        raise InvalidArgumentError(
            f"hnsw space must be 'cosine' (scores are cosines), got {space!r}."
        )
    try:
        return HnswIndexConfig(**hnsw)
    except Exception as exc:
        raise InvalidArgumentError(f"Invalid hnsw settings {hnsw!r}: {exc}") from None


def create_collection(
    client: ClientAPI, name: str, metadata: dict[str, Any], hnsw: dict[str, Any]
) -> Collection:
    """Create a cosine-space collection whose ``FULL_KEY`` metadata is not indexed."""
    from chromadb import Schema, StringInvertedIndexConfig, VectorIndexConfig

    hnsw_config = hnsw_config_of(hnsw)
    schema = Schema()
    schema.create_index(
        VectorIndexConfig(space="cosine", embedding_function=None, hnsw=hnsw_config)
    )
    # The base64 vectors are never filtered on: an index of them would only cost.
    schema.delete_index(StringInvertedIndexConfig(), key=FULL_KEY)
    return client.create_collection(name, schema=schema, metadata=metadata, embedding_function=None)


def hnsw_settings(collection: Collection) -> dict[str, Any]:
    """The HNSW settings a collection was made with (to make its successor alike)."""
    config = collection.configuration_json or {}
    hnsw = dict(config.get("hnsw") or {})
    keep = ("space", "ef_construction", "max_neighbors", "ef_search")
    return {k: v for k, v in hnsw.items() if k in keep and v is not None}


def check_compatible(
    collection: Collection,
    profile: ModelProfile,
    fmt: str,
    dtype: str,
    search_dim: int | None,
) -> None:
    """Raise :class:`StoreMismatchError` unless the collection fits these settings."""
    stored = collection.metadata or {}
    if META + "model" not in stored:
        raise StoreMismatchError(
            f"Collection {collection.name!r} exists but was not made by mrl-rag (its "
            "metadata has no mrl: keys); use another collection name. If it holds this "
            "model's full-size vectors (a langchain-chroma or LlamaIndex ChromaVectorStore "
            f"collection), convert it without re-embedding: MatryoshkaStore.adopt("
            f"{collection.name!r}, embedder, collection='new_name', path=...), or "
            f"`mrl-rag adopt PATH --source {collection.name} --collection new_name --model ...`."
        )
    if _INTERNAL in stored:
        raise StoreMismatchError(
            f"Collection {collection.name!r} is one of mrl-rag's internal collections."
        )
    if stored.get(META + "store_version") != STORE_FORMAT_VERSION:
        raise StoreMismatchError(
            f"Collection {collection.name!r} has store format "
            f"{stored.get(META + 'store_version')!r}; this mrl-rag reads format "
            f"{STORE_FORMAT_VERSION}. Rebuild it from its texts (or full vectors) with "
            "this version."
        )
    expected = profile_metadata(profile, fmt, dtype)
    if fmt == "auto":
        expected.pop(META + "format")
    for key, value in expected.items():
        if key == META + "format" and value != stored.get(key):
            raise StoreMismatchError(
                f"Collection {collection.name!r} keeps its full vectors in the "
                f"{stored.get(key)!r} format, but full_vectors={value!r} was asked for. "
                + (
                    "A 'local' store's vectors are in a file beside its embedded Chroma: "
                    "open it with a PersistentClient at that path."
                    if stored.get(key) == "local"
                    else "Open it with full_vectors='auto' or 'chroma'."
                )
            )
        held = stored.get(key, "[]" if key == META + "document_options" else None)
        if held != value and key != META + "full_dtype":
            name = key.removeprefix(META)
            raise StoreMismatchError(
                f"Collection {collection.name!r} was built with {name}="
                f"{held!r}, but this store has {name}={value!r}. Mixing them "
                "would silently compare incompatible vectors; open it with the same "
                "model and settings, or use another collection."
            )
    stored_dim = int(stored[META + "search_dim"])
    if search_dim is not None and search_dim != stored_dim:
        raise StoreMismatchError(
            f"Collection {collection.name!r} is indexed at search_dim={stored_dim}, not "
            f"{search_dim}. Open it with search_dim=None (or {stored_dim}), then call "
            f"store.reindex({search_dim}) to change it without re-embedding."
        )


# -- internal collections ---------------------------------------------------------


def internal_name(home: str, role: str, token: str) -> str:
    """The name of an internal collection of ``home`` (``role``: reindex or retired)."""
    return f"{home}.mrl-{role}-{token}"


def mark(metadata: dict[str, Any], home: str, token: str) -> dict[str, Any]:
    """``metadata`` with the marks of an internal collection."""
    return {**metadata, _INTERNAL: token, _HOME: home}


def unmark(metadata: dict[str, Any]) -> dict[str, Any]:
    """``metadata`` without the marks (for the collection that takes the home name)."""
    return {k: v for k, v in metadata.items() if k not in (_INTERNAL, _HOME)}


def new_token() -> str:
    """A fresh token for a set of internal collections."""
    return uuid.uuid4().hex[:12]


def owned_internals(client: ClientAPI, home: str) -> Iterator[tuple[str, str, Collection]]:
    """``(role, token, collection)`` of the internal collections of ``home``.

    Only collections whose name and metadata both carry the same token count:
    a user's collection is never taken for one, whatever its name.
    """
    for collection in client.list_collections():
        match = _NAME.match(collection.name)
        if match is None or match["home"] != home:
            continue
        meta = collection.metadata or {}
        if meta.get(_INTERNAL) == match["token"] and meta.get(_HOME) == home:
            yield match["role"], match["token"], collection


# -- adaptor side collections -----------------------------------------------------


def _adaptor_name(store_id: str, fingerprint: str) -> str:
    return f"mrl-adaptor-{store_id}-{fingerprint}"


def _read_adaptor(collection: Collection, dim: int) -> OrthogonalAdaptor | None:
    got = collection.get(include=["embeddings"])
    if len(got["ids"]) != dim:
        return None  # an interrupted save
    order = np.argsort(np.asarray(got["ids"]))
    try:
        return OrthogonalAdaptor(np.asarray(got["embeddings"])[order])
    except ValueError:
        return None


def save_adaptor(client: ClientAPI, store_id: str, adaptor: OrthogonalAdaptor, model: str) -> None:
    """Keep the adaptor's rotation in a side collection, complete before it is used.

    A side collection left incomplete by a crash is replaced.
    """
    name = _adaptor_name(store_id, adaptor.fingerprint)
    side = find_collection(client, name)
    if side is not None:
        meta = side.metadata or {}
        loaded = _read_adaptor(side, adaptor.dim)
        if loaded is not None and loaded.fingerprint == adaptor.fingerprint:
            return
        if meta.get(_INTERNAL) != adaptor.fingerprint:
            raise StoreMismatchError(
                f"Collection {name!r} is in the way of the adaptor's side collection and "
                "was not made by mrl-rag; rename or delete it."
            )
        client.delete_collection(name)
    side = client.create_collection(
        name,
        metadata={
            META + "adaptor_of": store_id,
            META + "model": model,
            _INTERNAL: adaptor.fingerprint,
        },
        embedding_function=None,
    )
    rows = [f"{i:06d}" for i in range(adaptor.dim)]
    limit = client.get_max_batch_size()
    for start in range(0, adaptor.dim, limit):
        side.add(
            ids=rows[start : start + limit], embeddings=adaptor.rotation[start : start + limit]
        )


def load_adaptor(
    client: ClientAPI, store_id: str, fingerprint: str, dim: int, home: str
) -> OrthogonalAdaptor | None:
    """The adaptor a collection names in its metadata (``None`` for none)."""
    if not fingerprint:
        return None
    name = _adaptor_name(store_id, fingerprint)
    side = find_collection(client, name)
    adaptor = _read_adaptor(side, dim) if side is not None else None
    if adaptor is None or adaptor.fingerprint != fingerprint:
        raise StoreMismatchError(
            f"Collection {home!r} uses adaptor {fingerprint}, but its side collection "
            f"{name!r} is missing or was changed outside mrl-rag. Reindex with the adaptor "
            "again (store.reindex(dim, adaptor=...)) or without one (adaptor=None)."
        )
    return adaptor


def drop_adaptor(client: ClientAPI, store_id: str, fingerprint: str) -> None:
    """Delete an adaptor side collection that mrl-rag made (and nothing else)."""
    name = _adaptor_name(store_id, fingerprint)
    side = find_collection(client, name)
    if side is not None and (side.metadata or {}).get(_INTERNAL) == fingerprint:
        client.delete_collection(name)
