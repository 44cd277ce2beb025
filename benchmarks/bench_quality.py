r"""Retrieval quality per dimension for a real MRL model and a non-MRL one, on BEIR sets.

One command gives every quality table in the README and docs/quality.md:
truncated-only search and the funnel (shortlists 100 and 300), each with and
without the orthogonal adaptor, at every dimension, for WordLlama l2_supercat
(Matryoshka-trained, ``mrl_rag.models``) and all-MiniLM-L6-v2 (not), on each
BEIR folder given. Everything runs through the real funnel store
(:func:`mrl_rag.evaluation.evaluate`), offline.

    .venv/bin/python benchmarks/bench_quality.py --out docs/quality.md \
        --beir ../shared/datasets/scifact ../shared/datasets/nfcorpus

Figures are nDCG@10 as a share of exact full-dimension nDCG@10 (title+text).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

from _beir import MODEL_DIMS, OFFLINE_MODELS, offline_embedder

from mrl_rag import TruncationQualityWarning
from mrl_rag.evaluation import EvalReport, evaluate, load_beir

TITLES = {
    "wordllama": "WordLlama l2_supercat (MRL-trained)",
    "minilm": "all-MiniLM-L6-v2 (not MRL-trained)",
}


def table(report: EvalReport, dims: list[int]) -> list[str]:
    """One markdown table: a row per dimension, a column per configuration."""
    cells = {(r.variant, r.mode, r.shortlist, r.dim): r.share_of_full for r in report.rows}
    columns = [
        ("truncated only", "plain", "truncated", None),
        ("funnel 100", "plain", "funnel", 100),
        ("funnel 300", "plain", "funnel", 300),
        ("truncated, adaptor", "adaptor", "truncated", None),
        ("funnel 100, adaptor", "adaptor", "funnel", 100),
        ("funnel 300, adaptor", "adaptor", "funnel", 300),
    ]
    lines = [
        "| dims | " + " | ".join(name for name, *_ in columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for dim in dims:
        row = []
        for _, variant, mode, shortlist in columns:
            share = cells.get((variant, mode, shortlist, dim))
            row.append("" if share is None else f"{100 * share:.1f}%")
        lines.append(f"| {dim} | " + " | ".join(row) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the sweep and print (and optionally write) the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--beir", nargs="+", required=True, help="BEIR folders")
    parser.add_argument("--models", nargs="+", default=list(OFFLINE_MODELS), choices=OFFLINE_MODELS)
    parser.add_argument("--out", type=Path, help="write the tables to this markdown file")
    args = parser.parse_args(argv)
    for folder in args.beir:
        if not (Path(folder) / "corpus.jsonl").is_file():
            parser.error(f"--beir {folder} is not a BEIR folder (no corpus.jsonl)")
    lines = [
        "<!-- written by benchmarks/bench_quality.py; do not edit by hand -->",
        "",
        "nDCG@10 as a share of exact full-dimension nDCG@10 (documents: title+text), "
        "through the real funnel store. `funnel N`: approximate search at `dims`, "
        "then an exact rerank of N candidates with the full vectors. `adaptor`: the "
        "orthogonal adaptor fitted on the corpus (docs/adaptor.md).",
        "",
        "Command: `python benchmarks/bench_quality.py --beir "
        + " ".join(args.beir)
        + (f" --out {args.out}`" if args.out else "`"),
    ]
    for key in args.models:
        title, embedder = TITLES[key], offline_embedder(key)
        for folder in args.beir:
            data = load_beir(folder)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", TruncationQualityWarning)  # the point here
                report = evaluate(
                    embedder, data, dims=MODEL_DIMS[key], shortlists=(100, 300), adaptor="compare"
                )
            lines += [
                "",
                f"### {title}, {data.name}",
                "",
                f"Exact full-dimension ({embedder.full_dim}) nDCG@10: "
                f"{report.full_ndcg10:.3f}; {len(data.doc_ids)} documents, "
                f"{len(data.query_ids)} queries ({time.perf_counter() - start:.0f} s).",
                "",
                *table(report, MODEL_DIMS[key]),
            ]
            print("\n".join(lines[-(len(MODEL_DIMS[key]) + 5) :]), flush=True)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
