"""Serving memory: what a fresh process adds by opening a store and answering queries.

:func:`serving_rss_mib` runs this module in a new Python process::

    python -m mrl_rag.evaluation.memory PATH PROFILE_JSON QUERIES_NPY [--collection NAME]

which opens the store at ``PATH`` with the profile given as JSON, answers the
queries in the ``.npy`` file (at most :data:`PROBE_QUERIES`), and prints the
resident memory (RSS) it added, in MiB, as its last line. A fresh process is
the only honest measure: the measuring process already holds the model, the
vectors and other stores.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mrl_rag._profiles import ModelProfile

__all__ = ["PROBE_QUERIES", "main", "rss_mib", "serving_rss_mib"]

#: Queries the probe answers after opening the store.
PROBE_QUERIES = 20

#: What :func:`serving_rss_mib` runs with ``python -m``: this module.
_MODULE = "mrl_rag.evaluation.memory"


def rss_mib() -> float:
    """This process's resident memory in MiB, from ``/proc/self/status``.

    Returns:
        VmRSS in MiB, or NaN where ``/proc`` is not available (not Linux).
    """
    status = Path("/proc/self/status")
    if not status.is_file():
        return math.nan
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def main(argv: Sequence[str] | None = None) -> int:
    """Open a store, answer the sample queries, print the RSS that added (MiB).

    Args:
        argv: ``PATH PROFILE_JSON QUERIES_NPY [--collection NAME]`` (default:
            the process's arguments).

    Returns:
        The exit status, 0.
    """
    parser = argparse.ArgumentParser(
        prog="python -m mrl_rag.evaluation.memory",
        description="Print the resident memory (MiB) that opening a store and answering "
        "sample queries adds to a fresh process.",
    )
    parser.add_argument("path", help="the embedded Chroma folder")
    parser.add_argument("profile_json", help="the model profile as JSON (ModelProfile fields)")
    parser.add_argument("queries_npy", help="full query vectors, a float32 .npy file")
    parser.add_argument("--collection", default="eval", help="the store's collection")
    args = parser.parse_args(argv)

    import chromadb  # noqa: F401 - loaded before the baseline: its code is not the store's memory

    from mrl_rag.store import MatryoshkaStore

    fields = {k: v for k, v in json.loads(args.profile_json).items() if k != "schema_version"}
    profile = ModelProfile(**fields)
    queries = np.load(args.queries_npy, allow_pickle=False)
    before = rss_mib()
    store = MatryoshkaStore(
        profile=profile, path=args.path, collection=args.collection, create=False
    )
    for query in queries[:PROBE_QUERIES]:
        store.search_by_vector(query, k=10)
    print(rss_mib() - before)
    return 0


def serving_rss_mib(
    path: str | Path,
    profile: ModelProfile,
    queries: npt.NDArray[np.float32],
    *,
    collection: str = "eval",
    timeout: float = 600,
) -> float:
    """Resident memory a fresh process adds by opening the store and answering queries.

    The store must not be open in this process (an embedded store's folder is
    open in one process at a time): close it first.

    Args:
        path: The embedded Chroma folder.
        profile: The store's model profile.
        queries: Full query vectors; the first :data:`PROBE_QUERIES` are answered.
        collection: The store's collection.
        timeout: Seconds the probe may take.

    Returns:
        The memory in MiB, or NaN if the probe failed (measuring never breaks
        an evaluation).
    """
    collection = str(collection)
    fields = {k: v for k, v in profile.to_dict().items() if k != "schema_version"}
    sample = np.asarray(queries, dtype=np.float32)[:PROBE_QUERIES]
    with tempfile.TemporaryDirectory(prefix="mrl-rag-probe-") as tmp:
        sample_path = Path(tmp) / "probe-queries.npy"
        np.save(sample_path, sample, allow_pickle=False)
        command = [sys.executable, "-m", _MODULE, str(path), json.dumps(fields), str(sample_path)]
        try:
            done = subprocess.run(
                [*command, "--collection", collection],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return math.nan
    if done.returncode != 0:
        return math.nan
    try:
        return float(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return math.nan


if __name__ == "__main__":
    raise SystemExit(main())
