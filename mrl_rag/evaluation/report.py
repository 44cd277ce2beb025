"""The report of an evaluation: a plain-text table, JSON, CSV and a chart."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mrl_rag._errors import InvalidArgumentError
from mrl_rag.evaluation.sweep import MIN_TIMINGS, EvalReport, EvalRow

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["figure", "format_table", "write_outputs"]

_LABELLED = "relevance judgements"


def format_table(report: EvalReport) -> str:
    """The report as a plain-text table with the recommendation.

    With relevance judgements, the table ends with what the label-free mode
    would have recommended beside the labelled choice.

    Args:
        report: The result of :func:`~mrl_rag.evaluation.evaluate`.

    Returns:
        The table, lines joined by newlines (no trailing newline).
    """
    lines = [
        f"{report.model} on {report.data}: {report.n_docs} documents, {report.n_queries} "
        f"queries; quality = {report.reference}; exact full-dim nDCG@10 = "
        f"{report.full_ndcg10:.4f}; documents indexed as {report.indexed or 'given'}",
        f"{'variant':<8} {'mode':<10} {'dim':>5} {'short':>6} {'nDCG@10':>8} {'%full':>7} "
        f"{'R@10':>6} {'R@100':>6} {'MRR@10':>7} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'RSS MiB':>8} {'index MiB*':>10} {'B/vector':>9}",
    ]
    for r in report.rows:
        stored = r.search_bytes_per_vector + r.full_bytes_per_vector
        lines.append(
            f"{r.variant:<8} {r.mode:<10} {r.dim:>5} {r.shortlist or '-':>6} {r.ndcg10:>8.4f} "
            f"{r.share_of_full:>6.1%} {r.recall10:>6.3f} {r.recall100:>6.3f} {r.mrr10:>7.3f} "
            f"{r.p50_ms:>7.2f} {r.p95_ms:>7.2f} {r.serving_rss_mib:>8.1f} "
            f"{r.index_mib_estimate:>10.1f} {stored:>9}"
        )
    lines.append(
        "RSS MiB = resident memory a fresh process adds by opening the store and answering 20 "
        "queries (measured); * index MiB = n x (4 x dim + 462) bytes, the HNSW index alone "
        "(estimate from chromadb 1.5.9's measured overhead); B/vector = index vector + full "
        "vector kept for the rerank."
    )
    rec = report.recommendation
    if rec is None:
        lines.append(f"No configuration keeps {report.target:.0%} of full-dim nDCG@10.")
    else:
        lines.append(
            f"Recommended: {rec['mode']} search at dim {rec['dim']}"
            + (f", shortlist {rec['shortlist']}" if rec["shortlist"] else "")
            + (" with the orthogonal adaptor" if rec["variant"] == "adaptor" else "")
            + f": {rec['share_of_full']:.1%} of full-dim nDCG@10 (target {report.target:.0%}), "
            f"p50 {rec['p50_ms']:.2f} ms, serving memory {rec['serving_rss_mib']:.1f} MiB "
            f"(index about {rec['index_mib_estimate']:.1f} MiB)."
        )
    if report.reference == _LABELLED:
        lines += _side_by_side(report)
    return "\n".join(lines)


def _side_by_side(report: EvalReport) -> list[str]:
    """The label-free mode's choice beside the labelled one, and why they may differ."""
    free, rec = report.label_free_recommendation, report.recommendation
    if free is None:
        choice = f"no configuration keeps {report.target:.0%} agreement with exact search"
    else:
        choice = f"{_describe(free)} ({free['agreement10']:.1%} agreement with exact search)"
    same = free is not None and rec is not None and _describe(free) == _describe(rec)
    return [
        f"Without labels (agreement with exact full-dim search) the choice would be: {choice}.",
        "The two agree."
        if same
        else "They differ because agreement counts every change to the exact top 10, while "
        "judgements count only the relevant documents: truncation can reorder near-ties "
        "without losing relevance; the label-free choice is usually the more cautious one.",
    ]


