"""The dimension advisor (`mrl-rag eval`, `mrl_rag.evaluation`) on small real-format data sets."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import pytest

from mrl_rag import ArgumentTypeError, InvalidArgumentError
from mrl_rag.cli import main
from mrl_rag.evaluation import cached_encode, load_beir, load_folder

from .test_store import WORDS

# 127 distinct word triples: more documents than the tiny model's 64 dimensions.
TEXTS = [" ".join(t) for t in itertools.islice(itertools.combinations(WORDS, 3), 0, 1140, 9)]

pytestmark = pytest.mark.filterwarnings("ignore::mrl_rag.TruncationQualityWarning")


@pytest.fixture
def beir_dir(tmp_path: Path) -> Path:
    """A tiny set in BEIR layout: 127 documents, 6 judged queries (and one unjudged)."""
    root = tmp_path / "tiny-beir"
    (root / "qrels").mkdir(parents=True)
    with open(root / "corpus.jsonl", "w") as fh:
        for i, text in enumerate(TEXTS):
            fh.write(json.dumps({"_id": f"d{i}", "title": "", "text": text}) + "\n")
    with open(root / "queries.jsonl", "w") as fh:
        for i in range(7):
            fh.write(json.dumps({"_id": f"q{i}", "text": TEXTS[i * 7]}) + "\n")
    with open(root / "qrels" / "test.tsv", "w") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for i in range(6):
            fh.write(f"q{i}\td{i * 7}\t1\n")
    return root


def test_load_beir_keeps_judged_queries(beir_dir: Path) -> None:
    data = load_beir(beir_dir)
    assert (len(data.doc_ids), data.query_ids) == (127, [f"q{i}" for i in range(6)])
    with pytest.raises(FileNotFoundError, match="not a BEIR folder"):
        load_beir(beir_dir / "qrels")
    with pytest.raises(InvalidArgumentError, match="fields must be one of 'title\\+text', 'text'"):
        load_beir(beir_dir, "abstract")


@pytest.mark.integration
def test_eval_writes_table_json_csv_png_and_recommends(
    beir_dir, minilm_path, tmp_path, capsys
) -> None:
    import shutil

    titled = tmp_path / "titled"  # the tiny set with titles, so that the two fields differ
    shutil.copytree(beir_dir, titled)
    rows = [json.loads(line) for line in (beir_dir / "corpus.jsonl").read_text().splitlines()]
    with open(titled / "corpus.jsonl", "w") as fh:
        for row in rows:
            fh.write(json.dumps({**row, "title": f"Entry {row['_id']}"}) + "\n")
    beir_dir = titled
    out = tmp_path / "out"
    args = [
        "eval",
        "--model",
        str(minilm_path),
        "--profile",
        "sentence-transformers/all-MiniLM-L6-v2",
        "--beir",
        str(beir_dir),
        "--dims",
        "8",
        "64",
        "384",
        "--shortlists",
        "10",
        "--adaptor",
        "compare",
        "--out",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "exact full-dim nDCG@10 = 1.0000" in printed  # each query is one of the documents
    assert "Recommended: " in printed
    report = json.loads((out / "report.json").read_text())
    assert {r["dim"] for r in report["rows"]} == {8, 64, 384}
    assert {(r["variant"], r["mode"]) for r in report["rows"]} == {
        ("plain", "truncated"),
        ("plain", "funnel"),
        ("adaptor", "truncated"),
        ("adaptor", "funnel"),
    }
    full = [r for r in report["rows"] if r["dim"] == 384]
    assert all(r["share_of_full"] == pytest.approx(1.0) for r in full)
    rec = report["recommendation"]
    assert rec["share_of_full"] >= 0.99 and rec["dim"] <= 384
    assert all(0 <= r["recall10"] <= 1 and r["p50_ms"] > 0 for r in report["rows"])
    assert all(r["serving_rss_mib"] > 0 for r in report["rows"])  # measured in a fresh process
    with open(out / "report.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(report["rows"]) == 12
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A rerun embeds nothing: every chunk is in the cache.
    cached = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert main(args) == 0
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == cached


def test_label_free_mode_on_a_document_folder(tmp_path, tiny_model_path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, text in enumerate(TEXTS[:30]):
        (docs / f"{i:02d}.txt").write_text(text)
    (tmp_path / "queries.txt").write_text("cat dog\ncity tokyo\n\ncoffee tea\n")
    data = load_folder(docs, tmp_path / "queries.txt")
    assert (len(data.doc_ids), len(data.query_texts), data.qrels) == (30, 3, None)
    out = tmp_path / "out"
    assert (
        main(
            [
                "eval",
                "--model",
                str(tiny_model_path),
                "--docs",
                str(docs),
                "--queries",
                str(tmp_path / "queries.txt"),
                "--dims",
                "16",
                "64",
                "--shortlists",
                "30",
                "--out",
                str(out),
                "--cache-dir",
                str(tmp_path / "cache"),
            ]
        )
        == 0
    )
    report = json.loads((out / "report.json").read_text())
    assert report["reference"].startswith("agreement with exact full-dimension")
    assert report["full_ndcg10"] == pytest.approx(1.0)  # exact search agrees with itself
    assert main(["eval", "--model", str(tiny_model_path), "--docs", str(docs)]) == 2


def test_vectors_are_cached_under_mrl_rag_cache(tmp_path, tiny_model_path, monkeypatch) -> None:
    """Without --cache-dir, eval caches its vectors where $MRL_RAG_CACHE says."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, text in enumerate(TEXTS[:20]):
        (docs / f"{i:02d}.txt").write_text(text)
    (tmp_path / "queries.txt").write_text("cat dog\ncoffee tea\n")
    monkeypatch.setenv("MRL_RAG_CACHE", str(tmp_path / "cache"))
    argv = ["eval", "--model", str(tiny_model_path), "--docs", str(docs)]
    argv += ["--queries", str(tmp_path / "queries.txt"), "--dims", "16", "--shortlists", "20"]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 0
    assert list((tmp_path / "cache" / "vectors").glob("*.npy"))


