"""What one write carries: records to put and ids to delete, validated once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Record", "WriteBatch"]


@dataclass(frozen=True)
class Record:
    """One record as it is stored: what Chroma returns for it, exactly.

    Attributes:
        id: The record's id.
        text: Its text, or ``None``.
        metadata: Its metadata, already normalised (see
            :func:`mrl_rag.store.validation.check_metadatas`), so that a copy
            kept outside Chroma equals what Chroma returns.
    """

    id: str
    text: str | None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class WriteBatch:
    """One write transaction: records to put (with their full vectors) and ids to delete.

    A batch is applied to Chroma in one call, which Chroma applies completely or
    not at all. A put replaces the whole record (text, metadata, vectors),
    except in a ``new`` batch, whose ids another client may have stored since
    the check: Chroma's ``add`` leaves those records as they are.

    Attributes:
        puts: Records to put, in the order of ``full``'s rows.
        full: Their full vectors, normalised.
        deletes: Ids to delete (a batch never both puts and deletes).
        new: Every put's id was absent from the collection when the batch was
            made, under the writer lock: the write is Chroma's ``add``, with no
            old record to read and clear first.
    """

    puts: list[Record]
    full: npt.NDArray[np.float32]
    deletes: list[str] = field(default_factory=list)
    new: bool = False

    @property
    def ids(self) -> list[str]:
        """Every id the batch touches."""
        return [r.id for r in self.puts] + list(self.deletes)