def write_outputs(report: EvalReport, out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.json``, ``report.csv`` and ``report.png``.

    Args:
        report: The result of :func:`~mrl_rag.evaluation.evaluate`.
        out_dir: The folder (created if missing).

    Returns:
        The paths written, under the keys ``"json"``, ``"csv"`` and ``"png"``.

    Raises:
        InvalidArgumentError: If the report has no rows.
    """
    if not report.rows:
        raise InvalidArgumentError("report has no rows: there is nothing to write.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "report.json",
        "csv": out_dir / "report.csv",
        "png": out_dir / "report.png",
    }
    paths["json"].write_text(json.dumps(report.to_json(), indent=2), encoding="utf-8")
    with open(paths["csv"], "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(asdict(report.rows[0])))
        writer.writeheader()
        writer.writerows(asdict(r) for r in report.rows)
    _chart(report, paths["png"])
    return paths


def _chart(report: EvalReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = figure(report)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure(report: EvalReport) -> Figure:
    """The chart: quality, latency and memory against the search dimension.

    Three panels: quality (with the full-dimension line and the target), p50
    latency, and memory (each variant's serving memory beside the HNSW index
    estimate). The recommended configuration is circled in red on the first two.

    Args:
        report: The result of :func:`~mrl_rag.evaluation.evaluate`, with rows.

    Returns:
        The matplotlib figure; close it with ``matplotlib.pyplot.close`` when done.

    Raises:
        InvalidArgumentError: If the report has no rows.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    if not report.rows:
        raise InvalidArgumentError("report has no rows: there is nothing to chart.")
    labelled = report.reference == _LABELLED
    metric = "nDCG@10" if labelled else "agreement with exact full-dim top 10 (nDCG@10)"
    fig, (quality, latency, memory) = plt.subplots(1, 3, figsize=(16, 4.8))
    series: dict[tuple[str, str, int | None], list[EvalRow]] = {}
    for r in report.rows:
        series.setdefault((r.variant, r.mode, r.shortlist), []).append(r)
    markers = "osD^vP*X"
    for i, ((variant, mode, shortlist), rows) in enumerate(series.items()):
        label = "truncated only" if mode == "truncated" else f"funnel, shortlist {shortlist}"
        label += " + adaptor" if variant == "adaptor" else ""
        # Series that coincide stay visible: each has its own marker, drawn smaller
        # than the ones before it, over lines that let what is beneath show through.
        style: dict[str, Any] = {
            "ls": "--" if mode == "truncated" else "-",
            "marker": markers[i % len(markers)],
            "markersize": max(4.0, 10.0 - 1.5 * i),
            "alpha": 0.85,
            "label": label,
        }
        dims = [r.dim for r in rows]
        quality.plot(dims, [r.ndcg10 for r in rows], **style)
        latency.plot(dims, [r.p50_ms for r in rows], **style)
    quality.axhline(report.full_ndcg10, color="black", lw=1, label="exact full dimension")
    quality.axhline(
        report.full_ndcg10 * report.target,
        color="grey",
        lw=1,
        ls=":",
        label=f"{report.target:.0%} of full",
    )
    rec = report.recommendation
    if rec is not None:
        name = "recommended: " + _describe(rec)
        for axis, value in ((quality, rec["ndcg10"]), (latency, rec["p50_ms"])):
            axis.scatter(
                [rec["dim"]],
                [value],
                s=260,
                facecolors="none",
                edgecolors="red",
                lw=2.2,
                zorder=5,
                label=name,
            )
    first = next(iter(series.values()))
    positions = np.arange(len(first))
    # Serving memory of each variant (the adaptor's includes its matrix), and the index.
    bars: list[tuple[str, list[float]]] = []
    for variant in dict.fromkeys(r.variant for r in report.rows):
        rss = {r.dim: r.serving_rss_mib for r in report.rows if r.variant == variant}
        label = "serving RSS"
        if variant == "adaptor":
            full_dim = max(r.full_bytes_per_vector for r in report.rows) // 4
            label += f", with the adaptor (its matrix: {4 * full_dim**2 / 2**20:.2f} MiB)"
        bars.append((label, [rss[r.dim] for r in first]))
    bars.append(("HNSW index (estimate)", [r.index_mib_estimate for r in first]))
    width = 0.8 / len(bars)
    for i, (label, values) in enumerate(bars):
        memory.bar(positions + (i - (len(bars) - 1) / 2) * width, values, width, label=label)
    memory.set_xticks(positions, [str(r.dim) for r in first])
    memory.legend(fontsize=8)
    ticks = [r.dim for r in first]
    for axis, title, ylabel in (
        (quality, "Quality", metric),
        (latency, f"p50 query latency (>= {MIN_TIMINGS} searches each)", "ms"),
    ):
        axis.set(title=title, xlabel="search dimension", ylabel=ylabel, xscale="log", xticks=ticks)
        axis.set_xticklabels([str(d) for d in ticks])
        axis.xaxis.set_minor_locator(NullLocator())  # only the measured dimensions
    memory.set(title="Memory", xlabel="search dimension", ylabel="MiB")
    quality.legend(fontsize=7)
    latency.legend(fontsize=7)
    fig.suptitle(
        f"{report.model} on {report.data} ({report.n_docs} documents, {report.n_queries} "
        f"queries; quality: {report.reference})"
    )
    fig.tight_layout()
    return fig


def _describe(rec: dict[str, Any]) -> str:
    """A recommended configuration in a few words."""
    how = (
        "truncated only" if rec["mode"] == "truncated" else f"funnel, shortlist {rec['shortlist']}"
    )
    return f"{rec['dim']} dims, {how}" + (" + adaptor" if rec["variant"] == "adaptor" else "")