def test_cache_resumes_after_a_crash(tmp_path, tiny_model_path) -> None:
    from mrl_rag import MatryoshkaEmbedder

    embedder = MatryoshkaEmbedder(tiny_model_path)
    texts = [f"cat {i % 7} dog {i % 5}" for i in range(2500)]
    first = cached_encode(embedder, texts, "document", tmp_path)
    assert first.shape == (2500, 64) and len(list(tmp_path.glob("*.npy"))) == 3
    sorted(tmp_path.glob("*.npy"))[0].unlink()  # one chunk lost, as in a crash mid-run
    calls = []
    original = embedder.encode
    embedder.encode = lambda chunk, **kw: calls.append(len(chunk)) or original(chunk, **kw)
    again = cached_encode(embedder, texts, "document", tmp_path)
    assert len(calls) == 1 and calls[0] in (1000, 500)
    assert (again == first).all()


def test_help_on_every_subcommand(capsys) -> None:
    for argv in (["--help"], ["eval", "--help"]):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 0
    assert "--adaptor" in capsys.readouterr().out


def test_label_free_mode_on_an_existing_store(tmp_path, tiny_model_path) -> None:
    from mrl_rag import MatryoshkaEmbedder, MatryoshkaStore

    embedder = MatryoshkaEmbedder(tiny_model_path)
    store = MatryoshkaStore(embedder, path=tmp_path / "db", collection="docs")
    store.add(TEXTS[:80])
    (tmp_path / "queries.txt").write_text("cat dog\ncity tokyo\ncoffee tea\n")
    calls = []
    original = MatryoshkaEmbedder.encode

    def counting(self, texts, **kw):
        calls.append(kw.get("input_type"))
        return original(self, texts, **kw)

    MatryoshkaEmbedder.encode = counting
    try:
        out = tmp_path / "out"
        assert (
            main(
                [
                    "eval",
                    "--model",
                    str(tiny_model_path),
                    "--store",
                    str(tmp_path / "db"),
                    "--collection",
                    "docs",
                    "--queries",
                    str(tmp_path / "queries.txt"),
                    "--dims",
                    "16",
                    "64",
                    "--shortlists",
                    "30",
                    "--out",
                    str(out),
                    "--cache-dir",
                    str(tmp_path / "cache"),
                ]
            )
            == 0
        )
    finally:
        MatryoshkaEmbedder.encode = original
    assert "document" not in calls  # the store's own full vectors are used
    report = json.loads((out / "report.json").read_text())
    assert report["n_docs"] == 80 and report["full_ndcg10"] == pytest.approx(1.0)
    assert main(["eval", "--model", str(tiny_model_path), "--store", str(tmp_path / "db")]) == 2


