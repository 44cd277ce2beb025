"""The public funnel store: truncated vectors in Chroma's HNSW index, full vectors beside them."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt

from mrl_rag._adaptor import OrthogonalAdaptor
from mrl_rag._embedder import MatryoshkaEmbedder
from mrl_rag._errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    InvalidTextError,
    InvalidVectorError,
    MRLRagError,
    RecordNotFoundError,
    StoreMismatchError,
    StoreNotFoundError,
)
from mrl_rag._profiles import ModelProfile
from mrl_rag._truncate import truncate
from mrl_rag._validation import check_choice, check_count, check_text, check_texts
from mrl_rag.encoders.sentence_transformers import PROGRESS_BAR_MIN_TEXTS
from mrl_rag.store import layout as lay
from mrl_rag.store import reindex as rx
from mrl_rag.store.chroma_format import ChromaFullVectors
from mrl_rag.store.codec import FullDType, check_full_dtype
from mrl_rag.store.info import StoreInfo, list_stores
from mrl_rag.store.layout import META, Layout
from mrl_rag.store.local_format import LocalFullVectors, is_refusal, release_freed_heap
from mrl_rag.store.locks import ProcessLock, writer_lock
from mrl_rag.store.records import Record, WriteBatch
from mrl_rag.store.replica import FullVectorReplica, fill_replica, rerank_from_replica
from mrl_rag.store.search import (
    SearchResult,
    check_query_vector,
    plan_search,
    public_metadata,
    rerank,
    rerank_from_files,
    results,
)
from mrl_rag.store.validation import (
    check_ids,
    check_metadatas,
    check_vectors,
)
from mrl_rag.store.writes import apply_batch

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

__all__ = [
    "DEFAULT_COLLECTION",
    "DEFAULT_PATH",
    "DEFAULT_SHORTLIST",
    "MatryoshkaStore",
    "default_search_dim",
]

logger = logging.getLogger(__name__)

#: How many first-stage candidates are reranked with the full vectors by default
#: (at least ``k``). Chroma's cost grows with the results it returns far faster
#: than with the dimension, so a first stage of at least 128 dimensions with a
#: shortlist of 100 is faster than a smaller one with a longer shortlist at the
#: same recall. See docs/funnel.md for the measurements.
DEFAULT_SHORTLIST = 100
#: The collection every entry point opens by default (core, LangChain, LlamaIndex, CLI).
DEFAULT_COLLECTION = "mrl_rag"
#: The folder of the embedded Chroma opened when neither a path nor a client is given.
DEFAULT_PATH = "mrl_store"
#: HNSW ``ef_search`` of a new store's first stage. Chroma's default (100) equals
#: the default shortlist, so the last of its 100 results are approximate: at
#: 50,000 x 768 the first stage found 94.4% of the exact 128-d top 100 with 100
#: and 98.5% with 200, which took the funnel's recall@10 from 0.976 to 0.987
#: with no measurable latency cost.
DEFAULT_EF_SEARCH = 2 * DEFAULT_SHORTLIST
_GET_PAGE = 1000
_SWAP_WAIT_S = 1.0

FullVectorFormat = Literal["auto", "local", "chroma"]
T = TypeVar("T")


def default_search_dim(profile: ModelProfile) -> int:
    """The search dimension a new store uses when none is given.

    The smallest allowed dimension of at least a sixth of the full one and at
    least 128 (for "any prefix" models, rounded up to a multiple of 32): 128
    for nomic-embed-text-v1.5 and all-MiniLM-L6-v2, 256 for arctic-embed-m-v1.5.
    With :data:`DEFAULT_SHORTLIST` this reaches a full-dimension HNSW
    collection's recall at a lower latency (docs/funnel.md).
    """
    floor = max(profile.full_dim / 6, min(128, profile.full_dim))
    allowed = profile.allowed_dims
    if allowed is not None:
        return min(d for d in allowed if d >= floor)
    return min(profile.full_dim, max(32, -(-int(floor) // 32) * 32))


def persist_dir_of(client: ClientAPI) -> Path | None:
    settings = client.get_settings()
    impl = str(settings.chroma_api_impl).lower()
    if "fastapi" in impl or "http" in impl:
        return None
    if not settings.is_persistent or not settings.persist_directory:
        return None
    return Path(settings.persist_directory)


def _client_key(client: ClientAPI) -> str:
    """Where a client's collections live: a folder, a server, or this process's memory."""
    settings = client.get_settings()
    folder = persist_dir_of(client)
    if folder is not None:
        return str(folder.resolve())
    if settings.chroma_server_host:
        return f"http://{settings.chroma_server_host}:{settings.chroma_server_http_port}"
    return f"memory:{settings.persist_directory or ''}"


class _PendingWriteError(Exception):
    """A local write's outcome is unknown; it is finished before reading (internal)."""


