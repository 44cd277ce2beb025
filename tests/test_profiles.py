"""Model profiles: shipped facts, validation, registry."""

from __future__ import annotations

import re

import pytest

from mrl_rag import (
    InvalidDimensionError,
    ModelProfile,
    ProfileError,
    UnknownModelError,
    get_profile,
    list_profiles,
    register_profile,
)
from mrl_rag._profiles import _registry, profile_from_prompts


def test_nomic_profile_matches_its_card() -> None:
    p = get_profile("nomic-ai/nomic-embed-text-v1.5")
    assert p.full_dim == 768
    assert p.allowed_dims == (768, 512, 256, 128, 64)
    assert p.query_prefix == "search_query: "
    assert p.document_prefix == "search_document: "
    assert p.pre_truncation == "layer_norm"
    assert p.trust_remote_code is True
    assert p.matryoshka is True
    assert "huggingface.co/nomic-ai" in p.source


def test_other_shipped_profiles() -> None:
    mxbai = get_profile("mixedbread-ai/mxbai-embed-large-v1")
    assert (mxbai.full_dim, mxbai.allowed_dims) == (1024, None)
    assert mxbai.query_prefix == "Represent this sentence for searching relevant passages: "
    assert mxbai.document_prefix == ""
    arctic = get_profile("Snowflake/snowflake-arctic-embed-m-v1.5")
    assert (arctic.full_dim, arctic.allowed_dims) == (768, (768, 256))
    assert arctic.query_prefix.startswith("Represent this sentence")
    small, large = get_profile("text-embedding-3-small"), get_profile("text-embedding-3-large")
    assert (small.full_dim, large.full_dim) == (1536, 3072)
    assert small.backend == large.backend == "openai"
    minilm = get_profile("sentence-transformers/all-MiniLM-L6-v2")
    assert (minilm.full_dim, minilm.matryoshka, minilm.query_prefix) == (384, False, "")
    for name in list_profiles():
        assert get_profile(name).source, name


def test_lookup_is_case_insensitive_and_accepts_bare_st_names() -> None:
    assert get_profile("all-MiniLM-L6-v2").name == "sentence-transformers/all-MiniLM-L6-v2"
    assert get_profile("NOMIC-AI/nomic-embed-text-v1.5").full_dim == 768


def test_unknown_model_lists_known_ones() -> None:
    with pytest.raises(UnknownModelError, match=r"'acme/unknown'.*Known models: .*nomic-ai"):
        get_profile("acme/unknown")
    with pytest.raises(LookupError):
        get_profile("acme/unknown")


def test_validate_dim_messages_name_value_and_allowed() -> None:
    p = get_profile("nomic-ai/nomic-embed-text-v1.5")
    assert p.validate_dim(256) == 256
    with pytest.raises(
        InvalidDimensionError, match=r"dim=300 is not a dimension .* 768, 512, 256, 128, 64"
    ):
        p.validate_dim(300)
    with pytest.raises(
        InvalidDimensionError, match=r"dim=1024 is larger than the full dimension .*768"
    ):
        p.validate_dim(1024)
    with pytest.raises(
        InvalidDimensionError, match=r"search_dim must be a positive integer, got 0"
    ):
        p.validate_dim(0, name="search_dim")
    with pytest.raises(InvalidDimensionError, match=r"got -3.*Allowed for nomic"):
        p.validate_dim(-3)
    open_ended = get_profile("text-embedding-3-small")
    assert open_ended.validate_dim(17) == 17
    with pytest.raises(InvalidDimensionError, match="an integer from 1 to 1536"):
        open_ended.validate_dim(2000)


def test_overrides_return_a_copy_and_leave_the_registry_alone() -> None:
    changed = get_profile("nomic-ai/nomic-embed-text-v1.5", query_prefix="q: ")
    assert changed.query_prefix == "q: "
    assert get_profile("nomic-ai/nomic-embed-text-v1.5").query_prefix == "search_query: "
    with pytest.raises(ProfileError, match=r"Unknown profile field\(s\) 'prefix'"):
        get_profile("nomic-ai/nomic-embed-text-v1.5", prefix="x")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "", "full_dim": 8}, "name must be a non-empty string"),
        ({"name": "m", "full_dim": 0}, "full_dim must be a positive integer, got 0"),
        ({"name": "m", "full_dim": 8.0}, "full_dim must be a positive integer"),
        ({"name": "m", "full_dim": 8, "matryoshka_dims": (4, 16)}, "16 exceeds full_dim=8"),
        ({"name": "m", "full_dim": 8, "matryoshka_dims": ()}, "at least one dimension"),
        ({"name": "m", "full_dim": 8, "matryoshka_dims": (0,)}, "positive integer, got 0"),
        (
            {"name": "m", "full_dim": 8, "matryoshka": False, "matryoshka_dims": (4,)},
            "matryoshka=False",
        ),
        (
            {"name": "m", "full_dim": 8, "pre_truncation": "rms"},
            "pre_truncation='rms'.*'layer_norm'",
        ),
        ({"name": "m", "full_dim": 8, "backend": "cohere"}, "backend='cohere'"),
        ({"name": "m", "full_dim": 8, "query_prefix": None}, "query_prefix must be a string"),
    ],
)
def test_invalid_profiles_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        ModelProfile(**kwargs)  # type: ignore[arg-type]


