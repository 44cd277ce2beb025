"""What :func:`~mrl_rag.evaluation.evaluate` measures on: documents, queries, judgements.

Three sources: a BEIR folder (with relevance judgements), a folder of text files
with sample queries, or an existing store (its own full vectors, nothing
re-embedded). :func:`cached_encode` embeds texts once and keeps the vectors on
disk, so that reruns embed nothing.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mrl_rag._embedder import InputType, MatryoshkaEmbedder
from mrl_rag._errors import DataNotFoundError, InvalidArgumentError
from mrl_rag._validation import check_choice
from mrl_rag.store import MatryoshkaStore

__all__ = [
    "BEIR_FIELDS",
    "CHUNK",
    "RetrievalSet",
    "cached_encode",
    "load_beir",
    "load_folder",
    "load_store",
]

#: Texts embedded (and cached) per chunk, and records read per page from a store.
CHUNK = 1000

#: What a BEIR document can be indexed as (see :func:`load_beir`).
BEIR_FIELDS = ("title+text", "text")


@dataclass
class RetrievalSet:
    """Documents, queries and (optionally) graded relevance judgements.

    Attributes:
        doc_ids: One id per document.
        doc_texts: The documents' texts, in the order of ``doc_ids``.
        query_ids: One id per query.
        query_texts: The queries' texts, in the order of ``query_ids``.
        qrels: Per query id, the graded relevance of its relevant documents
            (``{doc_id: grade}``), or ``None`` without labels.
        name: The data set's name, for the report.
        indexed: What each document's text is (reported, so that it can match
            the store's).
    """

    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]] | None = None
    name: str = "data"
    indexed: str = "the documents' text"

    def __post_init__(self) -> None:
        for ids, texts, what in (
            (self.doc_ids, self.doc_texts, "doc"),
            (self.query_ids, self.query_texts, "query"),
        ):
            if len(ids) != len(texts):
                raise InvalidArgumentError(
                    f"{what}_ids and {what}_texts must have the same length, got "
                    f"{len(ids)} and {len(texts)}."
                )


def load_beir(path: str | Path, fields: str = "title+text") -> RetrievalSet:
    """Read a BEIR folder: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/test.tsv``.

    Only queries with at least one relevant document are kept.

    Args:
        path: The folder.
        fields: What each document is indexed as: ``"title+text"`` (the BEIR
            convention) or ``"text"``. Pick what your store holds, so that the
            measurement is of the same texts.

    Returns:
        The documents, the judged queries and their judgements.

    Raises:
        InvalidArgumentError: If ``fields`` is not one of :data:`BEIR_FIELDS`.
        DataNotFoundError: If a file of the BEIR layout is missing (a ``FileNotFoundError``).
    """
    check_choice(fields, BEIR_FIELDS, name="fields")
    path = Path(path)
    for needed in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
        if not (path / needed).is_file():
            raise DataNotFoundError(f"{path / needed} is missing: not a BEIR folder.")
    doc_ids, doc_texts = [], []
    with open(path / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            title = row.get("title", "") if fields == "title+text" else ""
            text = f"{title} {row.get('text', '')}".strip()
            if text:
                doc_ids.append(str(row["_id"]))
                doc_texts.append(text)
    qrels: dict[str, dict[str, int]] = {}
    with open(path / "qrels" / "test.tsv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if int(row["score"]) > 0:
                qrels.setdefault(str(row["query-id"]), {})[str(row["corpus-id"])] = int(
                    row["score"]
                )
    query_ids, query_texts = [], []
    with open(path / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if str(row["_id"]) in qrels:
                query_ids.append(str(row["_id"]))
                query_texts.append(row["text"])
    indexed = "title + text" if fields == "title+text" else "text (no title)"
    return RetrievalSet(
        doc_ids, doc_texts, query_ids, query_texts, qrels, name=path.name, indexed=indexed
    )


def _read_queries(queries: str | Path) -> list[str]:
    """The non-empty lines of a queries file."""
    lines = [q.strip() for q in Path(queries).read_text(encoding="utf-8").splitlines()]
    sample = [q for q in lines if q]
    if not sample:
        raise InvalidArgumentError(f"{queries} holds no queries (one per line).")
    return sample


def load_folder(docs: str | Path, queries: str | Path) -> RetrievalSet:
    """Documents from a folder of ``.txt``/``.md`` files, queries one per line; no labels.

    Args:
        docs: The folder; every ``.txt`` and ``.md`` file under it is one
            document (its path relative to the folder is its id); empty files
            are skipped.
        queries: A text file of sample queries, one per line.

    Returns:
        The documents and queries, without judgements.

    Raises:
        DataNotFoundError: If the folder holds no ``.txt`` or ``.md`` file.
        InvalidArgumentError: If the queries file holds no query.
    """
    folder = Path(docs)
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".txt", ".md"))
    if not files:
        raise DataNotFoundError(f"No .txt or .md files under {folder}.")
    texts = [p.read_text(encoding="utf-8", errors="replace").strip() for p in files]
    kept = [(str(p.relative_to(folder)), t) for p, t in zip(files, texts, strict=True) if t]
    sample = _read_queries(queries)
    return RetrievalSet(
        [k for k, _ in kept],
        [t for _, t in kept],
        [f"q{i}" for i in range(len(sample))],
        sample,
        None,
        name=folder.name,
        indexed="each file's whole text",
    )


def load_store(
    path: str | Path, collection: str, embedder: MatryoshkaEmbedder, queries: str | Path
) -> tuple[RetrievalSet, npt.NDArray[np.float32]]:
    """An existing embedded store's records and full vectors, plus sample queries; no labels.

    Nothing is re-embedded: the store's own full vectors are read, through
    :meth:`MatryoshkaStore.iter_full_vectors`. The store is never created.

    Args:
        path: The embedded Chroma folder.
        collection: The store's collection.
        embedder: The store's model (it embeds the queries later).
        queries: A text file of sample queries, one per line.

    Returns:
        The records and queries without judgements, and the records' full
        vectors in the order of ``doc_ids``.

    Raises:
        DataNotFoundError: If there is no Chroma store at ``path``.
        InvalidArgumentError: If the collection is missing or empty, or the
            queries file holds no query.
    """
    import chromadb

    if not (Path(path) / "chroma.sqlite3").is_file():
        raise DataNotFoundError(f"No Chroma store at {path} (no chroma.sqlite3 there).")
    client = chromadb.PersistentClient(path=str(path))
    names = {c if isinstance(c, str) else c.name for c in client.list_collections()}
    if collection not in names:
        raise InvalidArgumentError(
            f"No collection {collection!r} at {path}; collections there: {sorted(names)}."
        )
    store = MatryoshkaStore(embedder, client=client, collection=collection)
    ids: list[str] = []
    chunks = []
    for page_ids, vectors in store.iter_full_vectors(CHUNK):
        ids += page_ids
        chunks.append(vectors)
    if not ids:
        raise InvalidArgumentError(f"Collection {collection!r} at {path} is empty.")
    sample = _read_queries(queries)
    texts = [r.text or "" for r in store.get(ids)]
    data = RetrievalSet(
        ids,
        texts,
        [f"q{i}" for i in range(len(sample))],
        sample,
        None,
        collection,
        indexed="the store's own full vectors (of the texts it holds)",
    )
    return data, np.concatenate(chunks)


def cached_encode(
    embedder: MatryoshkaEmbedder,
    texts: Sequence[str],
    input_type: InputType,
    cache_dir: str | Path,
) -> npt.NDArray[np.float32]:
    """Full vectors, cached on disk in chunks keyed by model and content.

    A rerun, or a run after a crash, only embeds the chunks not yet on disk.

    Args:
        embedder: The model.
        texts: The texts to embed.
        input_type: ``"query"`` or ``"document"`` (part of the cache key).
        cache_dir: The cache folder (created if missing).

    Returns:
        The full vectors, shape ``(len(texts), full_dim)``.
    """
    from tqdm.auto import tqdm

    cache_dir = Path(cache_dir)
    key = hashlib.sha256(json.dumps(embedder.profile.to_dict(), sort_keys=True).encode())
    key.update(repr(embedder.encoder).encode())  # the backend: a model's path or a server
    key.update(input_type.encode())
    cache_dir.mkdir(parents=True, exist_ok=True)
    parts = []
    chunks = range(0, len(texts), CHUNK)
    with tqdm(total=len(texts), desc=f"Embedding {input_type}s", disable=len(texts) < CHUNK) as bar:
        for start in chunks:
            chunk = list(texts[start : start + CHUNK])
            digest = key.copy()
            for text in chunk:
                digest.update(text.encode("utf-8") + b"\0")
            path = cache_dir / f"{digest.hexdigest()[:32]}.npy"
            if path.is_file():
                parts.append(np.load(path, allow_pickle=False))
            else:
                vectors = embedder.encode(chunk, input_type=input_type)
                tmp = path.with_suffix(".tmp.npy")
                np.save(tmp, vectors, allow_pickle=False)
                tmp.replace(path)
                parts.append(vectors)
            bar.update(len(chunk))
    if not parts:
        return np.zeros((0, embedder.full_dim), dtype=np.float32)
    return np.concatenate(parts)
