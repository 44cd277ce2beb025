"""Where mrl-rag keeps what it builds once: converted models and embedded vectors."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root() -> Path:
    """The cache folder: ``$MRL_RAG_CACHE`` when set, else ``~/.cache/mrl-rag``."""
    return Path(os.environ.get("MRL_RAG_CACHE") or Path.home() / ".cache" / "mrl-rag")