def test_dims_are_sorted_and_deduplicated() -> None:
    p = ModelProfile(name="m", full_dim=32, matryoshka_dims=[8, 16, 8])
    assert p.matryoshka_dims == (16, 8)
    assert p.allowed_dims == (32, 16, 8)


def test_register_refuses_silent_replacement() -> None:
    profile = ModelProfile(name="acme/test-model", full_dim=16, query_prefix="q: ")
    try:
        assert register_profile(profile) is profile
        assert get_profile("acme/test-model") is profile
        with pytest.raises(ProfileError, match=r"already registered.*overwrite=True"):
            register_profile(profile.replace(query_prefix="other: "))
        assert get_profile("acme/test-model").query_prefix == "q: "
        register_profile(profile.replace(query_prefix="other: "), overwrite=True)
        assert get_profile("acme/test-model").query_prefix == "other: "
    finally:
        _registry.pop("acme/test-model", None)
    with pytest.raises(TypeError, match="profile must be a ModelProfile"):
        register_profile({"name": "x"})  # type: ignore[arg-type]


def test_profile_from_prompts_reads_usual_keys() -> None:
    p = profile_from_prompts("m", 32, {"query": "q: ", "passage": "p: "})
    assert (p.query_prefix, p.document_prefix, p.matryoshka) == ("q: ", "p: ", False)
    empty = profile_from_prompts("m", 32, {"query": "", "document": ""})
    assert (empty.query_prefix, empty.document_prefix) == ("", "")


def test_to_dict_is_json_ready() -> None:
    import json

    data = get_profile("nomic-ai/nomic-embed-text-v1.5").to_dict()
    assert json.loads(json.dumps(data))["matryoshka_dims"] == [512, 256, 128, 64]
    assert data["schema_version"] == 1


# -- the registry of current Matryoshka models: each fact as its card states it --

_QWEN_TASK = "Given a web search query, retrieve relevant passages that answer the query"


@pytest.mark.parametrize(
    ("name", "allowed", "outside"),
    [
        ("google/embeddinggemma-300m", (768, 512, 256, 128), 384),
        ("Snowflake/snowflake-arctic-embed-l-v2.0", (1024, 256), 512),
        ("jinaai/jina-embeddings-v3", (1024, 768, 512, 256, 128, 64, 32), 48),
        ("nomic-ai/nomic-embed-text-v2-moe", (768, 256), 512),
        ("embed-v4.0", (1536, 1024, 512, 256), 768),
        ("voyage-3-large", (2048, 1024, 512, 256), 1536),
        ("voyage-3.5", (2048, 1024, 512, 256), 768),
    ],
)
def test_trained_dims_are_exactly_the_cards(
    name: str, allowed: tuple[int, ...], outside: int
) -> None:
    p = get_profile(name)
    assert p.matryoshka is True
    assert p.full_dim == allowed[0]
    assert p.allowed_dims == allowed
    assert all(p.validate_dim(d) == d for d in allowed)
    with pytest.raises(InvalidDimensionError, match=rf"dim={outside} is not a dimension"):
        p.validate_dim(outside)


