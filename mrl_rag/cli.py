"""The ``mrl-rag`` command line.

``mrl-rag eval`` picks a dimension from measurements; ``mrl-rag repair``
rebuilds a store's damaged full-vector files from the texts kept in Chroma.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mrl_rag.store.store import DEFAULT_COLLECTION

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mrl-rag", description="Matryoshka embeddings for RAG: measure, then choose."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser(
        "eval",
        help="measure quality, latency and memory per search dimension; recommend one",
        description=(
            "Embed the corpus once at full size (cached), sweep search dimensions and "
            "shortlists through the real funnel store, print a table, write JSON, CSV and "
            "a PNG chart, and recommend the fastest configuration that keeps the target "
            "share of full-dimension nDCG@10."
        ),
    )
    _model_arguments(ev)
    data = ev.add_mutually_exclusive_group(required=True)
    data.add_argument(
        "--beir", type=Path, help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/test.tsv"
    )
    data.add_argument("--docs", type=Path, help="folder of .txt/.md documents (no labels)")
    ev.add_argument(
        "--beir-fields",
        choices=["title+text", "text"],
        default="title+text",
        help="with --beir: what each document is indexed as (match what your store holds)",
    )
    data.add_argument("--store", type=Path, help="an existing embedded mrl-rag store (no labels)")
    ev.add_argument("--collection", default=DEFAULT_COLLECTION, help="with --store: the collection")
    ev.add_argument(
        "--queries", type=Path, help="with --docs or --store: sample queries, one per line"
    )
    ev.add_argument("--dims", type=int, nargs="+", help="search dimensions (default: a ladder)")
    ev.add_argument("--shortlists", type=int, nargs="+", default=[100, 300])
    ev.add_argument(
        "--adaptor",
        choices=["off", "on", "compare"],
        default="off",
        help="orthogonal adaptor fitted on the corpus vectors",
    )
    ev.add_argument(
        "--target",
        type=float,
        default=0.99,
        help="share of full-dim nDCG@10 to keep (default 0.99)",
    )
    ev.add_argument("--out", type=Path, default=Path("mrl-rag-eval"), help="output folder")
    ev.add_argument("--cache-dir", type=Path, help="where full vectors are cached")
    rp = sub.add_parser(
        "repair",
        help="rebuild a store's damaged full-vector files from the texts in Chroma",
        description=(
            "Re-embed every record of a local-format store from the text Chroma holds, "
            "into fresh full-vector files; the damaged folder is kept beside them. Records "
            "without text cannot be rebuilt: then nothing is changed."
        ),
    )
    rp.add_argument("path", type=Path, help="the embedded Chroma folder of the store")
    rp.add_argument("--collection", default=DEFAULT_COLLECTION, help="the store's collection")
    _model_arguments(rp)
    info = sub.add_parser(
        "info",
        help="list the mrl-rag stores in an embedded Chroma folder",
        description=(
            "For each mrl-rag store in the folder: model, full and search dimensions, "
            "full-vector format and dtype, adaptor, record count and the size of its local "
            "files. Opens no store and writes nothing."
        ),
    )
    info.add_argument("path", type=Path, help="the embedded Chroma folder")
    cp = sub.add_parser(
        "compact",
        help="reclaim the space of deleted and replaced records in a store's local files",
        description=(
            "Rewrite a local-format store's full-vector files with its live records only, "
            "safe under a crash at any point. No model is needed."
        ),
    )
    cp.add_argument("path", type=Path, help="the embedded Chroma folder")
    cp.add_argument("--collection", default=DEFAULT_COLLECTION, help="the store's collection")
    ad = sub.add_parser(
        "adopt",
        help="make a funnel store from a plain Chroma collection, without re-embedding",
        description=(
            "Copy a collection of full-size vectors (made by langchain-chroma, LlamaIndex's "
            "ChromaVectorStore or Chroma itself, with this model) into a new funnel store in "
            "the same folder: ids, texts, metadata and vectors, page by page. The model is "
            "loaded for its settings and never run; the source is left untouched."
        ),
    )
    ad.add_argument("path", type=Path, help="the embedded Chroma folder")
    ad.add_argument("--source", required=True, help="the collection to adopt")
    ad.add_argument("--collection", required=True, help="the new store's collection")
    _model_arguments(ad)
    ad.add_argument("--search-dim", type=int, help="first-stage dimension (default: chosen)")
    ad.add_argument("--full-dtype", choices=["float32", "float16", "int8"], default="float32")
    ad.add_argument(
        "--texts-local-only",
        action="store_true",
        help="keep texts only in the store's files (chroma_texts=False): faster, no where_document",
    )
    return parser


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True, help="hub id or local sentence-transformers folder"
    )
    parser.add_argument(
        "--profile", help="registered profile name, for a local copy of a known model"
    )
    parser.add_argument(
        "--trust-remote-code", action="store_true", help="allow the model's hub code"
    )
    parser.add_argument("--device", help="cpu, cuda, mps (default: picked for you)")
    parser.add_argument("--batch-size", type=int, default=32)


def _embedder(args: argparse.Namespace, *, progress: bool) -> Any:
    from mrl_rag._embedder import MatryoshkaEmbedder

    return MatryoshkaEmbedder(
        args.model,
        profile=args.profile,
        device=args.device,
        batch_size=args.batch_size,
        trust_remote_code=args.trust_remote_code,
        show_progress_bar=progress,
    )


def _repair(args: argparse.Namespace) -> int:
    from mrl_rag.store import MatryoshkaStore

    if not (args.path / "chroma.sqlite3").is_file():
        print(f"mrl-rag repair: no Chroma store at {args.path}", file=sys.stderr)
        return 2
    store = MatryoshkaStore.repair(
        _embedder(args, progress=True), path=args.path, collection=args.collection
    )
    print(f"Repaired {args.collection!r} in {args.path}: {store.count()} records re-embedded.")
    store.close()
    return 0


def _adopt(args: argparse.Namespace) -> int:
    from mrl_rag.store import MatryoshkaStore

    if not (args.path / "chroma.sqlite3").is_file():
        print(f"mrl-rag adopt: {args.path} is not an embedded Chroma folder", file=sys.stderr)
        return 2
    try:
        store = MatryoshkaStore.adopt(
            args.source,
            _embedder(args, progress=False),
            path=args.path,
            collection=args.collection,
            search_dim=args.search_dim,
            full_dtype=args.full_dtype,
            chroma_texts=False if args.texts_local_only else None,
        )
    except (ValueError, TypeError) as exc:
        print(f"mrl-rag adopt: {exc}", file=sys.stderr)
        return 2
    print(
        f"Adopted {args.source!r} as {args.collection!r} in {args.path}: {store.count()} records, "
        f"search dim {store.search_dim}, no model call; {args.source!r} is unchanged."
    )
    store.close()
    return 0


def _compact(path: Path, collection: str) -> int:
    if not (path / "chroma.sqlite3").is_file():
        print(f"mrl-rag compact: {path} is not an embedded Chroma folder", file=sys.stderr)
        return 2
    import chromadb

    from mrl_rag._errors import MRLRagError
    from mrl_rag.store import MatryoshkaStore
    from mrl_rag.store.layout import META, find_collection, stored_profile

    client = chromadb.PersistentClient(path=str(path))
    found = find_collection(client, collection)
    if found is None or META + "model" not in (found.metadata or {}):
        print(f"mrl-rag compact: no mrl-rag store {collection!r} in {path}", file=sys.stderr)
        return 2
    try:
        with MatryoshkaStore(
            profile=stored_profile(found), client=client, collection=collection, create=False
        ) as store:
            before = store.info().files_bytes or 0
            reclaimed = store.compact()
    except MRLRagError as exc:
        print(f"mrl-rag compact: {exc}", file=sys.stderr)
        return 2
    print(
        f"Compacted {collection!r} in {path}: {reclaimed / 2**20:,.1f} MiB reclaimed "
        f"({before / 2**20:,.1f} -> {(before - reclaimed) / 2**20:,.1f} MiB)."
    )
    return 0


def _info(path: Path) -> int:
    """Print the stores of an embedded Chroma folder, one line each."""
    if not (path / "chroma.sqlite3").is_file():
        print(f"mrl-rag info: {path} is not an embedded Chroma folder", file=sys.stderr)
        return 2
    import chromadb

    from mrl_rag.store.info import list_stores

    stores = list_stores(chromadb.PersistentClient(path=str(path)))
    if not stores:
        print(f"{path}: no mrl-rag stores")
        return 0
    header = ("collection", "model", "full", "search", "format", "adaptor", "records", "files")
    rows = [
        (
            s.collection,
            s.model,
            str(s.full_dim),
            str(s.search_dim),
            s.full_vectors
            + ("" if s.full_dtype == "float32" else f" {s.full_dtype}")
            + ("" if s.chroma_texts else ", texts local"),
            s.adaptor or "-",
            f"{s.count:,}",
            "-" if s.files_bytes is None else f"{s.files_bytes / 2**20:,.1f} MiB",
        )
        for s in stores
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    return 0


def _eval_argument_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with ``mrl-rag eval``'s arguments (one line), or ``None``."""
    if args.beir is not None:
        needed = ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv")
        missing = [name for name in needed if not (args.beir / name).is_file()]
        if missing:
            return (
                f"--beir {args.beir} is not a BEIR folder: it lacks {', '.join(missing)} "
                f"(needed: {', '.join(needed)})."
            )
    elif args.queries is None:
        source = "--docs" if args.docs is not None else "--store"
        return f"{source} needs --queries (a file of sample queries)."
    if args.docs is not None and not args.docs.is_dir():
        return f"--docs {args.docs} is not a folder."
    if args.store is not None and not (args.store / "chroma.sqlite3").is_file():
        return f"--store {args.store} is not an embedded Chroma folder."
    if args.queries is not None and not args.queries.is_file():
        return f"--queries {args.queries} is not a file."
    if not 0 < args.target <= 1:
        hint = f" (did you mean {args.target / 100:g}?)" if 1 < args.target <= 100 else ""
        return f"--target must be a share in (0, 1], got {args.target:g}{hint}."
    for name, values in (("--dims", args.dims or []), ("--shortlists", args.shortlists)):
        bad = [v for v in values if v < 1]
        if bad:
            return f"{name} must be whole numbers >= 1, got {bad[0]}."
    if args.batch_size < 1:
        return f"--batch-size must be >= 1, got {args.batch_size}."
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "repair":
        return _repair(args)
    if args.command == "info":
        return _info(args.path)
    if args.command == "adopt":
        return _adopt(args)
    if args.command == "compact":
        return _compact(args.path, args.collection)
    from mrl_rag.evaluation import (
        evaluate,
        format_table,
        load_beir,
        load_folder,
        load_store,
        write_outputs,
    )

    problem = _eval_argument_problem(args)
    if problem is not None:  # before the model loads
        print(f"mrl-rag eval: {problem}", file=sys.stderr)
        return 2
    embedder = _embedder(args, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the not-Matryoshka warning
        try:
            dims = [embedder.resolve_dim(d) for d in args.dims] if args.dims else None
        except ValueError as exc:  # a dimension this model does not allow
            print(f"mrl-rag eval: --dims: {exc}", file=sys.stderr)
            return 2
    doc_vectors = None
    if args.beir is not None:
        data = load_beir(args.beir, args.beir_fields)
    elif args.docs is not None:
        data = load_folder(args.docs, args.queries)
    else:
        data, doc_vectors = load_store(args.store, args.collection, embedder, args.queries)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the not-Matryoshka warning: this is the measurement
        report = evaluate(
            embedder,
            data,
            dims=dims,
            shortlists=args.shortlists,
            adaptor=args.adaptor,
            target=args.target,
            cache_dir=args.cache_dir,
            doc_vectors=doc_vectors,
        )
    print(format_table(report))
    paths = write_outputs(report, args.out)
    print("Wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
