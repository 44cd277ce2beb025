"""Make any model truncatable: an orthogonal rotation onto its principal axes.

A model that was not Matryoshka-trained spreads information over all of its
dimensions, so a prefix of its vector is a poor embedding. Rotating the vectors
onto the principal axes of the corpus's own full vectors (largest second moment
first) puts as much of the signal as possible into every prefix. The rotation is
orthogonal, so full-dimension cosine similarities are unchanged, and a funnel's
exact rerank with the full vectors stays exact.

Fitted without labels, from a sample of the corpus's full vectors. Saved as a
NumPy ``.npz`` archive read with ``allow_pickle=False``, so loading it cannot
execute code.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mrl_rag._errors import InvalidArgumentError, InvalidVectorError, MRLRagError
from mrl_rag._validation import check_count

__all__ = ["OrthogonalAdaptor"]

_FORMAT = "mrl-rag-orthogonal-adaptor-v1"


class OrthogonalAdaptor:
    """An orthogonal rotation fitted so that vector prefixes keep the most signal.

    Args:
        rotation: A ``(d, d)`` orthogonal matrix; ``vectors @ rotation`` rotates.
        model: The name of the model whose vectors it was fitted on.
    """

    def __init__(self, rotation: npt.ArrayLike, *, model: str = "") -> None:
        matrix = np.asarray(rotation, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise InvalidArgumentError(
                f"rotation must be a square matrix, got shape {matrix.shape}."
            )
        error = np.abs(matrix.T.astype(np.float64) @ matrix - np.eye(len(matrix))).max()
        if not np.isfinite(error) or error > 1e-3:
            raise InvalidArgumentError(
                f"rotation must be orthogonal (R^T R = I); it is off by {error:.2g}. An "
                "orthogonal rotation is what keeps full-dimension cosines unchanged."
            )
        self.rotation = matrix
        self.model = model

    @property
    def dim(self) -> int:
        """The full dimension it applies to."""
        return int(self.rotation.shape[0])

    @property
    def fingerprint(self) -> str:
        """A short hash of the rotation, recorded with the stores that use it."""
        return hashlib.sha256(self.rotation.tobytes()).hexdigest()[:16]

    @classmethod
    def fit(
        cls, vectors: npt.ArrayLike, *, model: str = "", max_samples: int = 50_000, seed: int = 0
    ) -> OrthogonalAdaptor:
        """Fit the rotation onto the principal axes of a sample of full vectors.

        The axes are the eigenvectors of the uncentred second-moment matrix
        ``X^T X`` (not the covariance: cosine similarity does not subtract a
        mean), largest eigenvalue first, with a deterministic sign.

        Args:
            vectors: Full document vectors, shape ``(n, d)``. With fewer than
                ``d`` of them, the leading axes are still fitted and the rest
                completed to an orthonormal basis (the rotation stays exact).
            model: The model's name, kept with the adaptor.
            max_samples: At most this many vectors are used (a random sample).
            seed: Seed of that sample.

        Returns:
            The fitted adaptor.
        """
        data = np.asarray(vectors, dtype=np.float32)
        if data.ndim != 2:
            raise InvalidVectorError(f"vectors must be 2-D (n, d), got shape {data.shape}.")
        max_samples = check_count(max_samples, name="max_samples")
        if len(data) < 2:
            raise InvalidArgumentError(f"Fitting needs at least 2 vectors, got {len(data)}.")
        if len(data) > max_samples:
            data = data[np.random.default_rng(seed).choice(len(data), max_samples, replace=False)]
        moment = data.astype(np.float64).T @ data.astype(np.float64)
        values, axes = np.linalg.eigh(moment)
        axes = axes[:, np.argsort(values)[::-1]]
        # Deterministic signs: the largest component of each axis is positive.
        signs = np.sign(axes[np.argmax(np.abs(axes), axis=0), np.arange(axes.shape[1])])
        return cls((axes * signs).astype(np.float32), model=model)

    def transform(self, vectors: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Rotate full vectors (one ``(d,)`` or a batch ``(n, d)``)."""
        data = np.asarray(vectors, dtype=np.float32)
        if data.shape[-1] != self.dim:
            raise InvalidVectorError(
                f"vectors must have {self.dim} dimensions for this adaptor, got {data.shape}."
            )
        return data @ self.rotation

    def save(self, path: str | Path) -> Path:
        """Write the adaptor as an ``.npz`` archive (no pickle) and return its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            np.savez(
                fh,
                format=np.array(_FORMAT),
                model=np.array(self.model),
                rotation=self.rotation,
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> OrthogonalAdaptor:
        """Read an adaptor written by :meth:`save`; never executes code from the file."""
        try:
            with np.load(Path(path), allow_pickle=False) as archive:
                if str(archive["format"]) != _FORMAT:
                    raise MRLRagError(
                        f"{path} is not an mrl-rag orthogonal adaptor (format "
                        f"{str(archive['format'])!r}, expected {_FORMAT!r})."
                    )
                return cls(archive["rotation"], model=str(archive["model"]))
        except (KeyError, ValueError, TypeError, OSError, zipfile.BadZipFile) as exc:
            raise MRLRagError(f"{path} is not a valid mrl-rag adaptor file: {exc}") from None