class MatryoshkaStore:
    """A Chroma collection searched in two stages: truncated, then full.

    Adding runs the model once per text at full size. Chroma's HNSW index
    (cosine space) holds the vectors truncated to ``search_dim``; the full
    vectors are kept durably beside them. A search finds a shortlist by
    approximate search on the truncated vectors, then reranks it exactly with
    the full vectors.

    For every id, searches, :meth:`get`, ``where`` filters and the first stage
    agree on its text, metadata and full vector: after a crash at any point, after
    any write that is refused (it changes nothing), and while other threads write.
    See docs/funnel.md for the write protocol behind this.

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
            at ``./mrl_store``). Not allowed together with ``client``. One
            process at a time may open an embedded folder.
        client: Any Chroma client: ``PersistentClient``, ``EphemeralClient`` or
            ``HttpClient`` (for several processes, use a server).
        search_dim: Dimension of the first-stage index. For a new collection the
            default is :func:`default_search_dim`; an existing one keeps its own
            (use :meth:`reindex` to change it).
        shortlist: First-stage candidates per search, default
            :data:`DEFAULT_SHORTLIST` (at least k).
        full_vectors: Where full vectors live: ``"local"`` (files beside an
            embedded Chroma, fastest), ``"chroma"`` (in Chroma metadata, works
            with any client) or ``"auto"`` (local when the client is a
            ``PersistentClient``, else chroma).
        full_dtype: How full vectors are stored: ``"float32"`` (exact),
            ``"float16"`` (half the bytes) or ``"int8"`` (a quarter); the
            error each costs is measured in docs/funnel.md. An existing store
            keeps its own.
        keep_full_vectors: ``"memory"`` (the default) keeps the full vectors
            this process reranks with in memory: a memory map of the local
            file, or for the ``chroma`` format a replica filled from Chroma as
            searches meet records and checked against it on every search.
            ``"disk"`` reads each shortlist from where the vectors are stored
            (less memory, slower; docs/funnel.md has the figures).
        chroma_texts: Whether Chroma holds each record's text as its document
            (``True`` by default for a new store; an existing one keeps its own).
            ``False``, for the ``local`` format only, keeps texts only in the
            local files: ingest is faster and Chroma's full-text index stays
            empty, but ``where_document`` filters are refused and ``repair``
            (which re-embeds Chroma's texts) cannot rebuild the store.
        hnsw: Extra HNSW settings for a new collection, for example
            ``{"ef_search": 400, "max_neighbors": 32}``. The space is always
            cosine; ``ef_search`` defaults to :data:`DEFAULT_EF_SEARCH` (twice
            the default shortlist).
        adaptor: An :class:`OrthogonalAdaptor` for a new collection's first
            stage. An existing collection loads its own by itself; passing one
            that differs is an error (use :meth:`reindex` to change it).
        create: Create the collection if it does not exist (the default).
            ``False`` opens an existing store only: a mistyped path or
            collection name is then an error instead of a new, empty store.

    Raises:
        StoreMismatchError: If the collection was made with another model,
            prefixes, pre-truncation step, storage format or search dimension.
        StoreLockedError: If another process has the embedded folder open.
        StoreNotFoundError: With ``create=False``, if there is no such collection.
        StoreDamagedError: If the full-vector files are damaged (the message
            names the file and the repair command).
        InvalidDimensionError: If ``search_dim`` is not allowed for the model.
    """

    def __init__(
        self,
        embedder: MatryoshkaEmbedder | None = None,
        *,
        profile: ModelProfile | None = None,
        collection: str = DEFAULT_COLLECTION,
        path: str | Path | None = None,
        client: ClientAPI | None = None,
        search_dim: int | None = None,
        shortlist: int = DEFAULT_SHORTLIST,
        full_vectors: FullVectorFormat = "auto",
        full_dtype: FullDType = "float32",
        keep_full_vectors: Literal["memory", "disk"] = "memory",
        chroma_texts: bool | None = None,
        hnsw: Mapping[str, Any] | None = None,
        adaptor: OrthogonalAdaptor | None = None,
        create: bool = True,
        _rebuild_files: bool = False,
    ) -> None:
        if embedder is None and profile is None:
            raise ArgumentTypeError(
                "MatryoshkaStore needs an embedder, or a profile for precomputed vectors."
            )
        if embedder is not None and profile is not None and profile != embedder.profile:
            raise ArgumentTypeError(
                "Pass either embedder or profile, not both: the embedder has a profile."
            )
        self._embedder = embedder
        self._profile: ModelProfile = embedder.profile if embedder is not None else profile  # type: ignore[assignment,union-attr]
        self.shortlist = check_count(shortlist, name="shortlist")
        check_choice(full_vectors, ("auto", "local", "chroma"), name="full_vectors")
        full_dtype = check_full_dtype(full_dtype)
        check_choice(keep_full_vectors, ("memory", "disk"), name="keep_full_vectors")
        self._in_memory = keep_full_vectors == "memory"
        # While repair refills empty files, every record is written again (the files
        # cannot say what is already stored).
        self._refilling = _rebuild_files
        if chroma_texts not in (None, True, False):
            raise ArgumentTypeError(
                f"chroma_texts must be True, False or None, got {chroma_texts!r}."
            )
        self._replica: FullVectorReplica | None = None
        # Where a chroma-format write on an embedded folder notes its ids (set by _open).
        self._intent: Path | None = None
        if search_dim is not None:
            search_dim = self._profile.validate_dim(search_dim, name="search_dim")
        if path is not None and client is not None:
            raise ArgumentTypeError(
                "Pass either path (for an embedded PersistentClient) or client, not both."
            )
        self._owns_client = client is None
        if client is None:
            import chromadb

            folder = Path(path if path is not None else DEFAULT_PATH)
            if not create and not (folder / "chroma.sqlite3").is_file():
                raise StoreNotFoundError(  # before Chroma makes the folder
                    f"No Chroma folder at {folder}, and create=False: nothing was created. "
                    "Check the path."
                )
            client = chromadb.PersistentClient(path=str(folder))
        self._client = client
        self._name = collection
        self._closed = False
        self._create_missing = create
        self._files: LocalFullVectors | None = None
        self._process_lock: ProcessLock | None = None
        persist_dir = persist_dir_of(client)
        if full_vectors == "local" and persist_dir is None:
            raise InvalidArgumentError(
                "full_vectors='local' needs an embedded PersistentClient (the file lives "
                "beside its data); this client is remote or in-memory. Use "
                "full_vectors='chroma' or 'auto'."
            )
        self._writer = writer_lock((_client_key(client), collection))
        try:
            with self._writer:  # an open may finish an interrupted reindex or write
                self._open(
                    persist_dir,
                    search_dim,
                    full_vectors,
                    full_dtype,
                    chroma_texts,
                    hnsw,
                    adaptor,
                    _rebuild_files,
                )
        except BaseException:
            self.close()
            raise

    def _open(
        self,
        persist_dir: Path | None,
        search_dim: int | None,
        full_vectors: FullVectorFormat,
        full_dtype: FullDType,
        chroma_texts: bool | None,
        hnsw: Mapping[str, Any] | None,
        adaptor: OrthogonalAdaptor | None,
        rebuild_files: bool,
    ) -> None:
        client, collection = self._client, self._name
        self._process_lock = ProcessLock.acquire(persist_dir) if persist_dir else None
        rx.recover(client, collection, delete_leftovers=persist_dir is not None)
        existing = lay.find_collection(client, collection)
        if existing is None and not self._create_missing:
            where = f"in {persist_dir}" if persist_dir is not None else "on this client"
            names = sorted(c.name for c in client.list_collections())
            raise StoreNotFoundError(
                f"No store called {collection!r} {where}, and create=False. Existing "
                f"collections: {', '.join(map(repr, names)) or 'none'}."
            )
        if existing is None:
            existing = self._create(
                search_dim, full_vectors, full_dtype, chroma_texts, persist_dir, hnsw, adaptor
            )
        else:
            lay.check_compatible(existing, self._profile, full_vectors, full_dtype, search_dim)
        meta = existing.metadata or {}
        self._full_format = str(meta[META + "format"])
        self._full_dtype: FullDType = meta[META + "full_dtype"]
        self._chroma_texts = bool(meta.get(META + "chroma_texts", True))
        if chroma_texts is not None and chroma_texts != self._chroma_texts:
            raise StoreMismatchError(
                f"Collection {collection!r} was made with chroma_texts={self._chroma_texts}, "
                f"not {chroma_texts}. Open it with chroma_texts=None (it keeps its own)."
            )
        self._store_id = str(meta[META + "store_id"])
        if persist_dir is not None and self._full_format == "chroma":
            self._intent = persist_dir / "mrl_rag" / f"{self._store_id}.intent"
        self._layout = self._layout_of(existing)
        if adaptor is not None and (
            self._layout.adaptor is None or adaptor.fingerprint != self._layout.adaptor.fingerprint
        ):
            raise StoreMismatchError(
                f"Collection {collection!r} is indexed "
                + (
                    f"with adaptor {self._layout.adaptor.fingerprint}"
                    if self._layout.adaptor
                    else "without an adaptor"
                )
                + f", not with adaptor {adaptor.fingerprint}. Open it without adaptor= (its "
                "own is loaded by itself), or call store.reindex(dim, adaptor=...) to change it."
            )
        self._chroma_format = ChromaFullVectors(self._profile.full_dim, self._full_dtype)
        self._files = self._open_files(persist_dir, rebuild=rebuild_files)

    def close(self) -> None:
        """Let go of the store: its files, and its hold on an embedded Chroma folder.

        Another process may open the folder once every store object of this
        process on it is closed (or the process has ended). Closing twice is
        harmless; a closed store refuses further calls. Stores are also context
        managers (``with MatryoshkaStore(...) as store:``).
        """
        self._closed = True
        files, self._files = getattr(self, "_files", None), None
        lock, self._process_lock = getattr(self, "_process_lock", None), None
        if files is not None:
            files.release()
        if lock is not None:
            lock.release()
        if getattr(self, "_owns_client", False):
            self._owns_client = False
            with contextlib.suppress(Exception):
                self._client.close()

    def compact(self) -> int:
        """Reclaim the space of deleted and replaced records in the local files.

        The ``local`` format appends every write; this rewrites its files with
        the live records only (their bytes as they are) and swaps them in, safe
        under a crash at any point (see docs/funnel.md). Searches wait while it
        runs. The ``chroma`` format keeps nothing beside Chroma: nothing to do.

        Returns:
            The bytes reclaimed.
        """
        with self._writer:
            self._check_open()
            if self._files is None:
                return 0
            self._recover()
            return self._files.compact()

    def drop(self) -> None:
        """Delete the store: its Chroma collection, full-vector files and adaptor; then close.

        The collection goes first, so a crash midway leaves only files that no
        collection names (a store made later under the same name gets a new id).
        """
        with self._writer:
            self._check_open()
            self._delete_everything()
        self.close()

    def reset(self) -> None:
        """Delete every record and start again, empty, with the same settings.

        The model, ``search_dim``, full-vector format and dtype, ``chroma_texts``
        and HNSW settings are kept; an adaptor is not (fit a new one on the new
        records). Other store objects on the collection must be opened again.
        """
        with self._writer:
            self._check_open()
            layout = self._layout
            settings = {
                "search_dim": layout.search_dim,
                "full_vectors": self._full_format,
                "full_dtype": self._full_dtype,
                "chroma_texts": self._chroma_texts,
                "hnsw": lay.hnsw_settings(layout.collection),
            }
            self._delete_everything()
            files, self._files = self._files, None
            lock, self._process_lock = self._process_lock, None
            if files is not None:
                files.release()
            if lock is not None:
                lock.release()
            self._replica = None
            create, self._create_missing = self._create_missing, True
            try:
                self._open(
                    persist_dir_of(self._client),
                    settings["search_dim"],
                    settings["full_vectors"],
                    settings["full_dtype"],
                    settings["chroma_texts"],
                    settings["hnsw"],
                    None,
                    False,
                )
            finally:
                self._create_missing = create

    def _delete_everything(self) -> None:
        """The collection, then the local files, the intent file and the adaptor."""
        layout = self._layout
        self._client.delete_collection(layout.collection.name)
        persist_dir = persist_dir_of(self._client)
        if persist_dir is not None:
            shutil.rmtree(persist_dir / "mrl_rag" / self._store_id, ignore_errors=True)
        if self._intent is not None:
            self._intent.unlink(missing_ok=True)
        if layout.adaptor is not None:
            lay.drop_adaptor(self._client, self._store_id, layout.adaptor.fingerprint)

    def __enter__(self) -> MatryoshkaStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise MRLRagError(f"The store on collection {self._name!r} is closed; open it again.")

    # -- opening -----------------------------------------------------------

    def _create(
        self,
        search_dim: int | None,
        full_vectors: str,
        full_dtype: str,
        chroma_texts: bool | None,
        persist_dir: Path | None,
        hnsw: Mapping[str, Any] | None,
        adaptor: OrthogonalAdaptor | None,
    ) -> Collection:
        dim = search_dim if search_dim is not None else default_search_dim(self._profile)
        if full_vectors == "auto":
            full_vectors = "local" if persist_dir is not None else "chroma"
        if chroma_texts is False and full_vectors != "local":
            raise InvalidArgumentError(
                "chroma_texts=False needs full_vectors='local' (texts kept in files beside an "
                f"embedded PersistentClient); this store's format is {full_vectors!r}, which "
                "keeps every record in Chroma."
            )
        meta = lay.profile_metadata(self._profile, full_vectors, full_dtype)
        meta[META + "chroma_texts"] = chroma_texts is not False
        store_id = uuid.uuid4().hex
        meta[META + "search_dim"] = dim
        meta[META + "store_id"] = store_id
        meta[META + "adaptor"] = adaptor.fingerprint if adaptor is not None else ""
        hnsw = {"ef_search": DEFAULT_EF_SEARCH, **dict(hnsw or {})}
        lay.hnsw_config_of(hnsw)  # bad settings fail before anything is written
        if adaptor is None:
            return lay.create_collection(self._client, self._name, meta, hnsw)
        self._check_adaptor(adaptor)
        # The rotation is complete before the collection that names it exists.
        lay.save_adaptor(self._client, store_id, adaptor, self._profile.name)
        try:
            return lay.create_collection(self._client, self._name, meta, hnsw)
        except BaseException:
            lay.drop_adaptor(self._client, store_id, adaptor.fingerprint)
            raise

    def _layout_of(self, collection: Collection) -> Layout:
        meta = collection.metadata or {}
        adaptor = lay.load_adaptor(
            self._client,
            str(meta[META + "store_id"]),
            str(meta.get(META + "adaptor") or ""),
            self._profile.full_dim,
            self._name,
        )
        return Layout(collection, int(meta[META + "search_dim"]), adaptor)

    def _finish_chroma_intent(self) -> None:
        """Re-write, as Chroma holds them, the records of a write a crash interrupted.

        Chroma 1.5.9 can come back from a SIGKILL inside its own write with a
        record's metadata updated but its HNSW entry not; writing the record
        again, as it now is, puts them back in agreement.
        """
        intent = self._intent
        if intent is None or not intent.exists():
            return
        try:
            ids = [str(i) for i in json.loads(intent.read_text() or "[]")]
        except ValueError:
            ids = []  # torn before it was complete: Chroma was never called
        col = self._layout.collection
        got = col.get(ids=ids, include=["metadatas", "documents"]) if ids else {"ids": []}
        gone = sorted(set(ids) - set(got["ids"]))
        if gone:  # deleted as Chroma's metadata says: make sure its index agrees
            col.delete(ids=gone)
        if got["ids"]:
            full = self._chroma_format.decode(got["ids"], got["metadatas"])
            col.upsert(
                ids=got["ids"],
                embeddings=truncate(self._layout.search_view(full), self._layout.search_dim),
                metadatas=got["metadatas"],
                documents=[d if d is not None else "" for d in got["documents"]],
            )
        intent.unlink()

    def _open_files(self, persist_dir: Path | None, *, rebuild: bool) -> LocalFullVectors | None:
        if self._full_format == "chroma":
            self._finish_chroma_intent()
            return None
        if persist_dir is None:
            raise StoreMismatchError(
                f"Collection {self._name!r} keeps its full vectors in a local file beside "
                "its embedded Chroma; open it with chromadb.PersistentClient at that path."
            )
        count = self._layout.collection.count()
        files = LocalFullVectors.open(
            persist_dir / "mrl_rag" / self._store_id,
            self._profile.full_dim,
            self._full_dtype,
            self._process_lock,  # type: ignore[arg-type]
            create=count == 0 or rebuild,
        )
        try:
            if files.has_pending:
                files.recover(self._apply_following_swaps)
                count = self._layout.collection.count()
            if not rebuild and files.live_count() != count:
                raise files.damaged(
                    files.log_path,
                    f"lists {files.live_count()} records but the collection holds {count}",
                )
        except BaseException:
            files.release()
            raise
        release_freed_heap()  # the log's one-off arrays, freed: not the serving process's memory
        return files

    # -- properties --------------------------------------------------------

    @property
    def embedder(self) -> MatryoshkaEmbedder | None:
        """The embedder (``None`` for a store of precomputed vectors)."""
        return self._embedder

    @property
    def profile(self) -> ModelProfile:
        """The model profile the store was built with."""
        return self._profile

    @property
    def search_dim(self) -> int:
        """Dimension of the first-stage (HNSW) index."""
        return self._layout.search_dim

    @property
    def adaptor(self) -> OrthogonalAdaptor | None:
        """The adaptor applied before truncation, or ``None``."""
        return self._layout.adaptor

    @property
    def full_vector_format(self) -> str:
        """``"local"`` or ``"chroma"``: where the full vectors live."""
        return self._full_format

    @property
    def collection(self) -> Collection:
        """The Chroma collection currently serving searches."""
        return self._layout.collection

    def info(self) -> StoreInfo:
        """The store's settings, record count and file size (as ``mrl-rag info`` lists them)."""
        name = self._call(lambda layout: layout.collection.name)
        return next(i for i in list_stores(self._client) if i.collection == name)

    def count(self) -> int:
        """Number of records."""
        return self._call(lambda layout: layout.collection.count())

    def __len__(self) -> int:
        return self.count()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(collection={self._name!r}, model={self._profile.name!r}, "
            f"search_dim={self.search_dim}, full_dim={self._profile.full_dim}, "
            f"full_vectors={self._full_format!r})"
        )

    # -- the one way to Chroma -----------------------------------------------

    def _apply_following_swaps(self, batch: WriteBatch) -> None:
        """:func:`apply_batch` on the serving collection, found again after a reindex."""
        held = self._layout
        chroma = self._chroma_format if self._full_format == "chroma" else None
        try:
            apply_batch(held, batch, chroma, texts=self._chroma_texts)
        except Exception:
            fresh = self._reload_layout(held)
            if fresh is None:
                raise
            apply_batch(fresh, batch, chroma, texts=self._chroma_texts)

    def _recover(self) -> None:
        """Finish a local write whose outcome was unknown (see ``transaction``)."""
        if self._files is not None and self._files.has_pending:
            self._files.recover(self._apply_following_swaps)

    def _call(self, fn: Callable[[Layout], T]) -> T:
        """Run ``fn`` on the serving layout; after a reindex elsewhere, on the new one.

        A store object that holds a collection another store object has retired
        gets an error from Chroma; it then looks the name up again and retries.
        """
        self._check_open()
        self._recover()
        for _ in range(3):
            layout = self._layout
            try:
                return fn(layout)
            except _PendingWriteError:
                self._recover()  # another thread's write of unknown outcome: finish it
                continue
            except Exception:
                fresh = self._reload_layout(layout)
                if fresh is None:
                    raise
                return fn(fresh)
        with self._writer:  # no new write can be left unfinished meanwhile
            self._recover()
            return fn(self._layout)

    def _reload_layout(self, held: Layout) -> Layout | None:
        """The layout under the store's name, if it is no longer ``held``'s collection."""
        deadline = time.monotonic() + _SWAP_WAIT_S
        while True:
            current = lay.find_collection(self._client, self._name)
            if current is not None:
                break
            if time.monotonic() > deadline:  # not a swap in progress: it was deleted
                return None
            time.sleep(0.02)  # another process is between a reindex's two renames
        if current.id == held.collection.id:
            return None
        lay.check_compatible(current, self._profile, self._full_format, self._full_dtype, None)
        if str((current.metadata or {}).get(META + "store_id")) != self._store_id:
            raise StoreMismatchError(
                f"Collection {self._name!r} was replaced by another store; open it again."
            )
        self._layout = self._layout_of(current)
        return self._layout

    @contextlib.contextmanager
    def _read_lock(self) -> Iterator[None]:
        """Hold the local files' read lock: no write commits meanwhile."""
        if self._files is None:
            yield
            return
        with self._files.rw.read():
            if self._files.has_pending:  # a write of unknown outcome: finish it first
                raise _PendingWriteError
            yield

    # -- writing -----------------------------------------------------------

    def _require_embedder(self) -> MatryoshkaEmbedder:
        if self._embedder is None:
            raise ArgumentTypeError(
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
        can simply be run again; pass ``upsert=True`` to replace them instead
        (a record whose text and metadata are already stored as given is left
        as it is, without running the model). A progress bar counts the texts
        as their batches are stored: from 512 texts on, or as the embedder's
        ``show_progress_bar`` says.

        Args:
            texts: The documents, without prefixes.
            ids: One unique id per text; by default a hash of the text, so that
                rerunning the same add creates no duplicates.
            metadatas: One metadata dict (or ``None``) per text. Keys must not
                start with ``_mrl`` (reserved). Values are stored as Chroma
                returns them: ``None`` values are dropped; what Chroma would
                change (integers beyond 64 bits, NaN) is refused.
            batch_size: Texts embedded and written per step; each step is
                durable on its own.
            upsert: Replace existing records instead of skipping them. Without
                it, an id already stored is left as it is (also one that another
                client of a shared server stores between the check and the write).

        Returns:
            The ids, in the order of ``texts``.
        """
        embedder = self._require_embedder()
        texts = check_texts(texts)
        ids = check_ids(ids, len(texts), default=texts)
        metas = check_metadatas(metadatas, len(texts))
        batch_size = check_count(batch_size, name="batch_size")

        def embed(chosen: list[int]) -> WriteBatch:
            full = np.asarray(
                embedder.encode([texts[i] for i in chosen], input_type="document"), np.float32
            )
            bad = np.flatnonzero(~np.isfinite(full).all(axis=1) | ~full.any(axis=1))
            if len(bad):  # this batch is refused whole; earlier batches are stored
                raise InvalidVectorError(
                    f"The model's vector for texts[{chosen[bad[0]]}] is zero, NaN or "
                    "infinite; nothing of its batch was written."
                )
            return WriteBatch(
                [Record(ids[i], texts[i], metas[i]) for i in chosen],
                truncate(full, self._profile.full_dim),
            )

        def changed(chosen: list[int]) -> list[int]:
            stored = {r.id: (r.text, r.metadata) for r in self.get([ids[i] for i in chosen])}
            return [i for i in chosen if stored.get(ids[i]) != (texts[i], metas[i])]

        show = embedder.show_progress_bar
        self._write_batches(
            ids,
            batch_size,
            upsert=upsert,
            make=embed,
            progress=len(texts) >= PROGRESS_BAR_MIN_TEXTS if show is None else show,
            changed=None if self._refilling else changed,
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
            full_vectors: Shape ``(n, full_dim)``; finite and not zero.
            texts: Optional text per record, returned by searches (``None`` for a
                record without text).
            metadatas: Optional metadata per record.
            batch_size: Records written per step.
            upsert: Replace existing records instead of skipping them. Without
                it, an id already stored is left as it is (also one that another
                client of a shared server stores between the check and the write).

        Returns:
            The ids.
        """
        full = check_vectors(
            full_vectors, self._profile.full_dim, name="full_vectors", model=self._profile.name
        )
        ids = check_ids(ids, len(full), default=None)
        text_list: list[str | None] = [None] * len(ids)
        if texts is not None:
            if isinstance(texts, str):
                raise InvalidTextError("texts must be a list of strings, got a single str.")
            text_list = [
                t if t is None else check_text(t, name=f"texts[{i}]") for i, t in enumerate(texts)
            ]
            if len(text_list) != len(ids):
                raise InvalidArgumentError(
                    f"texts has {len(text_list)} entries for {len(ids)} vectors."
                )
        metas = check_metadatas(metadatas, len(ids))
        batch_size = check_count(batch_size, name="batch_size")
        full = truncate(full, self._profile.full_dim)
        self._check_searchable(full, name="full_vectors")
        self._write_batches(
            ids,
            batch_size,
            upsert=upsert,
            make=lambda chosen: WriteBatch(
                [Record(ids[i], text_list[i], metas[i]) for i in chosen], full[chosen]
            ),
        )
        return ids

    def _check_searchable(self, full: npt.NDArray[np.float32], *, name: str) -> None:
        """Refuse vectors whose first-stage view is zero: the index could never find them."""
        layout = self._layout
        zero = np.flatnonzero(~layout.search_view(full)[:, : layout.search_dim].any(axis=1))
        if len(zero):  # against the index actually serving (another object may have reindexed)
            layout = self._reload_layout(layout) or layout
            zero = np.flatnonzero(~layout.search_view(full)[:, : layout.search_dim].any(axis=1))
        if len(zero):
            raise InvalidVectorError(
                f"{name}[{zero[0]}] is zero in its first {layout.search_dim} dimensions (the "
                "store's search_dim), so the first stage could never find it."
            )

    def _write_batches(
        self,
        ids: list[str],
        batch_size: int,
        *,
        upsert: bool,
        make: Callable[[list[int]], WriteBatch],
        progress: bool = False,
        changed: Callable[[list[int]], list[int]] | None = None,
    ) -> None:
        """Write in batches of one Chroma call each; without ``upsert``, skip stored ids.

        The check for stored ids and the write hold one lock, so a concurrent add of
        the same id in this process cannot slip between them. With ``upsert``,
        ``changed`` may keep only the records that differ from what is stored.
        With ``progress``, a bar counts the records done (skipped ones included).
        """
        from tqdm.auto import tqdm

        size = min(batch_size, self._client.get_max_batch_size())
        with tqdm(
            total=len(ids), desc=f"Adding to {self._name}", unit="text", disable=not progress
        ) as bar:
            for start in range(0, len(ids), size):
                chosen = list(range(start, min(len(ids), start + size)))
                done = len(chosen)
                with self._writer:
                    if not upsert:
                        part = [ids[i] for i in chosen]
                        present = set(
                            self._call(
                                lambda layout, p=part: layout.collection.get(ids=p, include=[])
                            )["ids"]
                        )
                        chosen = [i for i in chosen if ids[i] not in present]
                    elif changed is not None:
                        chosen = changed(chosen)
                    if chosen:
                        batch = make(chosen)
                        batch.new = not upsert  # checked just now, under the lock
                        self._write(batch)
                bar.update(done)

    def _write(self, batch: WriteBatch) -> None:
        """Write one batch (under ``self._writer``): through the local log, or into Chroma."""
        self._check_open()
        if self._files is None:
            intent = self._intent
            if intent is not None:  # Chroma's own crash recovery may need our help
                intent.write_text(json.dumps(batch.ids))
                with open(intent, "rb+") as fh:
                    os.fsync(fh.fileno())
            try:
                self._apply_following_swaps(batch)
            except BaseException as exc:
                if intent is not None and is_refusal(exc):
                    intent.unlink()  # refused: Chroma changed nothing
                raise
            if intent is not None:
                intent.unlink()
            return
        self._recover()
        with self._files.transaction(batch):
            self._apply_following_swaps(batch)

    def delete(
        self, ids: Sequence[str] | None = None, *, where: Mapping[str, Any] | None = None
    ) -> None:
        """Delete records by id, by metadata filter, or both.

        Args:
            ids: Ids to delete (unknown ids are ignored).
            where: A Chroma metadata filter, for example ``{"source": "old"}``.
        """
        if ids is None and where is None:
            raise ArgumentTypeError(
                "delete needs ids, where, or both; it never deletes everything."
            )
        if isinstance(ids, str):
            raise ArgumentTypeError("ids must be a list of strings, got a single str.")
        if ids is not None:
            ids = check_ids(list(dict.fromkeys(ids)), len(set(ids)), default=None)
            if not ids:
                return  # no ids: nothing to delete, whatever the filter
        with self._writer:
            if self._files is None and self._intent is None:
                # A Chroma server applies one delete whole, filter and all.
                self._call(lambda layout: layout.collection.delete(ids=ids, where=where))  # type: ignore[arg-type]
                return
            # The ids first, so that the write (and its log or intent file) names them.
            found = self._call(
                lambda layout: layout.collection.get(ids=ids, where=where, include=[])  # type: ignore[arg-type]
            )["ids"]
            size = self._client.get_max_batch_size()
            for start in range(0, len(found), size):
                part = found[start : start + size]
                self._write(WriteBatch([], np.zeros((0, self._profile.full_dim), np.float32), part))

    # -- reading -----------------------------------------------------------

    def get(
        self,
        ids: Sequence[str] | None = None,
        *,
        where: Mapping[str, Any] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[SearchResult]:
        """Fetch records by id, by metadata filter, or a page at a time.

        Args:
            ids: The ids to fetch, returned in this order (unknown ids are left
                out); ``None`` means every record, in Chroma's order.
            where: A Chroma metadata filter the records must also match.
            limit: At most this many records.
            offset: Skip this many records first (with ``limit``, for pages).

        Returns:
            The records (``score`` and ``search_score`` are 0: nothing was searched).
        """
        if isinstance(ids, str):
            raise ArgumentTypeError("ids must be a list of strings, got a single str.")
        if ids is not None and not ids:
            return []
        if limit is not None:
            limit = check_count(limit, name="limit")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidArgumentError(f"offset must be a whole number >= 0, got {offset!r}.")
        wanted = None if ids is None else list(ids)
        local = self._files is not None  # the local files hold every record as searches return it

        def read(layout: Layout) -> list[SearchResult]:
            with self._read_lock():
                got = layout.collection.get(
                    ids=wanted,
                    where=where,  # type: ignore[arg-type]
                    limit=limit,
                    offset=offset or None,
                    include=[] if local else ["metadatas", "documents"],
                )
                if local:
                    files = self._files
                    assert files is not None
                    found = got["ids"]
                    records = files.records(files.lookup(found)) if found else []
                else:
                    records = [
                        Record(record_id, text or None, meta or {})
                        for record_id, text, meta in zip(
                            got["ids"], got["documents"], got["metadatas"], strict=True
                        )
                    ]
            return [SearchResult(r.id, r.text, public_metadata(r.metadata)) for r in records]

        found = self._call(read)
        if wanted is None:
            return found
        by_id = {r.id: r for r in found}
        return [by_id[i] for i in wanted if i in by_id]

    def full_vectors(self, ids: Sequence[str]) -> npt.NDArray[np.float32]:
        """The stored full vectors of ``ids``, shape ``(len(ids), full_dim)``.

        Raises:
            RecordNotFoundError: If an id is not in the store (a ``KeyError``).
        """
        if isinstance(ids, str):
            raise ArgumentTypeError("ids must be a list of strings, got a single str.")
        ids = list(ids)
        if not ids:
            return np.zeros((0, self._profile.full_dim), dtype=np.float32)

        def read(layout: Layout) -> npt.NDArray[np.float32]:
            with self._read_lock():
                got = layout.collection.get(
                    ids=ids, include=[] if self._files is not None else ["metadatas"]
                )
                missing = set(ids) - set(got["ids"])
                if missing:
                    raise RecordNotFoundError(f"ids not in the store: {sorted(missing)[:5]}.")
                by_id = dict(zip(got["ids"], got["metadatas"] or [None] * len(ids), strict=True))
                return self._read_full(ids, [by_id[i] for i in ids])

        return self._call(read)

    def iter_full_vectors(
        self, batch_size: int = _GET_PAGE
    ) -> Iterator[tuple[list[str], npt.NDArray[np.float32]]]:
        """Every record's id and full vector, page by page (no model call).

        Yields:
            ``(ids, vectors)`` with ``vectors`` of shape ``(len(ids), full_dim)``.
        """
        batch_size = check_count(batch_size, name="batch_size")
        include = [] if self._files is not None else ["metadatas"]
        offset = 0
        while True:

            def page_at(layout: Layout, o: int = offset) -> tuple[list[str], Any]:
                with self._read_lock():
                    page = layout.collection.get(include=include, limit=batch_size, offset=o)
                    if not page["ids"]:
                        return [], None
                    return page["ids"], self._read_full(page["ids"], page.get("metadatas"))

            ids, vectors = self._call(page_at)
            if not ids:
                return
            yield ids, vectors
            offset += len(ids)

    def _read_full(
        self, ids: Sequence[str], metadatas: Sequence[Any] | None
    ) -> npt.NDArray[np.float32]:
        if self._files is not None:
            return self._files.read(self._files.lookup(ids), in_memory=self._in_memory)
        return self._chroma_format.decode(ids, metadatas or [])

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
        mmr_lambda: float | None = None,
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
            mmr_lambda: Pick the ``k`` results from the reranked shortlist by max
                marginal relevance instead of by score alone, comparing them on
                their full vectors: from 0 (most diverse) to 1 (most relevant).
                The shortlist is the pool (LangChain's ``fetch_k``).

        Returns:
            Up to ``k`` results, best first, by cosine similarity at ``rerank_dim``
            (with ``mmr_lambda``: in the order they were picked).
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
            mmr_lambda=mmr_lambda,
        )

    def search_batch(
        self,
        queries: Sequence[str],
        k: int = 10,
        *,
        shortlist: int | None = None,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
        cascade: Sequence[tuple[int, int]] | None = None,
        rerank_dim: int | None = None,
        mmr_lambda: float | None = None,
    ) -> list[list[SearchResult]]:
        """:meth:`search` for many queries: one model call and one first-stage call to Chroma.

        Args:
            queries: The query texts, without prefix.
            k: Results per query.
            shortlist: As in :meth:`search`.
            where: As in :meth:`search`, the same for every query.
            where_document: As in :meth:`search`, the same for every query.
            cascade: As in :meth:`search`.
            rerank_dim: As in :meth:`search`.
            mmr_lambda: As in :meth:`search`.

        Returns:
            One list of results per query, in the order of ``queries``.
        """
        texts = check_texts(queries, name="queries")
        if not texts:
            return []
        embedder = self._require_embedder()
        return self.search_by_vectors(
            embedder.encode(texts, input_type="query"),
            k,
            shortlist=shortlist,
            where=where,
            where_document=where_document,
            cascade=cascade,
            rerank_dim=rerank_dim,
            mmr_lambda=mmr_lambda,
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
        mmr_lambda: float | None = None,
    ) -> list[SearchResult]:
        """:meth:`search` with a precomputed full query vector (query prefix applied)."""
        query_full = check_query_vector(query_vector, self._profile)
        return self._search_many(
            query_full[None], k, shortlist, where, where_document, cascade, rerank_dim, mmr_lambda
        )[0]

    def search_by_vectors(
        self,
        query_vectors: npt.ArrayLike,
        k: int = 10,
        *,
        shortlist: int | None = None,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
        cascade: Sequence[tuple[int, int]] | None = None,
        rerank_dim: int | None = None,
        mmr_lambda: float | None = None,
    ) -> list[list[SearchResult]]:
        """:meth:`search_by_vector` for many queries, with one first-stage call to Chroma.

        Chroma answers a batch of queries for less CPU per query than one query
        at a time; each query's shortlist is then reranked on its own.

        Args:
            query_vectors: Shape ``(q, full_dim)``, query prefix applied.
            k: Results per query.
            shortlist: First-stage candidates per query.
            where: Chroma metadata filter, the same for every query.
            where_document: Chroma document filter, the same for every query.
            cascade: As in :meth:`search`.
            rerank_dim: As in :meth:`search`.
            mmr_lambda: As in :meth:`search`.

        Returns:
            One list of results per query, in the order of ``query_vectors``.
        """
        queries = np.asarray(query_vectors, dtype=np.float32)
        if queries.ndim != 2:
            raise InvalidArgumentError(
                f"query_vectors must have shape (q, {self._profile.full_dim}), got {queries.shape}."
            )
        if not len(queries):
            return []
        queries = np.stack(
            [
                check_query_vector(q, self._profile, name=f"query_vectors[{i}]")
                for i, q in enumerate(queries)
            ]
        )
        return self._search_many(
            queries, k, shortlist, where, where_document, cascade, rerank_dim, mmr_lambda
        )

    def _search_many(
        self,
        queries: npt.NDArray[np.float32],
        k: int,
        shortlist: int | None,
        where: Mapping[str, Any] | None,
        where_document: Mapping[str, Any] | None,
        cascade: Sequence[tuple[int, int]] | None,
        rerank_dim: int | None,
        mmr_lambda: float | None,
    ) -> list[list[SearchResult]]:
        """The one search path: a first stage for every query in one call, then reranks."""
        if where_document is not None and not self._chroma_texts:
            raise InvalidArgumentError(
                f"where_document={dict(where_document)!r} needs the texts in Chroma, but this "
                "store was made with chroma_texts=False (its texts are only in its local "
                "files). Filter on metadata with where=..., or build the store with "
                "chroma_texts=True."
            )

        def run(layout: Layout) -> list[list[SearchResult]]:
            plan = plan_search(
                self._profile,
                layout.search_dim,
                k=k,
                shortlist=shortlist,
                default_shortlist=self.shortlist,
                rerank_dim=rerank_dim,
                cascade=cascade,
                mmr_lambda=mmr_lambda,
            )
            firsts = truncate(layout.search_view(queries), layout.search_dim)
            slim = self._files is not None or self._in_memory  # ids and distances only
            with self._read_lock():
                got = layout.collection.query(
                    query_embeddings=firsts,
                    n_results=plan.shortlist,
                    where=where,
                    where_document=where_document,
                    include=["distances"] if slim else ["metadatas", "documents", "distances"],
                )
                if self._files is not None:
                    return rerank_from_files(
                        plan, layout, queries, got, self._files, in_memory=self._in_memory
                    )
            if slim:
                found = rerank_from_replica(
                    self._replica_of(layout),
                    self._chroma_format,
                    plan,
                    layout,
                    queries,
                    firsts,
                    got,
                )
                if found is not None:
                    return found
                got = layout.collection.query(  # the replica kept losing races with writers
                    query_embeddings=firsts,
                    n_results=plan.shortlist,
                    where=where,
                    where_document=where_document,
                    include=["metadatas", "documents", "distances"],
                )
            out = []
            for q, ids in enumerate(got["ids"]):
                metas, docs = got["metadatas"][q], got["documents"][q]
                full = self._chroma_format.decode(ids, metas)
                order, scores = rerank(plan, layout, queries[q], full) if ids else ([], [])
                records = [Record(ids[i], docs[i] or None, metas[i] or {}) for i in order]
                out.append(results(order, scores, records, got["distances"][q]))
            return out

        return self._call(run)

    def _replica_of(self, layout: Layout) -> FullVectorReplica:
        replica = self._replica
        if replica is None or replica.collection_id != layout.collection.id:
            replica = FullVectorReplica(
                layout.collection.id,
                self._profile.full_dim,
                layout.search_dim,
                self._chroma_format.dtype,
            )
            self._replica = replica
        return replica

    def load_full_vectors(self, *, batch_size: int = _GET_PAGE) -> int:
        """Bring every full vector into memory now, so that the first searches are fast.

        For the ``local`` format this reads the memory-mapped file once; for the
        ``chroma`` format it fills the replica page by page (searches otherwise
        fill it as they meet records). Does nothing with
        ``keep_full_vectors="disk"``.

        Args:
            batch_size: Records per request to Chroma (``chroma`` format).

        Returns:
            Records whose full vectors are now in memory.
        """
        batch_size = check_count(batch_size, name="batch_size")
        if not self._in_memory:
            return 0
        if self._files is not None:
            files = self._files
            with self._read_lock():
                files.warm()
                return files.live_count()
        self._call(lambda layout: self._replica_of(layout).reserve(layout.collection.count()))
        offset = 0
        while True:

            def page_at(layout: Layout, o: int = offset) -> int:
                page = layout.collection.get(
                    include=["embeddings", "metadatas"], limit=batch_size, offset=o
                )
                if page["ids"]:
                    fill_replica(self._replica_of(layout), self._chroma_format, page)
                return len(page["ids"])

            got = self._call(page_at)
            if not got:
                return len(self._replica) if self._replica is not None else 0
            offset += got

    # -- adaptor and reindex -------------------------------------------------

    def _check_adaptor(self, adaptor: OrthogonalAdaptor) -> None:
        if not isinstance(adaptor, OrthogonalAdaptor):
            raise ArgumentTypeError(
                f"adaptor must be an OrthogonalAdaptor, 'keep' or None, got {adaptor!r:.60}."
            )
        if adaptor.dim != self._profile.full_dim:
            raise InvalidArgumentError(
                f"adaptor is for {adaptor.dim}-dimensional vectors; {self._profile.name} has "
                f"{self._profile.full_dim}."
            )

    def fit_adaptor(self, *, max_samples: int = 50_000, seed: int = 0) -> OrthogonalAdaptor:
        """Fit an :class:`OrthogonalAdaptor` on a sample of the stored full vectors.

        No labels and no model call. Apply it with ``store.reindex(dim, adaptor=...)``.
        """
        max_samples = check_count(max_samples, name="max_samples")
        total = self.count()
        if total < 2:
            raise InvalidArgumentError(f"Fitting needs at least 2 records; the store has {total}.")
        rng = np.random.default_rng(seed)
        wanted = np.sort(rng.choice(total, min(total, max_samples), replace=False))
        chunks, seen = [], 0
        for _, vectors in self.iter_full_vectors():
            pick = wanted[(wanted >= seen) & (wanted < seen + len(vectors))] - seen
            chunks.append(vectors[pick])
            seen += len(vectors)
        return OrthogonalAdaptor.fit(
            np.concatenate(chunks), model=self._profile.name, max_samples=max_samples
        )

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
        Other store objects on the collection, in this process or another, move
        to the new index by themselves. Writes from this process wait until the
        reindex is done; run one reindex of a collection at a time.

        Args:
            search_dim: The new first-stage dimension (validated for the model).
            adaptor: ``"keep"`` (the default) keeps the current adaptor; an
                :class:`OrthogonalAdaptor` (see :meth:`fit_adaptor`) replaces it;
                ``None`` removes it.
            batch_size: Records copied per step.
        """
        new_dim = self._profile.validate_dim(search_dim, name="search_dim")
        batch_size = check_count(batch_size, name="batch_size")
        if not (adaptor is None or (isinstance(adaptor, str) and adaptor == "keep")):
            self._check_adaptor(adaptor)  # type: ignore[arg-type]
        files = self._files
        with self._writer:  # no write of this process to the collection while it runs
            rx.recover(self._client, self._name, delete_leftovers=True)
            self._call(lambda layout: layout.collection.count())  # follow a swap made elsewhere
            held = self._layout
            target = Layout(
                held.collection,
                new_dim,
                held.adaptor if adaptor == "keep" else adaptor,  # type: ignore[arg-type]
            )

            def install(layout: Layout) -> None:
                self._layout = layout

            rx.rebuild(
                self._client,
                self._name,
                store_id=self._store_id,
                model=self._profile.name,
                held=held,
                target=target,
                read_full=self._read_full,
                batch_size=batch_size,
                read_lock=self._read_lock,
                swap_lock=files.rw.write if files is not None else contextlib.nullcontext,
                install=install,
            )

    # -- repair --------------------------------------------------------------

    @classmethod
    def adopt(
        cls,
        source: str,
        embedder: MatryoshkaEmbedder | None = None,
        *,
        profile: ModelProfile | None = None,
        collection: str = DEFAULT_COLLECTION,
        path: str | Path | None = None,
        client: ClientAPI | None = None,
        batch_size: int = 1000,
        **options: Any,
    ) -> MatryoshkaStore:
        """Make a funnel store from a plain Chroma collection of full vectors, without the model.

        For a collection made by ``langchain_chroma.Chroma``, LlamaIndex's
        ``ChromaVectorStore`` or Chroma itself with this model at full size: its
        ids, texts, metadata and vectors are read page by page and written to a
        new store in the same client, and the model is never called. The
        source collection is left untouched.

        Args:
            source: The name of the collection to adopt.
            embedder: The model that made its vectors (or pass ``profile``):
                its prefixes and dimensions; it is not run.
            profile: The model's profile, when no embedder is at hand.
            collection: The new store's collection (must not exist yet).
            path: The embedded Chroma folder holding ``source`` (or pass ``client``).
            client: The client holding ``source``.
            batch_size: Records per page.
            **options: Settings of the new store (``search_dim``,
                ``full_vectors``, ``full_dtype``, ``chroma_texts``, ``hnsw``).

        Returns:
            The new store, open.

        Raises:
            ValueError: If ``source`` is missing or already an mrl-rag store, or
                ``collection`` already exists.
            StoreMismatchError: If the vectors are not the model's full ones.
        """
        from mrl_rag.store.adopt import adopt, find_source

        if path is not None and client is not None:
            raise ArgumentTypeError(
                "Pass either path (an embedded Chroma folder) or client, not both."
            )
        if client is None:
            import chromadb

            client = chromadb.PersistentClient(path=str(path if path is not None else DEFAULT_PATH))
        source_collection = find_source(client, source, collection)
        if lay.find_collection(client, collection) is not None:
            raise InvalidArgumentError(
                f"Collection {collection!r} already exists; adopt into a new collection name."
            )
        store = cls(embedder, profile=profile, client=client, collection=collection, **options)
        try:
            adopt(source_collection, store, batch_size=check_count(batch_size, name="batch_size"))
        except BaseException:
            store.drop()  # nothing half-adopted is left behind
            raise
        return store

    @classmethod
    def repair(
        cls,
        embedder: MatryoshkaEmbedder,
        *,
        collection: str = DEFAULT_COLLECTION,
        path: str | Path | None = None,
        client: ClientAPI | None = None,
        batch_size: int = 256,
    ) -> MatryoshkaStore:
        """Rebuild a local store's damaged full-vector files from the texts in Chroma.

        Chroma holds every record's text and metadata; the model embeds the texts
        again. The damaged folder is kept beside the new one
        (``<store id>.damaged-<time>``). Records without text cannot be rebuilt:
        then nothing is changed and the error lists them.

        Args:
            embedder: The store's model.
            collection: The collection's name.
            path: The embedded Chroma folder (or pass ``client``).
            client: A ``PersistentClient`` for that folder.
            batch_size: Texts embedded per step.

        Returns:
            The repaired store, open.
        """
        from mrl_rag.store.repair import repair

        return repair(
            cls, embedder, collection=collection, path=path, client=client, batch_size=batch_size
        )
