"""The examples run as users run them, so they cannot rot."""

from __future__ import annotations

import re

import pytest

from .conftest import run_example

pytestmark = pytest.mark.integration


def test_dimension_demo_runs_offline() -> None:
    result = run_example("demo_dimensions.py", "--dims", "384", "64", timeout=300)
    assert result.returncode == 0, result.stderr
    rows = dict(re.findall(r"^\s*(\d+)\s+\d+\s+([\d.]+)\s+\d+%$", result.stdout, flags=re.M))
    assert rows["384"] == "1.00"  # full dimension agrees with itself
    assert 0.0 <= float(rows["64"]) <= 1.0
    assert "Mitochondria" in result.stdout.split("Top 3")[1].splitlines()[1]
    assert "TruncationQualityWarning" in result.stderr  # MiniLM is not Matryoshka-trained


def test_funnel_demo_runs_offline() -> None:
    """The README's main job, on a smaller slice (real SciFact when it is beside the project)."""
    result = run_example("demo_funnel.py", "--docs", "150", "--queries", "20")
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "Re-indexed at 128 dims" in out and "no model call" in out
    top = out.split("Top 3 for")[1].splitlines()[1:4]
    assert len(top) == 3 and all(line.strip() for line in top)
    if "SciFact slice" in out:
        rows = dict(re.findall(r"^\s*(64|128)\s+([\d.]+)\s+[\d.]+%", out, flags=re.M))
        full = float(re.search(r"exact full-dim search: ([\d.]+)", out).group(1))
        assert full > 0.5  # the model really retrieves the relevant abstracts
        assert float(rows["128"]) >= 0.9 * full  # the funnel keeps the quality
