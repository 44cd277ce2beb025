"""Real Matryoshka-trained models that run offline, built from files on disk.

WordLlama's ``l2_supercat`` model (https://github.com/dleemiller/WordLlama,
https://huggingface.co/dleemiller/word-llama-l2-supercat) is a static token
embedding table trained with sentence-transformers' ``MatryoshkaLoss`` at
1024/512/256/128/64 dimensions; the ``wordllama`` package on PyPI ships its
256-dimensional prefix (``weights/l2_supercat_256.safetensors``, 32,000 x 256
float16) and its tokenizer (``tokenizers/l2_supercat_tokenizer_config.json``).
Its inference is: tokenize without special tokens, look the tokens up, take
the attention-masked mean, normalise. That is exactly a sentence-transformers
``StaticEmbedding`` (an ``EmbeddingBag`` in mean mode) followed by
``Normalize``, so :func:`wordllama_model` saves those two modules as a
sentence-transformers folder, and :class:`~mrl_rag.MatryoshkaEmbedder` runs a real
MRL model through the same code path as any hub model:

    >>> from mrl_rag.models import wordllama_embedder
    >>> embedder = wordllama_embedder()  # doctest: +SKIP
    >>> embedder.embed_query("nesting dolls", dim=64).shape  # doctest: +SKIP
    (64,)

``WordLlama.load()`` itself is not used: it looks for the tokenizer in the
wrong folder and then tries the network.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mrl_rag._cache import cache_root
from mrl_rag._errors import DataNotFoundError, InvalidArgumentError

if TYPE_CHECKING:
    from mrl_rag._embedder import MatryoshkaEmbedder

__all__ = ["WORDLLAMA", "wordllama_embedder", "wordllama_files", "wordllama_model"]

#: The registered profile name of WordLlama's l2_supercat model at 256 dimensions.
WORDLLAMA = "dleemiller/word-llama-l2-supercat"
_WEIGHTS = ("weights", "l2_supercat_256.safetensors")
_TOKENIZER = ("tokenizers", "l2_supercat_tokenizer_config.json")


def wordllama_files() -> tuple[Path, Path]:
    """The weight table and tokenizer files inside the installed ``wordllama`` package.

    Returns:
        ``(weights, tokenizer)`` paths.

    Raises:
        DataNotFoundError: If ``wordllama`` is not installed or lacks the files.
    """
    # Found, not imported: importing wordllama configures the root logger to INFO.
    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        raise DataNotFoundError(
            "The wordllama package is not installed: pip install wordllama (it ships "
            "the model's files; nothing is downloaded at run time)."
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    weights, tokenizer = root.joinpath(*_WEIGHTS), root.joinpath(*_TOKENIZER)
    for path in (weights, tokenizer):
        if not path.is_file():
            raise DataNotFoundError(f"{path} is missing from the installed wordllama package.")
    return weights, tokenizer


def _default_folder() -> Path:
    return cache_root() / "models" / "word-llama-l2-supercat-256"


def wordllama_model(folder: str | Path | None = None, *, rebuild: bool = False) -> Path:
    """Save WordLlama l2_supercat (256-d) as a sentence-transformers folder, once.

    Args:
        folder: Where to save it; by default ``~/.cache/mrl-rag/models/...``
            (``$MRL_RAG_CACHE`` moves the cache).
        rebuild: Build it again even if the folder is already complete.

    Returns:
        The folder, loadable by ``SentenceTransformer(folder)`` offline.

    Raises:
        DataNotFoundError: If the ``wordllama`` package or its files are missing.
    """
    target = Path(folder) if folder is not None else _default_folder()
    if (target / "modules.json").is_file() and not rebuild:
        return target
    if target.exists() and not (target / "modules.json").is_file() and any(target.iterdir()):
        raise InvalidArgumentError(
            f"folder={str(target)!r} exists and is not a sentence-transformers model folder; "
            "it is left untouched. Pass a new or empty folder."
        )
    weights_path, tokenizer_path = wordllama_files()

    from safetensors.numpy import load_file
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    try:
        from sentence_transformers.base.modules import Normalize
        from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Normalize, StaticEmbedding

    table = load_file(str(weights_path))["embedding.weight"].astype(np.float32)
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    if tokenizer.get_vocab_size() > len(table):
        raise DataNotFoundError(
            f"{tokenizer_path} knows {tokenizer.get_vocab_size()} tokens but "
            f"{weights_path} has {len(table)} rows: the files do not belong together."
        )
    static = StaticEmbedding(tokenizer, embedding_weights=table, base_model=WORDLLAMA)
    model = SentenceTransformer(modules=[static, Normalize()], device="cpu")
    # Written beside the target and renamed into place: a crash leaves no half folder.
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".building-", dir=target.parent))
    try:
        model.save(str(scratch))
        if target.exists():
            shutil.rmtree(target)
        scratch.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def wordllama_embedder(folder: str | Path | None = None, **kwargs: Any) -> MatryoshkaEmbedder:
    """A :class:`~mrl_rag.MatryoshkaEmbedder` on WordLlama l2_supercat, built if needed.

    Args:
        folder: Where the sentence-transformers folder is (or goes); see
            :func:`wordllama_model`.
        **kwargs: Passed to :class:`~mrl_rag.MatryoshkaEmbedder` (``dim``,
            ``device``, ``batch_size``, ...).
    """
    from mrl_rag._embedder import MatryoshkaEmbedder

    kwargs.setdefault("profile", WORDLLAMA)
    return MatryoshkaEmbedder(wordllama_model(folder), **kwargs)
