"""Model profiles: shipped facts, validation, registry."""

from __future__ import annotations

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
