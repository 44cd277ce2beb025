"""The funnel store: truncated vectors in Chroma's HNSW index, full vectors beside them."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from mrl_rag._adaptor import OrthogonalAdaptor
from mrl_rag._embedder import MatryoshkaEmbedder, check_text, check_texts
from mrl_rag._errors import InvalidTextError, MRLRagError, StoreMismatchError
from mrl_rag._fullvectors import (
    FULL_KEY,
    ChromaMetadataVectors,
    FullDType,
    FullVectors,
    LocalVectorFile,
)
from mrl_rag._profiles import PROFILE_SCHEMA_VERSION, ModelProfile
from mrl_rag._scoring import top_k
from mrl_rag._truncate import check_dim_type, truncate

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

__all__ = ["DEFAULT_SHORTLIST", "STORE_FORMAT_VERSION", "MatryoshkaStore", "SearchResult"]

logger = logging.getLogger(__name__)

#: How many first-stage candidates are reranked with the full vectors by default
#: (at least ``k``). See docs/funnel.md for the recall this buys.
DEFAULT_SHORTLIST = 300
#: Version of the on-disk layout (collection metadata keys, vector formats).
STORE_FORMAT_VERSION = 1

_INTERNAL_PREFIX = "_mrl"
_META = "mrl:"
_REINDEX_SUFFIX = "__mrl_reindex"
_RETIRED_SUFFIX = "__mrl_retired"
_GET_PAGE = 1000

FullVectorFormat = Literal["auto", "local", "chroma"]


@dataclass(frozen=True)
class SearchResult:
    """One hit of :meth:`MatryoshkaStore.search`.

    Attributes:
        id: The record's id.
        text: The stored text (``None`` if it was added without one).
        metadata: The record's metadata, without mrl-rag's internal keys.
        score: Cosine similarity of the full query and document vectors (or
            at ``rerank_dim`` when one is given): the final ranking, in
            ``[-1, 1]``, higher is better.
        search_score: Cosine similarity at the search dimension, from the
            approximate first stage.
    """

    id: str
    text: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    score: float = 0.0
    search_score: float = 0.0


def default_search_dim(profile: ModelProfile) -> int:
    """The search dimension a new store uses when none is given.

    The smallest allowed dimension of at least a sixth of the full one (for
    "any prefix" models, rounded up to a multiple of 32): 128 for
    nomic-embed-text-v1.5, 256 for arctic-embed-m-v1.5, 64 for all-MiniLM-L6-v2.
    """
    floor = profile.full_dim / 6
    allowed = profile.allowed_dims
    if allowed is not None:
        return min(d for d in allowed if d >= floor)
    return min(profile.full_dim, max(32, -(-int(floor) // 32) * 32))


def content_id(text: str) -> str:
    """A stable id for a text: rerunning the same add yields the same ids."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _is_remote(client: ClientAPI) -> bool:
    impl = str(client.get_settings().chroma_api_impl).lower()
    return "fastapi" in impl or "http" in impl


def _persist_dir(client: ClientAPI) -> Path | None:
    settings = client.get_settings()
    if _is_remote(client) or not settings.is_persistent or not settings.persist_directory:
        return None
    return Path(settings.persist_directory)