@pytest.mark.parametrize(
    ("name", "full_dim"),
    [
        ("Qwen/Qwen3-Embedding-0.6B", 1024),
        ("Qwen/Qwen3-Embedding-4B", 2560),
        ("Qwen/Qwen3-Embedding-8B", 4096),
        ("Alibaba-NLP/gte-multilingual-base", 768),
        ("gemini-embedding-001", 3072),
    ],
)
def test_any_prefix_models_allow_every_size_up_to_full(name: str, full_dim: int) -> None:
    p = get_profile(name)
    assert (p.full_dim, p.matryoshka, p.allowed_dims) == (full_dim, True, None)
    assert p.validate_dim(full_dim // 2 + 1) == full_dim // 2 + 1
    with pytest.raises(
        InvalidDimensionError, match=rf"larger than the full dimension .*{full_dim}"
    ):
        p.validate_dim(full_dim + 1)


@pytest.mark.parametrize(
    ("name", "query_prefix", "document_prefix"),
    [
        ("google/embeddinggemma-300m", "task: search result | query: ", "title: none | text: "),
        ("Snowflake/snowflake-arctic-embed-l-v2.0", "query: ", ""),
        ("nomic-ai/nomic-embed-text-v2-moe", "search_query: ", "search_document: "),
        (
            "jinaai/jina-embeddings-v3",
            "Represent the query for retrieving evidence documents: ",
            "Represent the document for retrieval: ",
        ),
        ("Alibaba-NLP/gte-multilingual-base", "", ""),
        ("embed-v4.0", "", ""),
        ("voyage-3-large", "", ""),
        ("voyage-3.5", "", ""),
        ("gemini-embedding-001", "", ""),
    ],
)
def test_prefixes_are_the_cards(name: str, query_prefix: str, document_prefix: str) -> None:
    p = get_profile(name)
    assert (p.query_prefix, p.document_prefix) == (query_prefix, document_prefix)


@pytest.mark.parametrize(
    ("name", "trust_remote_code", "pre_truncation"),
    [
        ("google/embeddinggemma-300m", False, "none"),
        ("Qwen/Qwen3-Embedding-0.6B", False, "none"),
        ("Snowflake/snowflake-arctic-embed-l-v2.0", False, "none"),
        ("jinaai/jina-embeddings-v3", True, "none"),
        ("nomic-ai/nomic-embed-text-v2-moe", True, "none"),  # v1.5's layer norm is not in v2
        ("Alibaba-NLP/gte-multilingual-base", True, "none"),
    ],
)
def test_loading_requirements(name: str, trust_remote_code: bool, pre_truncation: str) -> None:
    p = get_profile(name)
    assert p.backend == "sentence-transformers"
    assert (p.trust_remote_code, p.pre_truncation) == (trust_remote_code, pre_truncation)


def test_jina_v3_passes_its_task_to_the_model() -> None:
    p = get_profile("jinaai/jina-embeddings-v3")
    assert p.options_for("query") == {"task": "retrieval.query"}
    assert p.options_for("document") == {"task": "retrieval.passage"}
    assert p.trust_remote_code is True


@pytest.mark.parametrize("size", ["0.6B", "4B", "8B"])
def test_qwen3_query_template_and_task(size: str) -> None:
    p = get_profile(f"Qwen/Qwen3-Embedding-{size}")
    assert p.query_template == "Instruct: {task}\nQuery:"
    assert p.task == _QWEN_TASK
    assert p.query_prefix == f"Instruct: {_QWEN_TASK}\nQuery:"
    assert p.document_prefix == ""
    assert p.options_for("query") == p.options_for("document") == {}
    mine = p.with_task("Given a question, retrieve passages that answer it")
    assert (
        mine.query_prefix == "Instruct: Given a question, retrieve passages that answer it\nQuery:"
    )
    assert mine.document_prefix == ""
    assert get_profile(f"Qwen/Qwen3-Embedding-{size}").query_prefix == p.query_prefix


def test_mxbai_still_has_no_trained_dims() -> None:
    # Re-checked: the card and Mixedbread's docs list no trained dimensions.
    assert get_profile("mixedbread-ai/mxbai-embed-large-v1").allowed_dims is None


@pytest.mark.parametrize(
    "name", ["embed-v4.0", "voyage-3-large", "voyage-3.5", "gemini-embedding-001"]
)
def test_api_models_are_refused_by_name_before_anything_loads(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sentence_transformers

    from mrl_rag import MatryoshkaEmbedder

    def no_loading(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", no_loading)
    assert get_profile(name).backend == "api"
    with pytest.raises(
        ProfileError, match=rf"{re.escape(name)} is served by .*wrap its client in an encoder"
    ):
        MatryoshkaEmbedder(name)


def test_every_builtin_profile_cites_a_web_source() -> None:
    from mrl_rag._profiles import _BUILTIN_PROFILES

    for profile in _BUILTIN_PROFILES:
        assert "https://" in profile.source, profile.name
        assert get_profile(profile.name) is profile


def test_the_profile_prefix_reaches_the_model(tiny_model_path) -> None:
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from mrl_rag import MatryoshkaEmbedder

    profile = get_profile("google/embeddinggemma-300m").replace(
        full_dim=64, matryoshka_dims=(32,), name="x"
    )
    embedder = MatryoshkaEmbedder(str(tiny_model_path), profile=profile, device="cpu")
    model = SentenceTransformer(str(tiny_model_path), device="cpu")
    text = "cat dog in paris"
    expected_query = model.encode("task: search result | query: " + text, normalize_embeddings=True)
    expected_doc = model.encode("title: none | text: " + text, normalize_embeddings=True)
    assert np.allclose(embedder.embed_query(text), expected_query, atol=1e-5)
    assert np.allclose(embedder.embed_documents([text])[0], expected_doc, atol=1e-5)
    assert not np.allclose(expected_query, model.encode(text, normalize_embeddings=True))


def test_changing_the_task_changes_the_query_prompt() -> None:
    qwen = get_profile("Qwen/Qwen3-Embedding-0.6B")
    for changed in (qwen.replace(task="Find code"), get_profile(qwen.name, task="Find code")):
        assert changed.query_prefix == "Instruct: Find code\nQuery:"
        assert changed == qwen.with_task("Find code")
    with pytest.raises(ProfileError, match="task must be a string"):
        qwen.replace(task=5)
    with pytest.raises(ProfileError, match="needs a query_template"):
        ModelProfile(name="x", full_dim=8, task="find")
    assert qwen.replace(query_prefix="custom: ").query_prefix == "custom: "