def test_store_mode_never_creates_a_store(tmp_path, tiny_model_path) -> None:
    from mrl_rag import MatryoshkaEmbedder
    from mrl_rag.evaluation import load_store

    (tmp_path / "q.txt").write_text("cat\n")
    embedder = MatryoshkaEmbedder(tiny_model_path)
    with pytest.raises(FileNotFoundError, match="No Chroma store at"):
        load_store(tmp_path / "typo", "docs", embedder, tmp_path / "q.txt")
    assert not (tmp_path / "typo").exists()


def test_rows_report_the_shortlist_that_was_measured(beir_dir, tiny_model_path, tmp_path) -> None:
    out = tmp_path / "out"
    assert (
        main(
            [
                "eval",
                "--model",
                str(tiny_model_path),
                "--beir",
                str(beir_dir),
                "--dims",
                "8",
                "--shortlists",
                "5",
                "--out",
                str(out),
                "--cache-dir",
                str(tmp_path / "cache"),
            ]
        )
        == 0
    )
    (funnel,) = [
        r for r in json.loads((out / "report.json").read_text())["rows"] if r["mode"] == "funnel"
    ]
    assert funnel["shortlist"] == 5
    # Only the 5 reranked candidates come back, so recall@10 and recall@100 count the same 5
    # (with the old 100-candidate bug, recall@100 reached past them).
    assert funnel["recall100"] == funnel["recall10"]