def _batches(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


class MatryoshkaStore:
    """A Chroma collection searched in two stages: truncated, then full.

    Adding runs the model once per text at full size. Chroma's HNSW index
    (cosine space) holds the vectors truncated to ``search_dim``; the full
    vectors are kept durably beside them. A search finds a shortlist by
    approximate search on the truncated vectors, then reranks it exactly with
    the full vectors.

    Example:
        >>> store = MatryoshkaStore(embedder, path="./my_store", search_dim=128)  # doctest: +SKIP
        >>> store.add(["Matryoshka dolls nest."], ids=["doll"])  # doctest: +SKIP
        >>> store.search("nesting dolls", k=1)[0].id  # doctest: +SKIP
        'doll'

    Args:
        embedder: Embeds added texts and queries. May be ``None`` for a store
            that only takes precomputed vectors (pass ``profile`` then).
        profile: The model profile when there is no embedder.
        collection: The Chroma collection's name.
        path: Folder of an embedded ``PersistentClient`` (the default client,
            at ``./mrl_store``). Not allowed together with ``client``.
        client: Any Chroma client: ``PersistentClient``, ``EphemeralClient`` or
            ``HttpClient``.
        search_dim: Dimension of the first-stage index. For a new collection the
            default is :func:`default_search_dim`; an existing one keeps its own
            (use :meth:`reindex` to change it).
        shortlist: First-stage candidates per search, default 300 (at least k).
        full_vectors: Where full vectors live: ``"local"`` (a file beside an
            embedded Chroma, fastest), ``"chroma"`` (in Chroma metadata, works
            with any client) or ``"auto"`` (local when the client is a
            ``PersistentClient``, else chroma).
        full_dtype: ``"float32"`` (exact) or ``"float16"`` (half the space).
        hnsw: Extra HNSW settings for a new collection, for example
            ``{"ef_search": 200, "max_neighbors": 32}``. The space is always cosine.
        adaptor: An :class:`OrthogonalAdaptor` for a new collection's first
            stage. An existing collection loads its own by itself; passing one
            that differs is an error (use :meth:`reindex` to change it).

    Raises:
        StoreMismatchError: If the collection was made with another model,
            prefixes, pre-truncation step, storage format or search dimension.
        InvalidDimensionError: If ``search_dim`` is not allowed for the model.
    """

    def __init__(
        self,
        embedder: MatryoshkaEmbedder | None = None,
        *,
        profile: ModelProfile | None = None,
        collection: str = "mrl_rag",
        path: str | Path | None = None,
        client: ClientAPI | None = None,
        search_dim: int | None = None,
        shortlist: int = DEFAULT_SHORTLIST,
        full_vectors: FullVectorFormat = "auto",
        full_dtype: FullDType = "float32",
        hnsw: Mapping[str, Any] | None = None,
        adaptor: OrthogonalAdaptor | None = None,
    ) -> None:
        if embedder is None and profile is None:
            raise TypeError(
                "MatryoshkaStore needs an embedder, or a profile for precomputed vectors."
            )
        if embedder is not None and profile is not None and profile != embedder.profile:
            raise TypeError(
                "Pass either embedder or profile, not both: the embedder has a profile."
            )
        self._embedder = embedder
        self._profile = embedder.profile if embedder is not None else profile  # type: ignore[assignment]
        self.shortlist = check_dim_type(shortlist, name="shortlist")
        if full_vectors not in ("auto", "local", "chroma"):
            raise ValueError(
                f"full_vectors must be 'auto', 'local' or 'chroma', got {full_vectors!r}."
            )
        if full_dtype not in ("float32", "float16"):
            raise ValueError(f"full_dtype must be 'float32' or 'float16', got {full_dtype!r}.")
        if path is not None and client is not None:
            raise TypeError(
                "Pass either path (for an embedded PersistentClient) or client, not both."
            )
        if client is None:
            import chromadb

            client = chromadb.PersistentClient(path=str(path if path is not None else "mrl_store"))
        self._client = client
        self._name = collection

        persist_dir = _persist_dir(client)
        if full_vectors == "local" and persist_dir is None:
            raise ValueError(
                "full_vectors='local' needs an embedded PersistentClient (the file lives "
                "beside its data); this client is remote or in-memory. Use "
                "full_vectors='chroma' or 'auto'."
            )

        self._recover_interrupted_reindex(collection)
        existing = self._find_collection(collection)
        if existing is None:
            dim = self._profile.validate_dim(
                search_dim if search_dim is not None else default_search_dim(self._profile),
                name="search_dim",
            )
            if full_vectors == "auto":
                full_vectors = "local" if persist_dir is not None else "chroma"
            meta = self._profile_metadata(full_vectors, full_dtype)
            meta[_META + "search_dim"] = dim
            meta[_META + "store_id"] = uuid.uuid4().hex
            meta[_META + "adaptor"] = adaptor.fingerprint if adaptor is not None else ""
            self._collection = self._create_collection(collection, meta, dict(hnsw or {}))
            if adaptor is not None:  # after the collection: a failed create leaves nothing
                self._store_id = meta[_META + "store_id"]
                self._save_adaptor(adaptor)
        else:
            self._collection = existing
            self._check_compatible(existing, full_vectors, full_dtype, search_dim)
        meta = self._collection.metadata or {}
        self._search_dim = int(meta[_META + "search_dim"])
        self._full_format = str(meta[_META + "format"])
        self._full_dtype: FullDType = meta[_META + "full_dtype"]
        self._store_id = str(meta[_META + "store_id"])
        self._adaptor = self._load_adaptor(str(meta.get(_META + "adaptor") or ""))
        if adaptor is not None and (
            self._adaptor is None or adaptor.fingerprint != self._adaptor.fingerprint
        ):
            raise StoreMismatchError(
                f"Collection {collection!r} is indexed "
                + (
                    f"with adaptor {self._adaptor.fingerprint}"
                    if self._adaptor
                    else "without an adaptor"
                )
                + f", not with adaptor {adaptor.fingerprint}. Open it without adaptor= (its "
                "own is loaded by itself), or call store.reindex(dim, adaptor=...) to change it."
            )
        self._vectors = self._open_vectors(persist_dir)

    # -- opening -----------------------------------------------------------

    def _recover_interrupted_reindex(self, name: str) -> None:
        """Finish a reindex that stopped between its two renames (see :meth:`reindex`)."""
        names = {c if isinstance(c, str) else c.name for c in self._client.list_collections()}
        retired, building = name + _RETIRED_SUFFIX, name + _REINDEX_SUFFIX
        if name in names or retired not in names:
            return
        # The old index is only retired once the new one is complete, so the new one wins.
        survivor = building if building in names else retired
        logger.warning("Finishing an interrupted reindex of %r (using %r).", name, survivor)
        self._client.get_collection(survivor, embedding_function=None).modify(name=name)
        if survivor == building:
            self._client.delete_collection(retired)

    def _find_collection(self, name: str) -> Collection | None:
        names = {c if isinstance(c, str) else c.name for c in self._client.list_collections()}
        if name not in names:
            return None
        return self._client.get_collection(name, embedding_function=None)

    def _adaptor_collection(self, fingerprint: str) -> str:
        return f"mrl-adaptor-{self._store_id}-{fingerprint}"

    def _save_adaptor(self, adaptor: OrthogonalAdaptor) -> str:
        """Keep the adaptor in a side collection (any client can hold it); return its id."""
        if adaptor.dim != self._profile.full_dim:
            raise ValueError(
                f"adaptor is for {adaptor.dim}-dimensional vectors; {self._profile.name} has "
                f"{self._profile.full_dim}."
            )
        name = self._adaptor_collection(adaptor.fingerprint)
        if self._find_collection(name) is None:
            side = self._client.create_collection(
                name,
                metadata={_META + "adaptor_of": self._store_id, _META + "model": adaptor.model},
                embedding_function=None,
            )
            rows = [f"{i:06d}" for i in range(adaptor.dim)]
            limit = self._client.get_max_batch_size()
            for part in _batches(adaptor.dim, limit):
                side.add(ids=rows[part], embeddings=adaptor.rotation[part])
        return adaptor.fingerprint

    def _load_adaptor(self, fingerprint: str) -> OrthogonalAdaptor | None:
        if not fingerprint:
            return None
        side = self._find_collection(self._adaptor_collection(fingerprint))
        if side is None:
            raise StoreMismatchError(
                f"Collection {self._name!r} uses adaptor {fingerprint}, but its side "
                f"collection {self._adaptor_collection(fingerprint)!r} is missing."
            )
        got = side.get(include=["embeddings"])
        order = np.argsort(np.asarray(got["ids"]))
        adaptor = OrthogonalAdaptor(np.asarray(got["embeddings"])[order])
        if adaptor.fingerprint != fingerprint:
            raise StoreMismatchError(
                f"The adaptor stored for {self._name!r} does not match its fingerprint "
                f"({adaptor.fingerprint} != {fingerprint}); it was changed outside mrl-rag."
            )
        return adaptor

    def _search_view(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Full vectors as the truncated stages see them (rotated, with an adaptor)."""
        return vectors if self._adaptor is None else self._adaptor.transform(vectors)

    @property
    def adaptor(self) -> OrthogonalAdaptor | None:
        """The adaptor applied before truncation, or ``None``."""
        return self._adaptor

    def fit_adaptor(self, *, max_samples: int = 50_000, seed: int = 0) -> OrthogonalAdaptor:
        """Fit an :class:`OrthogonalAdaptor` on a sample of the stored full vectors.

        No labels and no model call. Apply it with ``store.reindex(dim, adaptor=...)``.
        """
        total = self.count()
        if total < 2:
            raise ValueError(f"Fitting needs at least 2 records; the store has {total}.")
        rng = np.random.default_rng(seed)
        wanted = set(rng.choice(total, min(total, max_samples), replace=False).tolist())
        chunks = []
        for offset in range(0, total, 1000):
            local = self._vectors.keeps_records
            page = self._collection.get(
                include=[] if local else ["metadatas"], limit=1000, offset=offset
            )
            keep = [i for i in range(len(page["ids"])) if offset + i in wanted]
            if keep:
                ids = [page["ids"][i] for i in keep]
                metas = None if local else [page["metadatas"][i] for i in keep]
                chunks.append(self._vectors.read(ids, metas))
        return OrthogonalAdaptor.fit(
            np.concatenate(chunks), model=self._profile.name, max_samples=max_samples
        )

    def _profile_metadata(self, fmt: str, dtype: str) -> dict[str, Any]:
        p = self._profile
        return {
            _META + "model": p.name,
            _META + "full_dim": p.full_dim,
            _META + "query_prefix": p.query_prefix,
            _META + "document_prefix": p.document_prefix,
            _META + "pre_truncation": p.pre_truncation,
            _META + "profile_schema": PROFILE_SCHEMA_VERSION,
            _META + "store_version": STORE_FORMAT_VERSION,
            _META + "format": fmt,
            _META + "full_dtype": dtype,
        }

    def _create_collection(
        self, name: str, metadata: dict[str, Any], hnsw: dict[str, Any]
    ) -> Collection:
        from chromadb import (
            HnswIndexConfig,
            Schema,
            StringInvertedIndexConfig,
            VectorIndexConfig,
        )

        hnsw = dict(hnsw)
        space = hnsw.pop("space", "cosine")
        if space != "cosine":
            raise ValueError(f"hnsw space must be 'cosine' (scores are cosines), got {space!r}.")
        try:
            hnsw_config = HnswIndexConfig(**hnsw)
        except Exception as exc:
            raise ValueError(f"Invalid hnsw settings {hnsw!r}: {exc}") from None
        schema = Schema()
        schema.create_index(
            VectorIndexConfig(space="cosine", embedding_function=None, hnsw=hnsw_config)
        )
        # The base64 vectors are never filtered on: an inverted index of them would
        # only cost ingest time and disk.
        schema.delete_index(StringInvertedIndexConfig(), key=FULL_KEY)
        return self._client.create_collection(
            name, schema=schema, metadata=metadata, embedding_function=None
        )

    def _check_compatible(
        self, collection: Collection, fmt: str, dtype: str, search_dim: int | None
    ) -> None:
        stored = collection.metadata or {}
        if _META + "model" not in stored:
            raise StoreMismatchError(
                f"Collection {collection.name!r} exists but was not made by mrl-rag (its "
                "metadata has no mrl: keys); use another collection name."
            )
        if stored.get(_META + "store_version") != STORE_FORMAT_VERSION:
            raise StoreMismatchError(
                f"Collection {collection.name!r} has store format "
                f"{stored.get(_META + 'store_version')!r}; this mrl-rag reads format "
                f"{STORE_FORMAT_VERSION}."
            )
        expected = self._profile_metadata(fmt, dtype)
        if fmt == "auto":
            expected.pop(_META + "format")
        for key, value in expected.items():
            if key == _META + "format" and value != stored.get(key):
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
            if stored.get(key) != value and key != _META + "full_dtype":
                name = key.removeprefix(_META)
                raise StoreMismatchError(
                    f"Collection {collection.name!r} was built with {name}="
                    f"{stored.get(key)!r}, but this store has {name}={value!r}. Mixing them "
                    "would silently compare incompatible vectors; open it with the same "
                    "model and settings, or use another collection."
                )
        stored_dim = int(stored[_META + "search_dim"])
        if search_dim is not None and int(search_dim) != stored_dim:
            raise StoreMismatchError(
                f"Collection {collection.name!r} is indexed at search_dim={stored_dim}, not "
                f"{search_dim}. Open it with search_dim=None (or {stored_dim}), then call "
                f"store.reindex({search_dim}) to change it without re-embedding."
            )

    def _open_vectors(self, persist_dir: Path | None) -> FullVectors:
        dim = self._profile.full_dim
        if self._full_format == "chroma":
            return ChromaMetadataVectors(dim, self._full_dtype)
        if persist_dir is None:
            raise StoreMismatchError(
                f"Collection {self._name!r} keeps its full vectors in a local file beside "
                "its embedded Chroma; open it with chromadb.PersistentClient at that path."
            )
        directory = persist_dir / "mrl_rag" / self._store_id
        if not directory.exists() and self._collection.count() > 0:
            raise StoreMismatchError(
                f"The full-vector folder {directory} of collection {self._name!r} is "
                "missing; it must stay beside the Chroma data it belongs to."
            )
        return LocalVectorFile(directory, dim, self._full_dtype)

    # -- properties --------------------------------------------------------

    @property
    def profile(self) -> ModelProfile:
        """The model profile the store was built with."""
        return self._profile

    @property
    def search_dim(self) -> int:
        """Dimension of the first-stage (HNSW) index."""
        return self._search_dim

    @property
    def full_vector_format(self) -> str:
        """``"local"`` or ``"chroma"``: where the full vectors live."""
        return self._full_format

    @property
    def collection(self) -> Collection:
        """The Chroma collection currently serving searches."""
        return self._collection

    def count(self) -> int:
        """Number of records."""
        return self._collection.count()

    def __len__(self) -> int:
        return self.count()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(collection={self._name!r}, model={self._profile.name!r}, "
            f"search_dim={self._search_dim}, full_dim={self._profile.full_dim}, "
            f"full_vectors={self._full_format!r})"
        )

    # -- writing -----------------------------------------------------------

    def _require_embedder(self) -> MatryoshkaEmbedder:
        if self._embedder is None:
            raise TypeError(
                "This store was opened without an embedder; pass precomputed vectors "
                "(add_vectors, search_by_vector) or open it with an embedder."
            )
        return self._embedder

    def add(
        self,
        texts: Sequence[str],
        *,
        ids: Sequence[str] | None = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        batch_size: int = 256,
        upsert: bool = False,
    ) -> list[str]:
        """Embed texts once at full size and add them.

        Records whose id is already in the store are skipped (as Chroma's
        ``add`` does) without running the model, so an add that was interrupted
        can simply be run again; pass ``upsert=True`` to replace them instead.

        Args:
            texts: The documents, without prefixes.
            ids: One unique id per text; by default a hash of the text, so that
                rerunning the same add creates no duplicates.
            metadatas: One metadata dict (or ``None``) per text. Keys must not
                start with ``_mrl`` (reserved).
            batch_size: Texts embedded and written per step; each step is
                durable on its own.
            upsert: Replace existing records instead of skipping them.

        Returns:
            The ids, in the order of ``texts``.
        """
        embedder = self._require_embedder()
        texts = check_texts(texts)
        ids = self._check_ids(ids, len(texts), default=texts)
        metas = self._check_metadatas(metadatas, len(texts))
        batch_size = check_dim_type(batch_size, name="batch_size")
        for chosen in self._pending(ids, batch_size, upsert=upsert):
            full = embedder.encode([texts[i] for i in chosen], input_type="document")
            self._write(
                [ids[i] for i in chosen],
                full,
                [texts[i] for i in chosen],
                [metas[i] for i in chosen],
                replacing=upsert,
            )
        return ids

    def add_vectors(
        self,
        ids: Sequence[str],
        full_vectors: npt.ArrayLike,
        *,
        texts: Sequence[str | None] | None = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        batch_size: int = 1024,
        upsert: bool = False,
    ) -> list[str]:
        """Add records whose full vectors were computed elsewhere.

        The vectors must come from the store's model with its document prefix
        (for example :meth:`MatryoshkaEmbedder.encode`). They are renormalised.

        Args:
            ids: One unique id per vector.
            full_vectors: Shape ``(n, full_dim)``.
            texts: Optional text per record, returned by searches (``None`` for a
                record without text).
            metadatas: Optional metadata per record.
            batch_size: Records written per step.
            upsert: Replace existing records instead of skipping them.

        Returns:
            The ids.
        """
        full = np.asarray(full_vectors, dtype=np.float32)
        if full.ndim != 2 or full.shape[1] != self._profile.full_dim:
            raise ValueError(
                f"full_vectors must have shape (n, {self._profile.full_dim}) for "
                f"{self._profile.name}, got {full.shape}."
            )
        ids = self._check_ids(ids, len(full), default=None)
        text_list = None
        if texts is not None:
            if isinstance(texts, str):
                raise InvalidTextError("texts must be a list of strings, got a single str.")
            text_list = [
                t if t is None else check_text(t, name=f"texts[{i}]") for i, t in enumerate(texts)
            ]
        if text_list is not None and len(text_list) != len(ids):
            raise ValueError(f"texts has {len(text_list)} entries for {len(ids)} vectors.")
        metas = self._check_metadatas(metadatas, len(ids))
        batch_size = check_dim_type(batch_size, name="batch_size")
        full = truncate(full, self._profile.full_dim)
        for chosen in self._pending(ids, batch_size, upsert=upsert):
            self._write(
                [ids[i] for i in chosen],
                full[chosen],
                [text_list[i] for i in chosen] if text_list is not None else None,
                [metas[i] for i in chosen],
                replacing=upsert,
            )
        return ids

    def _pending(self, ids: list[str], batch_size: int, *, upsert: bool) -> Iterator[list[int]]:
        """Positions to write, batch by batch: all of them, or (add) those not stored yet."""
        # Into an empty store nothing can already exist (ids are unique within a call).
        check = not upsert and self.count() > 0
        for part in _batches(len(ids), batch_size):
            todo = self._new_positions(ids[part]) if check else range(len(ids[part]))
            if todo:
                yield [part.start + i for i in todo]

    def _new_positions(self, ids: Sequence[str]) -> list[int]:
        present = set(self._collection.get(ids=list(ids), include=[])["ids"])
        return [i for i, record_id in enumerate(ids) if record_id not in present]

    def _write(
        self,
        ids: list[str],
        full: npt.NDArray[np.float32],
        texts: list[str | None] | None,
        metas: list[dict[str, Any]],
        *,
        replacing: bool,
    ) -> None:
        text_list = texts if texts is not None else [None] * len(ids)
        metadatas: list[dict[str, Any]] = [dict(m) for m in metas]
        documents: list[str | None] = list(text_list)
        if replacing:
            # Chroma's upsert merges into an existing record: it keeps metadata keys the
            # new write leaves out and the old document when the new one has none. A
            # replacement clears them explicitly (a None key is dropped; "" clears a
            # document, and reads map it back to None: stored texts are never empty).
            old = self._collection.get(ids=ids, include=["metadatas", "documents"])
            old_meta = dict(zip(old["ids"], old["metadatas"], strict=True))
            for i, record_id in enumerate(ids):
                if record_id in old_meta:
                    for key in old_meta[record_id] or {}:
                        metadatas[i].setdefault(key, None)
                    if documents[i] is None:
                        documents[i] = ""
        # Full vectors first (durably), then the records that point to them: a crash
        # between the two leaves unreferenced rows, never a record without its vector.
        pointers = self._vectors.prepare(ids, full, text_list, metas)
        search = truncate(self._search_view(full), self._search_dim)
        chroma_metas = [{**m, **p} or None for m, p in zip(metadatas, pointers, strict=True)]
        send_documents = any(d is not None for d in documents)
        limit = self._client.get_max_batch_size()
        for part in _batches(len(ids), limit):
            self._collection.upsert(
                ids=ids[part],
                embeddings=search[part],
                metadatas=chroma_metas[part],
                documents=documents[part] if send_documents else None,
            )

    @staticmethod
    def _check_ids(ids: Sequence[str] | None, n: int, default: list[str] | None) -> list[str]:
        derived = ids is None
        if ids is None:
            if default is None:
                raise TypeError("ids are required for precomputed vectors.")
            ids = [content_id(text) for text in default]
        else:
            if isinstance(ids, str):
                raise TypeError("ids must be a list of strings, got a single str.")
            ids = list(ids)
            for i, record_id in enumerate(ids):
                if not isinstance(record_id, str) or not record_id:
                    raise ValueError(f"ids[{i}] must be a non-empty string, got {record_id!r}.")
            if len(ids) != n:
                raise ValueError(f"ids has {len(ids)} entries for {n} texts.")
        seen: dict[str, int] = {}
        for i, record_id in enumerate(ids):
            if record_id in seen:
                if derived:
                    raise ValueError(
                        f"texts[{i}] repeats texts[{seen[record_id]}]: identical texts get the "
                        "same default id. Pass ids=... to keep both, or drop the duplicate."
                    )
                raise ValueError(
                    f"ids[{i}] repeats ids[{seen[record_id]}] ({record_id!r}); ids must be "
                    "unique within one call."
                )
            seen[record_id] = i
        return ids

    @staticmethod
    def _check_metadatas(
        metadatas: Sequence[Mapping[str, Any] | None] | None, n: int
    ) -> list[dict[str, Any]]:
        from chromadb.api.types import validate_metadata

        if metadatas is None:
            return [{} for _ in range(n)]
        metadatas = list(metadatas)
        if len(metadatas) != n:
            raise ValueError(f"metadatas has {len(metadatas)} entries for {n} texts.")
        out = []
        for i, metadata in enumerate(metadatas):
            if metadata is None:
                out.append({})
                continue
            if not isinstance(metadata, Mapping):
                raise TypeError(
                    f"metadatas[{i}] must be a dict or None, got {type(metadata).__name__}."
                )
            reserved = [k for k in metadata if str(k).startswith(_INTERNAL_PREFIX)]
            if reserved:
                raise ValueError(
                    f"metadatas[{i}] uses reserved key {reserved[0]!r}; keys starting with "
                    f"{_INTERNAL_PREFIX!r} belong to mrl-rag."
                )
            if metadata:
                try:
                    validate_metadata(dict(metadata))
                except ValueError as exc:
                    raise ValueError(f"metadatas[{i}] is not valid for Chroma: {exc}") from None
            out.append(dict(metadata))
        return out

    def delete(
        self, ids: Sequence[str] | None = None, *, where: Mapping[str, Any] | None = None
    ) -> None:
        """Delete records by id, by metadata filter, or both.

        Args:
            ids: Ids to delete (unknown ids are ignored).
            where: A Chroma metadata filter, for example ``{"source": "old"}``.
        """
        if ids is None and where is None:
            raise TypeError("delete needs ids, where, or both; it never deletes everything.")
        if isinstance(ids, str):
            raise TypeError("ids must be a list of strings, got a single str.")
        if ids is not None and len(ids) == 0:
            return  # no ids: nothing to delete, whatever the filter
        self._collection.delete(ids=list(ids) if ids is not None else None, where=where)

    # -- reading -----------------------------------------------------------

    def get(self, ids: Sequence[str]) -> list[SearchResult]:
        """Fetch records by id (in the given order; unknown ids are left out)."""
        if isinstance(ids, str):
            raise TypeError("ids must be a list of strings, got a single str.")
        if not ids:
            return []
        got = self._collection.get(ids=list(ids), include=["metadatas", "documents"])
        by_id = {
            record_id: SearchResult(record_id, text or None, _public(meta))
            for record_id, text, meta in zip(
                got["ids"], got["documents"], got["metadatas"], strict=True
            )
        }
        return [by_id[i] for i in ids if i in by_id]

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        shortlist: int | None = None,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
        cascade: Sequence[tuple[int, int]] | None = None,
        rerank_dim: int | None = None,
    ) -> list[SearchResult]:
        """Find the ``k`` best records for a query.

        Stage one: approximate search in Chroma's index of vectors truncated to
        ``search_dim``, filtered by ``where``, for ``shortlist`` candidates.
        Stage two: an exact rerank of those candidates by cosine similarity of
        the full vectors.

        Args:
            query: The query text, without prefix.
            k: How many results.
            shortlist: First-stage candidates (default: the store's, at least k).
            where: Chroma metadata filter for the first stage.
            where_document: Chroma document filter for the first stage.
            cascade: Optional intermediate stages as ``(dim, keep)`` pairs with
                increasing ``dim`` and decreasing ``keep``, for example
                ``[(256, 30)]`` reranks the shortlist at 256 dimensions and keeps
                30 for the final full-dimension rerank (the MRL paper's funnel).
            rerank_dim: Dimension of the final exact rerank; ``None`` (the
                default) means the full vectors. A smaller one must still be at
                least ``search_dim``; it trades quality for nothing much, so
                measure before using it.

        Returns:
            Up to ``k`` results, best first, by cosine similarity at ``rerank_dim``.
        """
        embedder = self._require_embedder()
        query_full = embedder.encode([check_text(query, name="query")], input_type="query")[0]
        return self.search_by_vector(
            query_full,
            k,
            shortlist=shortlist,
            where=where,
            where_document=where_document,
            cascade=cascade,
            rerank_dim=rerank_dim,
        )

    def search_by_vector(
        self,
        query_vector: npt.ArrayLike,
        k: int = 10,
        *,
        shortlist: int | None = None,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
        cascade: Sequence[tuple[int, int]] | None = None,
        rerank_dim: int | None = None,
    ) -> list[SearchResult]:
        """:meth:`search` with a precomputed full query vector (query prefix applied)."""
        query_full = np.asarray(query_vector, dtype=np.float32)
        if query_full.shape != (self._profile.full_dim,):
            raise ValueError(
                f"query_vector must be a full {self._profile.full_dim}-dimensional vector, "
                f"got shape {query_full.shape}."
            )
        query_full = truncate(query_full, self._profile.full_dim)
        k = check_dim_type(k, name="k")
        n_short = max(
            k, check_dim_type(shortlist, name="shortlist") if shortlist else self.shortlist
        )
        rerank = self._check_rerank_dim(rerank_dim)
        stages = self._check_cascade(cascade, k, rerank)
        local = self._vectors.keeps_records
        got = self._collection.query(
            query_embeddings=[truncate(self._search_view(query_full), self._search_dim)],
            n_results=n_short,
            where=where,
            where_document=where_document,
            include=["distances"] if local else ["metadatas", "documents", "distances"],
        )
        ids = got["ids"][0]
        if not ids:
            return []
        dists = got["distances"][0]
        metas = None if local else got["metadatas"][0]
        full = self._vectors.read(ids, metas)
        candidates = np.arange(len(ids))
        if stages or rerank != self._profile.full_dim:
            view, query_view = self._search_view(full), self._search_view(query_full)
        for dim, keep in stages:
            scores = truncate(view[candidates], dim) @ truncate(query_view, dim)
            candidates = candidates[top_k(scores, keep)]
        if rerank != self._profile.full_dim:
            full, query_full = truncate(view, rerank), truncate(query_view, rerank)
        scores = full[candidates] @ query_full
        order = candidates[top_k(scores, k)].tolist()
        final = (full[order] @ query_full).tolist()
        if local:
            records = self._vectors.records([ids[i] for i in order])
        else:
            records = [(got["documents"][0][i] or None, metas[i]) for i in order]  # type: ignore[index]
        return [
            SearchResult(
                id=ids[i],
                text=text,
                metadata=_public(meta),
                score=score,
                search_score=1.0 - dists[i],
            )
            for i, score, (text, meta) in zip(order, final, records, strict=True)
        ]

    def _check_rerank_dim(self, rerank_dim: int | None) -> int:
        if rerank_dim is None:
            return self._profile.full_dim
        dim = self._profile.validate_dim(rerank_dim, name="rerank_dim")
        if dim < self._search_dim:
            raise ValueError(
                f"rerank_dim={dim} is below the store's search_dim ({self._search_dim}): "
                "the rerank would know less than the first stage. Allowed: "
                f"{self._search_dim} to {self._profile.full_dim}, or None for full."
            )
        return dim

    def _check_cascade(
        self, cascade: Sequence[tuple[int, int]] | None, k: int, rerank: int
    ) -> list[tuple[int, int]]:
        if not cascade:
            return []
        stages = []
        last_dim, last_keep = self._search_dim, None
        for i, stage in enumerate(cascade):
            try:
                dim, keep = stage
            except (TypeError, ValueError):
                raise ValueError(
                    f"cascade[{i}] must be a (dim, keep) pair, got {stage!r}."
                ) from None
            dim = self._profile.validate_dim(dim, name=f"cascade[{i}] dim")
            keep = check_dim_type(keep, name=f"cascade[{i}] keep")
            if dim <= last_dim or dim >= rerank:
                raise ValueError(
                    f"cascade[{i}] dim={dim} must be above the previous stage's dimension "
                    f"({last_dim}) and below the final rerank's ({rerank})."
                )
            if keep < k or (last_keep is not None and keep > last_keep):
                raise ValueError(
                    f"cascade[{i}] keep={keep} must be at least k={k} and no more than the "
                    "previous stage keeps."
                )
            stages.append((dim, keep))
            last_dim, last_keep = dim, keep
        return stages

    # -- re-indexing -------------------------------------------------------

    def reindex(
        self,
        search_dim: int,
        *,
        adaptor: OrthogonalAdaptor | Literal["keep"] | None = "keep",
        batch_size: int = 1000,
    ) -> None:
        """Rebuild the first-stage index at another dimension, without the model.

        The new index is built from the stored full vectors in a separate
        collection while the current one keeps serving searches; when it is
        complete it takes over the collection's name and the old one is dropped.
        Do not add or delete records while a reindex runs.

        Args:
            search_dim: The new first-stage dimension (validated for the model).
            adaptor: ``"keep"`` (the default) keeps the current adaptor; an
                :class:`OrthogonalAdaptor` (see :meth:`fit_adaptor`) replaces it;
                ``None`` removes it.
            batch_size: Records copied per step.
        """
        new_dim = self._profile.validate_dim(search_dim, name="search_dim")
        new_adaptor = self._adaptor if adaptor == "keep" else adaptor
        old_adaptor = self._adaptor
        batch_size = check_dim_type(batch_size, name="batch_size")
        old = self._collection
        building = self._name + _REINDEX_SUFFIX
        if self._find_collection(building) is not None:  # left by an interrupted reindex
            self._client.delete_collection(building)
        meta = dict(old.metadata or {})
        meta[_META + "search_dim"] = new_dim
        meta[_META + "adaptor"] = (
            self._save_adaptor(new_adaptor) if new_adaptor is not None else ""  # type: ignore[arg-type]
        )
        hnsw = _hnsw_settings(old)
        try:
            new = self._create_collection(building, meta, hnsw)
            self._copy_into(old, new, new_dim, new_adaptor, batch_size)  # type: ignore[arg-type]
        except BaseException:
            # Leave nothing behind but the old index, which is unchanged.
            if self._find_collection(building) is not None:
                self._client.delete_collection(building)
            keep = old_adaptor.fingerprint if old_adaptor is not None else None
            if new_adaptor is not None and new_adaptor.fingerprint != keep:  # type: ignore[union-attr]
                name = self._adaptor_collection(new_adaptor.fingerprint)  # type: ignore[union-attr]
                if self._find_collection(name) is not None:
                    self._client.delete_collection(name)
            raise
        retired = self._name + _RETIRED_SUFFIX
        if self._find_collection(retired) is not None:
            self._client.delete_collection(retired)
        old.modify(name=retired)
        new.modify(name=self._name)
        self._collection = new
        self._search_dim = new_dim
        self._adaptor = new_adaptor  # type: ignore[assignment]
        self._client.delete_collection(retired)
        if old_adaptor is not None and (
            new_adaptor is None or new_adaptor.fingerprint != old_adaptor.fingerprint  # type: ignore[union-attr]
        ):
            self._client.delete_collection(self._adaptor_collection(old_adaptor.fingerprint))

    def _copy_into(
        self,
        old: Collection,
        new: Collection,
        new_dim: int,
        adaptor: OrthogonalAdaptor | None,
        batch_size: int,
    ) -> None:
        """Fill ``new`` from ``old``'s records and the stored full vectors (no model)."""
        from tqdm.auto import tqdm

        total = old.count()
        with tqdm(total=total, desc=f"Reindexing at {new_dim} dims", disable=total < 10_000) as bar:
            for offset in range(0, total, batch_size):
                page = old.get(include=["metadatas", "documents"], limit=batch_size, offset=offset)
                if not page["ids"]:
                    break
                full = self._vectors.read(page["ids"], page["metadatas"])
                if adaptor is not None:
                    full = adaptor.transform(full)
                new.add(
                    ids=page["ids"],
                    embeddings=truncate(full, new_dim),
                    metadatas=page["metadatas"],
                    documents=page["documents"],
                )
                bar.update(len(page["ids"]))
        if new.count() != total:
            raise MRLRagError(
                f"Reindex copied {new.count()} of {total} records (was the store written to "
                "meanwhile?); the old index is unchanged."
            )


def _hnsw_settings(collection: Collection) -> dict[str, Any]:
    config = collection.configuration_json or {}
    hnsw = dict(config.get("hnsw") or {})
    keep = ("space", "ef_construction", "max_neighbors", "ef_search")
    return {k: v for k, v in hnsw.items() if k in keep and v is not None}


def _public(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    if not metadata:
        return {}
    return {k: v for k, v in metadata.items() if not k.startswith(_INTERNAL_PREFIX)}
