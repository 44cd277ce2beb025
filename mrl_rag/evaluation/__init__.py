"""Measure quality, latency and memory per search dimension, then choose one.

The library behind ``mrl-rag eval`` (see ``docs/advisor.md``)::

    from mrl_rag import MatryoshkaEmbedder
    from mrl_rag.evaluation import evaluate, format_table, load_beir, write_outputs

    report = evaluate(MatryoshkaEmbedder("BAAI/bge-small-en-v1.5"), load_beir("./scifact"))
    print(format_table(report))
    write_outputs(report, "./eval")

Modules: :mod:`~mrl_rag.evaluation.datasets` (what is measured),
:mod:`~mrl_rag.evaluation.metrics` (nDCG@k, recall@k, MRR@k),
:mod:`~mrl_rag.evaluation.sweep` (the measuring loop and the recommendation),
:mod:`~mrl_rag.evaluation.memory` (the serving-memory probe, run as its own
process) and :mod:`~mrl_rag.evaluation.report` (table, files, chart).
"""

# memory is not imported here: `python -m mrl_rag.evaluation.memory` runs it as a
# program, and runpy warns when a package has already imported the module it runs.

from mrl_rag.evaluation.datasets import (
    RetrievalSet,
    cached_encode,
    load_beir,
    load_folder,
    load_store,
)
from mrl_rag.evaluation.metrics import mrr_at_k, ndcg_at_k, recall_at_k
from mrl_rag.evaluation.report import figure, format_table, write_outputs
from mrl_rag.evaluation.sweep import EvalReport, EvalRow, default_dims, evaluate, recommend

__all__ = [
    "EvalReport",
    "EvalRow",
    "RetrievalSet",
    "cached_encode",
    "default_dims",
    "evaluate",
    "figure",
    "format_table",
    "load_beir",
    "load_folder",
    "load_store",
    "mrr_at_k",
    "ndcg_at_k",
    "recall_at_k",
    "recommend",
    "write_outputs",
]