def test_recommendation_is_the_fastest_that_keeps_quality() -> None:
    from mrl_rag.evaluation import EvalReport, EvalRow, recommend

    def row(dim: int, shortlist: int, share: float, p50: float) -> EvalRow:
        return EvalRow(
            "plain", "funnel", dim, shortlist, share, 0, 0, 0, share, p50, p50, 0, 0, 0, 0
        )

    report = EvalReport("m", "d", 1, 1, "labels", 1.0, 0.99)
    report.rows = [
        row(64, 300, 0.995, 3.0),  # smallest dimension, slow: a long shortlist
        row(128, 100, 0.992, 1.8),  # the fastest that keeps quality
        row(192, 100, 0.999, 1.9),  # as fast within noise, but a bigger index
        row(32, 100, 0.95, 1.0),  # fastest, but loses quality
    ]
    assert (recommend(report)["dim"], recommend(report)["shortlist"]) == (128, 100)
    report.rows[1] = row(128, 100, 0.98, 1.8)
    assert recommend(report)["dim"] == 192
    report.rows = report.rows[3:]
    assert recommend(report) is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--beir", "no/such/folder"],
            "--beir no/such/folder is not a BEIR folder: it lacks corpus.jsonl",
        ),
        (
            ["--target", "99"],
            r"--target must be a share in \(0, 1\], got 99 \(did you mean 0.99\?\)",
        ),
        (["--shortlists", "0"], "--shortlists must be whole numbers >= 1, got 0"),
        (["--dims", "-8"], "--dims must be whole numbers >= 1, got -8"),
        (["--queries", "no-file.txt"], "--queries no-file.txt is not a file"),
    ],
)
def test_bad_eval_arguments_get_one_line_before_the_model_loads(
    tmp_path, monkeypatch, capsys, extra: list[str], message: str
) -> None:
    import re

    from mrl_rag import MatryoshkaEmbedder
    from mrl_rag.cli import main

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(MatryoshkaEmbedder, "__init__", never)
    docs = tmp_path / "docs"
    docs.mkdir()
    queries = tmp_path / "q.txt"
    queries.write_text("a question\n")
    base = ["eval", "--model", "any/model"]
    if "--beir" not in extra:
        base += ["--docs", str(docs)]
        if "--queries" not in extra:
            base += ["--queries", str(queries)]
    assert main([*base, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(message, err), err


def test_a_dimension_the_model_does_not_have_is_one_line(tmp_path, tiny_model_path, capsys) -> None:
    from mrl_rag.cli import main

    docs = tmp_path / "docs"
    docs.mkdir()
    queries = tmp_path / "q.txt"
    queries.write_text("a question\n")
    argv = ["eval", "--model", str(tiny_model_path), "--docs", str(docs), "--queries", str(queries)]
    assert main([*argv, "--dims", "500"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mrl-rag eval: --dims:") and "500" in err and len(err.splitlines()) == 1


def test_chart_marks_the_recommendation_and_names_the_label_free_metric() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mrl_rag.evaluation import EvalReport, EvalRow, figure, recommend

    def row(variant: str, mode: str, dim: int, shortlist: int | None, ndcg: float, ms: float):
        return EvalRow(
            variant,
            mode,
            dim,
            shortlist,
            ndcg,
            0.5,
            0.9,
            0.5,
            ndcg,
            ms,
            ms,
            10.0,
            50.0,
            4 * dim,
            4 * 384 if mode == "funnel" else 0,
        )

    rows = [
        row(v, m, d, s, q, ms)
        for v in ("plain", "adaptor")
        for (m, s) in (("truncated", None), ("funnel", 100))
        for d, q, ms in ((64, 0.95 if m == "truncated" else 1.0, 1.0), (384, 1.0, 2.0))
    ]
    report = EvalReport(
        "m", "d", 100, 10, "agreement with exact full-dimension top 10 (no labels)", 1.0, 0.99, rows
    )
    report.recommendation = recommend(report)
    fig = figure(report)
    quality, latency, memory = fig.axes[:3]
    assert quality.get_ylabel().startswith("agreement with exact full-dim top 10")
    for axis in (quality, latency):
        labels = axis.get_legend_handles_labels()[1]
        assert sum(label.startswith("recommended: 64 dims, funnel") for label in labels) == 1
    markers = {line.get_marker() for line in quality.get_lines() if line.get_label()[0] != "_"}
    assert len(markers) >= 4  # every series its own marker: none hides another
    assert memory.get_legend_handles_labels()[1] == [
        "serving RSS",
        "serving RSS, with the adaptor (its matrix: 0.56 MiB)",
        "HNSW index (estimate)",
    ]
    assert "(>= 300 searches each)" in latency.get_title()
    plt.close(fig)


@pytest.mark.integration
def test_labelled_and_label_free_choices_side_by_side_on_the_stores_text(
    beir_dir, minilm_path, tmp_path, capsys
) -> None:
    import shutil

    titled = tmp_path / "titled"  # the tiny set with titles, so that the two fields differ
    shutil.copytree(beir_dir, titled)
    rows = [json.loads(line) for line in (beir_dir / "corpus.jsonl").read_text().splitlines()]
    with open(titled / "corpus.jsonl", "w") as fh:
        for row in rows:
            fh.write(json.dumps({**row, "title": f"Entry {row['_id']}"}) + "\n")
    beir_dir = titled
    out = tmp_path / "out"
    args = [
        "eval",
        "--model",
        str(minilm_path),
        "--profile",
        "sentence-transformers/all-MiniLM-L6-v2",
    ]
    args += ["--beir", str(beir_dir), "--beir-fields", "text", "--dims", "64", "384"]
    args += ["--shortlists", "10", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "documents indexed as text (no title)" in printed
    assert "Without labels (agreement with exact full-dim search) the choice would be:" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["indexed"] == "text (no title)"
    assert all(0 <= r["agreement10"] <= 1 for r in report["rows"])
    exact = [r for r in report["rows"] if r["dim"] == 384 and r["mode"] == "funnel"]
    assert exact[0]["agreement10"] == pytest.approx(1.0)  # full vectors agree with themselves
    assert report["label_free_recommendation"] is not None
    with_title = load_beir(beir_dir).doc_texts
    without = load_beir(beir_dir, "text").doc_texts
    assert with_title != without and all(w in t for w, t in zip(without, with_title, strict=True))
    with pytest.raises(InvalidArgumentError, match="fields must be one of 'title\\+text', 'text'"):
        load_beir(beir_dir, "abstract")


# -- the public package -------------------------------------------------------------


def test_the_package_exports_what_it_lists() -> None:
    import mrl_rag.evaluation as evaluation

    assert all(hasattr(evaluation, name) for name in evaluation.__all__)
    assert not [name for name in evaluation.__all__ if name.startswith("_")]


def test_ndcg_recall_and_mrr_on_graded_judgements() -> None:
    import math

    from mrl_rag.evaluation import mrr_at_k, ndcg_at_k, recall_at_k

    relevant = {"a": 2, "b": 1, "c": 1}
    ranked = ["x", "a", "y", "b"]
    dcg = 2 / math.log2(3) + 1 / math.log2(5)
    idcg = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranked, relevant) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["a", "b", "c"], relevant) == pytest.approx(1.0)
    assert ndcg_at_k(ranked, relevant, k=1) == 0.0
    assert ndcg_at_k(ranked, {}) == 0.0  # nothing relevant: 0, not a division by zero
    assert recall_at_k(ranked, relevant, 10) == pytest.approx(2 / 3)
    assert recall_at_k(ranked, relevant, 2) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, {"a": 0}, 10) == 0.0  # a zero grade is not relevant
    assert mrr_at_k(ranked, relevant) == pytest.approx(0.5)
    assert mrr_at_k(ranked, relevant, k=1) == 0.0
    for metric in (ndcg_at_k, recall_at_k, mrr_at_k):
        with pytest.raises(InvalidArgumentError, match="k must be a positive integer, got 0"):
            metric(ranked, relevant, 0)


def test_benchmarks_use_the_one_ndcg() -> None:
    import re

    benchmarks = Path(__file__).resolve().parents[1] / "benchmarks"
    sources = {p.name: p.read_text() for p in benchmarks.glob("*.py")}
    copies = re.compile(r"def (ndcg|recall|mrr)_at_k|log2")  # a metric, or nDCG's discount
    assert not [name for name, text in sources.items() if copies.search(text)]
    for name in ("bench_full_dtype.py", "bench_funnel_beir.py"):
        assert "from mrl_rag.evaluation import ndcg_at_k" in sources[name]


def test_evaluate_refuses_bad_arguments_with_the_library_errors(beir_dir, tiny_model_path) -> None:
    from mrl_rag import MatryoshkaEmbedder
    from mrl_rag.evaluation import RetrievalSet, evaluate

    embedder = MatryoshkaEmbedder(tiny_model_path)
    data = load_beir(beir_dir)
    for kwargs, kind, message in (
        ({"adaptor": "maybe"}, InvalidArgumentError, "adaptor must be one of 'off', 'on'"),
        ({"target": 1.5}, InvalidArgumentError, r"target must be in \(0, 1\], got 1.5"),
        ({"target": "0.9"}, ArgumentTypeError, "target must be a number"),
        (
            {"shortlists": [100, 0]},
            InvalidArgumentError,
            r"shortlists\[1\] must be a positive integer",
        ),
        ({"doc_vectors": [[1.0] * 64]}, InvalidArgumentError, "one row per document"),
    ):
        with pytest.raises(kind, match=message):
            evaluate(embedder, data, **kwargs)
    with pytest.raises(ArgumentTypeError, match="data must be a RetrievalSet"):
        evaluate(embedder, {"docs": []})
    with pytest.raises(InvalidArgumentError, match="doc_ids and doc_texts must have the same"):
        RetrievalSet(["d0", "d1"], ["only one"], ["q0"], ["a question"])
    unjudged = RetrievalSet(["d0"], ["cat"], ["q0", "q1"], ["cat", "dog"], {"q0": {"d0": 1}})
    with pytest.raises(InvalidArgumentError, match="no relevant document for query 'q1'"):
        evaluate(embedder, unjudged)
    with pytest.raises(InvalidArgumentError, match="at least one document and one query"):
        evaluate(embedder, RetrievalSet([], [], ["q0"], ["cat"]))


def test_recommend_by_agreement_judges_as_the_label_free_mode() -> None:
    from mrl_rag.evaluation import EvalReport, EvalRow, recommend

    def row(dim: int, share: float, agreement: float, p50: float) -> EvalRow:
        return EvalRow(
            "plain", "funnel", dim, 100, share, 0, 0, 0, share, p50, p50, 0, 0, 0, 0, agreement
        )

    report = EvalReport("m", "d", 1, 1, "relevance judgements", 1.0, 0.99)
    report.rows = [row(64, 0.995, 0.95, 1.0), row(128, 1.0, 0.995, 1.0)]
    assert recommend(report)["dim"] == 64  # keeps 99% of nDCG@10
    assert recommend(report, by_agreement=True)["dim"] == 128  # 64 changes the exact top 10


def _small_closed_store(path: Path):
    """A real embedded store of 200 random 64-d vectors, closed again; returns its profile."""
    import numpy as np

    from mrl_rag import MatryoshkaStore

    from .conftest import tiny_profile

    profile = tiny_profile()
    vectors = np.random.default_rng(0).standard_normal((200, 64)).astype(np.float32)
    store = MatryoshkaStore(profile=profile, path=path, collection="eval", search_dim=16)
    store.add_vectors([f"d{i}" for i in range(200)], vectors)
    store.close()
    return profile, vectors


def test_memory_probe_measures_a_real_store_in_a_fresh_process(tmp_path) -> None:
    import math

    from mrl_rag.evaluation.memory import rss_mib, serving_rss_mib

    assert math.isfinite(rss_mib()) and rss_mib() > 0  # this process's own memory
    profile, vectors = _small_closed_store(tmp_path / "db")
    mib = serving_rss_mib(tmp_path / "db", profile, vectors[:20], collection="eval")
    assert math.isfinite(mib) and mib > 0, mib
    # A store that is not there: the probe fails (it never creates one), and says NaN.
    missing = serving_rss_mib(tmp_path / "db", profile, vectors[:20], collection="nope")
    assert math.isnan(missing)
    assert not (tmp_path / "nope").exists()


def test_memory_probe_runs_as_a_module(tmp_path) -> None:
    import json
    import math
    import subprocess
    import sys

    import numpy as np

    profile, vectors = _small_closed_store(tmp_path / "db")
    np.save(tmp_path / "q.npy", vectors[:5])
    done = subprocess.run(
        [
            *(sys.executable, "-m", "mrl_rag.evaluation.memory", str(tmp_path / "db")),
            *(json.dumps(profile.to_dict()), str(tmp_path / "q.npy")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "RuntimeWarning" not in done.stderr  # runpy: the package does not import the module
    mib = float(done.stdout.strip().splitlines()[-1])
    assert math.isfinite(mib) and mib > 0


def test_the_python_example_in_the_docs_runs(
    beir_dir, tiny_model_path, tmp_path, capsys, monkeypatch
) -> None:
    import re

    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the default vector cache goes there
    monkeypatch.delenv("MRL_RAG_CACHE", raising=False)  # which would move it elsewhere

    docs = (Path(__file__).resolve().parents[1] / "docs" / "advisor.md").read_text()
    section = docs.split("## From Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    assert '"BAAI/bge-small-en-v1.5"' in code and '"./my-beir-set"' in code
    code = code.replace('"BAAI/bge-small-en-v1.5"', repr(str(tiny_model_path)))
    code = code.replace('"./my-beir-set"', repr(str(beir_dir)))
    code = code.replace('"./eval"', repr(str(tmp_path / "eval")))
    exec(compile(code, "docs/advisor.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "exact full-dim nDCG@10 = " in printed and "Recommended: " in printed
    assert (tmp_path / "eval" / "report.png").is_file()
    assert list((tmp_path / "home" / ".cache" / "mrl-rag" / "vectors").glob("*.npy"))
