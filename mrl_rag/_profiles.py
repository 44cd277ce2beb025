"""Model profiles: what each embedding model needs to be used correctly.

A :class:`ModelProfile` records the facts that decide whether an embedding is
right or silently wrong: the full dimension, the Matryoshka dimensions the model
was trained for, the query and document prefixes, a step to apply before
truncation, and whether loading it runs code from the hub.

Profiles of well-known models ship with the library; every fact is checked
against the model's own card or configuration, cited beside it. Unknown models
get a profile built from their sentence-transformers configuration, and users
can register their own or override any field.
"""

from __future__ import annotations

import dataclasses
import numbers
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mrl_rag._errors import (
    ArgumentTypeError,
    InvalidDimensionError,
    ProfileError,
    UnknownModelError,
)
from mrl_rag._validation import check_dim_type

__all__ = [
    "PROFILE_SCHEMA_VERSION",
    "ModelProfile",
    "get_profile",
    "list_profiles",
    "register_profile",
]

#: Version of the profile format; stored with vectors so a later, incompatible
#: change of what a profile means can be detected.
PROFILE_SCHEMA_VERSION = 1

PreTruncation = Literal["none", "layer_norm"]
Backend = Literal["sentence-transformers", "openai", "api"]

_PRE_TRUNCATION_STEPS: tuple[str, ...] = ("none", "layer_norm")
_BACKENDS: tuple[str, ...] = ("sentence-transformers", "openai", "api")


@dataclass(frozen=True)
class ModelProfile:
    r"""What a model needs: dimensions, prefixes and loading requirements.

    Profiles are immutable; use :meth:`replace` to derive a changed copy.

    Attributes:
        name: The model's hub id (or any name for a private model).
        full_dim: The dimension of the model's untruncated output.
        matryoshka: Whether the model was trained with Matryoshka
            Representation Learning. Truncating a model that was not gives a
            usable but clearly worse embedding, and the embedder warns.
        matryoshka_dims: The smaller dimensions the model was trained for, or
            ``None`` when any prefix length is allowed (also the case for a
            model that is not Matryoshka-trained). ``full_dim`` is always allowed
            and need not be listed.
        query_prefix: Text put before every query, for example
            ``"search_query: "``.
        document_prefix: Text put before every document.
        pre_truncation: A step applied to the full vector before it is cut:
            ``"none"`` or ``"layer_norm"`` (Nomic's recipe). Because the step
            runs on the full vector, the full vectors the embedder returns
            already include it, so every truncation of them is exact.
        trust_remote_code: Whether loading the model executes code from its hub
            repository. Such a model is loaded only when the user passes
            ``trust_remote_code=True`` explicitly.
        backend: ``"sentence-transformers"`` for models that can be loaded
            in-process by name; ``"openai"`` for models served by the OpenAI
            embeddings API, ``"api"`` for those of another provider (Cohere,
            Voyage, ...): an embedder reaches those through an encoder
            (:mod:`mrl_rag.encoders`), never by loading their name.
        source: Where the facts come from (the model card or configuration).
        query_template: For a model whose query prompt names a task (Qwen3's
            ``"Instruct: {task}\nQuery:"``): the prompt with ``{task}`` in it.
            The query prefix is this template filled with ``task``; change the
            task with :meth:`with_task`.
        task: The task filled into ``query_template`` (the card's default
            retrieval task).
        query_options: Extra keyword arguments the model's own ``encode``
            takes for queries, as ``(name, value)`` pairs (jina-embeddings-v3:
            ``(("task", "retrieval.query"),)``). A dict is accepted too.
        document_options: The same for documents.
    """

    name: str
    full_dim: int
    matryoshka: bool = True
    matryoshka_dims: tuple[int, ...] | None = None
    query_prefix: str = ""
    document_prefix: str = ""
    pre_truncation: PreTruncation = "none"
    trust_remote_code: bool = False
    backend: Backend = "sentence-transformers"
    source: str = ""
    query_template: str = ""
    task: str = ""
    query_options: tuple[tuple[str, str], ...] = ()
    document_options: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ProfileError(f"name must be a non-empty string, got {self.name!r}.")
        if (
            isinstance(self.full_dim, bool)
            or not isinstance(self.full_dim, numbers.Integral)
            or self.full_dim <= 0
        ):
            raise ProfileError(
                f"full_dim must be a positive integer, got {self.full_dim!r} "
                f"(profile {self.name!r})."
            )
        object.__setattr__(self, "full_dim", int(self.full_dim))
        for field in ("query_prefix", "document_prefix", "source"):
            value = getattr(self, field)
            if not isinstance(value, str):
                raise ProfileError(
                    f"{field} must be a string, got {type(value).__name__} "
                    f"{value!r} (profile {self.name!r})."
                )
        if self.pre_truncation not in _PRE_TRUNCATION_STEPS:
            raise ProfileError(
                f"pre_truncation={self.pre_truncation!r} is not supported "
                f"(profile {self.name!r}); allowed: {', '.join(map(repr, _PRE_TRUNCATION_STEPS))}."
            )
        if self.backend not in _BACKENDS:
            raise ProfileError(
                f"backend={self.backend!r} is not supported (profile {self.name!r}); "
                f"allowed: {', '.join(map(repr, _BACKENDS))}."
            )
        object.__setattr__(self, "matryoshka", bool(self.matryoshka))
        object.__setattr__(self, "trust_remote_code", bool(self.trust_remote_code))
        if self.matryoshka_dims is not None:
            object.__setattr__(self, "matryoshka_dims", self._checked_dims(self.matryoshka_dims))
        for field in ("query_options", "document_options"):
            object.__setattr__(self, field, self._checked_options(field, getattr(self, field)))
        for field in ("query_template", "task"):
            if not isinstance(getattr(self, field), str):
                raise ProfileError(
                    f"{field} must be a string, got {getattr(self, field)!r} "
                    f"(profile {self.name!r})."
                )
        if self.task and not self.query_template:
            raise ProfileError(
                f"task={self.task!r} needs a query_template with '{{task}}' in it "
                f"(profile {self.name!r}); without one, set query_prefix instead."
            )
        if self.query_template:
            if "{task}" not in self.query_template:
                raise ProfileError(
                    f"query_template must contain '{{task}}', got {self.query_template!r} "
                    f"(profile {self.name!r})."
                )
            if not self.task.strip():
                raise ProfileError(
                    f"query_template needs a task; set task=... (profile {self.name!r})."
                )
            if not self.query_prefix:
                object.__setattr__(
                    self, "query_prefix", self.query_template.replace("{task}", self.task)
                )

    def _checked_options(self, field: str, options: Any) -> tuple[tuple[str, str], ...]:
        items = options.items() if isinstance(options, Mapping) else options
        try:
            pairs = tuple((key, value) for key, value in items)
        except (TypeError, ValueError):
            raise ProfileError(
                f"{field} must be (name, value) pairs or a dict, got {options!r} "
                f"(profile {self.name!r})."
            ) from None
        for key, value in pairs:
            if not isinstance(key, str) or not isinstance(value, str):
                raise ProfileError(
                    f"{field} entries must be strings, got {key!r}: {value!r} "
                    f"(profile {self.name!r})."
                )
        return tuple(sorted(pairs))

    def options_for(self, input_type: str) -> dict[str, str]:
        """The model's extra ``encode`` keyword arguments for queries or documents."""
        return dict(self.query_options if input_type == "query" else self.document_options)

    def with_task(self, task: str) -> ModelProfile:
        r"""This profile with its query prompt naming ``task`` (for a templated prompt).

        Example:
            >>> qwen = get_profile("Qwen/Qwen3-Embedding-0.6B")
            >>> qwen.with_task("Given a question, retrieve passages that answer it").query_prefix
            'Instruct: Given a question, retrieve passages that answer it\nQuery:'

        Raises:
            ProfileError: If the profile has no ``query_template``, or ``task`` is empty.
        """
        if not self.query_template:
            raise ProfileError(
                f"{self.name} has no task in its query prompt; set query_prefix instead."
            )
        if not isinstance(task, str) or not task.strip():
            raise ProfileError(f"task must be a non-empty string, got {task!r}.")
        return self.replace(task=task, query_prefix=self.query_template.replace("{task}", task))

    def _checked_dims(self, dims: Any) -> tuple[int, ...]:
        if not self.matryoshka:
            raise ProfileError(
                f"matryoshka_dims={dims!r} was given for {self.name!r}, which is marked "
                "matryoshka=False; a model that is not Matryoshka-trained has no trained "
                "dimensions (use matryoshka_dims=None)."
            )
        if isinstance(dims, (str, bytes)) or not hasattr(dims, "__iter__"):
            raise ProfileError(
                f"matryoshka_dims must be a sequence of integers or None, got {dims!r} "
                f"(profile {self.name!r})."
            )
        checked: list[int] = []
        for value in dims:
            try:
                dim = check_dim_type(value, name="matryoshka_dims entry")
            except InvalidDimensionError as exc:
                raise ProfileError(f"{exc} (profile {self.name!r})") from None
            if dim > self.full_dim:
                raise ProfileError(
                    f"matryoshka_dims entry {dim} exceeds full_dim={self.full_dim} "
                    f"(profile {self.name!r})."
                )
            checked.append(dim)
        if not checked:
            raise ProfileError(
                f"matryoshka_dims must list at least one dimension, or be None for "
                f"'any prefix' (profile {self.name!r})."
            )
        return tuple(sorted(set(checked), reverse=True))

    @property
    def allowed_dims(self) -> tuple[int, ...] | None:
        """The dimensions this model may be truncated to, largest first.

        ``None`` means any integer from 1 to ``full_dim``.
        """
        if self.matryoshka_dims is None:
            return None
        return tuple(sorted({self.full_dim, *self.matryoshka_dims}, reverse=True))

    def describe_allowed_dims(self) -> str:
        """Say in words which dimensions are allowed, for error messages."""
        allowed = self.allowed_dims
        if allowed is None:
            return f"an integer from 1 to {self.full_dim}"
        listed = ", ".join(str(d) for d in allowed)
        return f"one of {listed} (the dimensions {self.name} was trained for)"

    def validate_dim(self, dim: Any, *, name: str = "dim") -> int:
        """Check that ``dim`` is a dimension this model can be truncated to.

        Args:
            dim: The requested dimension.
            name: The parameter name to use in the error message.

        Returns:
            ``dim`` as a plain ``int``.

        Raises:
            InvalidDimensionError: If ``dim`` is not a positive integer, is larger
                than ``full_dim`` or, for a model trained at fixed dimensions, is
                not one of them. The message lists what is allowed.
        """
        try:
            value = check_dim_type(dim, name=name)
        except InvalidDimensionError as exc:
            raise InvalidDimensionError(
                f"{exc} Allowed for {self.name}: {self.describe_allowed_dims()}."
            ) from None
        if value > self.full_dim:
            raise InvalidDimensionError(
                f"{name}={value} is larger than the full dimension of {self.name} "
                f"({self.full_dim}). Allowed: {self.describe_allowed_dims()}."
            )
        allowed = self.allowed_dims
        if allowed is not None and value not in allowed:
            raise InvalidDimensionError(
                f"{name}={value} is not a dimension {self.name} was trained for. "
                f"Allowed: {self.describe_allowed_dims()}. To use another prefix length "
                "anyway, override the profile with matryoshka_dims=None."
            )
        return value

    def replace(self, **changes: Any) -> ModelProfile:
        """Return a copy with some fields changed (and validated again).

        Raises:
            ProfileError: If a field name is unknown or a new value is invalid.
        """
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ProfileError(
                f"Unknown profile field(s) {', '.join(map(repr, unknown))}; "
                f"fields are: {', '.join(sorted(known))}."
            )
        template = changes.get("query_template", self.query_template)
        if (
            template
            and "query_prefix" not in changes
            and changes.keys() & {"task", "query_template"}
        ):
            task = changes.get("task", self.task)
            if isinstance(template, str) and isinstance(task, str):
                changes["query_prefix"] = template.replace("{task}", task)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return the profile as a JSON-compatible dict (for store metadata)."""
        data = dataclasses.asdict(self)
        if self.matryoshka_dims is not None:
            data["matryoshka_dims"] = list(self.matryoshka_dims)
        for field in ("query_options", "document_options"):
            data[field] = [list(pair) for pair in getattr(self, field)]
        data["schema_version"] = PROFILE_SCHEMA_VERSION
        return data


_NOMIC_CARD = "https://huggingface.co/nomic-ai/nomic-embed-text-v1.5"
_MXBAI_CARD = "https://huggingface.co/mixedbread-ai/mxbai-embed-large-v1"
_ARCTIC_CARD = "https://huggingface.co/Snowflake/snowflake-arctic-embed-m-v1.5"
_OPENAI_DOCS = "https://platform.openai.com/docs/guides/embeddings"
_MINILM_CARD = "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2"
_WORDLLAMA_SOURCE = (
    "https://github.com/dleemiller/WordLlama (README: trained with MatryoshkaLoss at "
    "1024/512/256/128/64); https://huggingface.co/dleemiller/word-llama-l2-supercat; "
    "the 256-d prefix ships in the wordllama package (mrl_rag.models)"
)
_EMBEDDINGGEMMA_CARD = (
    "https://huggingface.co/google/embeddinggemma-300m; "
    "https://ai.google.dev/gemma/docs/embeddinggemma/model_card"
)
_QWEN3_README = "https://github.com/QwenLM/Qwen3-Embedding (README)"
_ARCTIC_L_V2_CARD = (
    "https://huggingface.co/Snowflake/snowflake-arctic-embed-l-v2.0; "
    "https://arxiv.org/abs/2412.04506"
)
_JINA_V3_CARD = "https://huggingface.co/jinaai/jina-embeddings-v3"
_NOMIC_V2_CARD = (
    "https://huggingface.co/nomic-ai/nomic-embed-text-v2-moe; https://arxiv.org/abs/2502.07972"
)
_GTE_MULTILINGUAL_CARD = "https://huggingface.co/Alibaba-NLP/gte-multilingual-base"
_COHERE_EMBED_V4_DOCS = (
    "https://docs.cohere.com/docs/cohere-embed; "
    "https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed-v4.html; "
    "https://docs.oracle.com/iaas/Content/generative-ai/cohere-embed-4.htm"
)
_VOYAGE_DOCS = (
    "https://docs.voyageai.com/docs/embeddings; "
    "https://docs.voyageai.com/docs/flexible-dimensions-and-quantization"
)
_GEMINI_EMBEDDING_DOCS = (
    "https://ai.google.dev/gemini-api/docs/models/gemini-embedding-001; "
    "https://ai.google.dev/gemini-api/docs/embeddings"
)

# Qwen3-Embedding README and model cards: ``get_detailed_instruct`` returns
# f'Instruct: {task_description}\nQuery:{query}' (a newline, no space after "Query:"),
# and config_sentence_transformers.json stores the same "query" prompt with the task below.
_QWEN3_QUERY_TEMPLATE = "Instruct: {task}\nQuery:"
_QWEN3_DEFAULT_TASK = "Given a web search query, retrieve relevant passages that answer the query"

_BUILTIN_PROFILES: tuple[ModelProfile, ...] = (
    # Model card: 768-d output; MTEB table at 768/512/256/128/64; task prefixes
    # "search_query: " / "search_document: "; the Matryoshka recipe is
    # F.layer_norm over the full vector, then slice, then F.normalize; loading
    # needs trust_remote_code=True (custom nomic_bert architecture).
    ModelProfile(
        name="nomic-ai/nomic-embed-text-v1.5",
        full_dim=768,
        matryoshka_dims=(512, 256, 128, 64),
        query_prefix="search_query: ",
        document_prefix="search_document: ",
        pre_truncation="layer_norm",
        trust_remote_code=True,
        source=_NOMIC_CARD,
    ),
    # Model card: 1024-d, "supports Matryoshka Representation Learning and
    # binary quantization"; config_sentence_transformers.json has prompts
    # {"query": "Represent this sentence for searching relevant passages: ",
    # "passage": ""}. The card publishes no list of trained dimensions (its
    # example uses truncate_dim=512), so any prefix length is allowed.
    ModelProfile(
        name="mixedbread-ai/mxbai-embed-large-v1",
        full_dim=1024,
        matryoshka_dims=None,
        query_prefix="Represent this sentence for searching relevant passages: ",
        document_prefix="",
        source=_MXBAI_CARD,
    ),
    # Model card: 768-d, Matryoshka-trained for truncation to 256 dimensions
    # (then L2-renormalise); the query prefix
    # "Represent this sentence for searching relevant passages: ", none for
    # documents.
    ModelProfile(
        name="Snowflake/snowflake-arctic-embed-m-v1.5",
        full_dim=768,
        matryoshka_dims=(256,),
        query_prefix="Represent this sentence for searching relevant passages: ",
        document_prefix="",
        source=_ARCTIC_CARD,
    ),
    # Model card: "Output embedding dimension size of 768, with smaller options
    # available (512, 256, or 128) via Matryoshka Representation Learning (MRL)
    # ... truncate ... and then re-normalize". Prompt table: retrieval query
    # "task: search result | query: {content}", retrieval document
    # "title: {title | "none"} | text: {content}"; config_sentence_transformers.json
    # stores them as the "query" / "document" prompts. Gemma3 is native in
    # transformers (no remote code); the card warns its activations do not
    # support float16 (use float32 or bfloat16).
    ModelProfile(
        name="google/embeddinggemma-300m",
        full_dim=768,
        matryoshka_dims=(512, 256, 128),
        query_prefix="task: search result | query: ",
        document_prefix="title: none | text: ",
        source=_EMBEDDINGGEMMA_CARD,
    ),
    # Qwen3-Embedding model cards: "Embedding Dimension: Up to 1024, supports
    # user-defined output dimensions ranging from 32 to 1024" (MRL support: yes),
    # so any prefix length is allowed here; below 32 is outside what the card
    # supports, and this profile does not refuse it. Queries carry
    # "Instruct: {task}\nQuery:" (the card's example task is the default; the
    # card recommends a task written for your use, in English); "No need to add
    # instruction for retrieval documents". Last-token pooling and normalisation
    # come with the model's own sentence-transformers modules. Set the task with
    #     get_profile("Qwen/Qwen3-Embedding-0.6B").with_task("Given a question, ...")
    # and pass that profile as MatryoshkaEmbedder(..., profile=...).
    ModelProfile(
        name="Qwen/Qwen3-Embedding-0.6B",
        full_dim=1024,
        matryoshka_dims=None,
        query_template=_QWEN3_QUERY_TEMPLATE,
        task=_QWEN3_DEFAULT_TASK,
        document_prefix="",
        source="https://huggingface.co/Qwen/Qwen3-Embedding-0.6B; " + _QWEN3_README,
    ),
    # As 0.6B: "Up to 2560, supports user-defined output dimensions ranging from
    # 32 to 2560".
    ModelProfile(
        name="Qwen/Qwen3-Embedding-4B",
        full_dim=2560,
        matryoshka_dims=None,
        query_template=_QWEN3_QUERY_TEMPLATE,
        task=_QWEN3_DEFAULT_TASK,
        document_prefix="",
        source="https://huggingface.co/Qwen/Qwen3-Embedding-4B; " + _QWEN3_README,
    ),
    # As 0.6B: "Up to 4096, supports user-defined output dimensions ranging from
    # 32 to 4096".
    ModelProfile(
        name="Qwen/Qwen3-Embedding-8B",
        full_dim=4096,
        matryoshka_dims=None,
        query_template=_QWEN3_QUERY_TEMPLATE,
        task=_QWEN3_DEFAULT_TASK,
        document_prefix="",
        source="https://huggingface.co/Qwen/Qwen3-Embedding-8B; " + _QWEN3_README,
    ),
    # Model card: 1024-d (568M parameters, XLM-R based, no custom code);
    # "Compression-friendly: ... embeddings as small as 128 bytes/vector using
    # Matryoshka Representation Learning (MRL)" -- "vector truncation via MRL to
    # decrease vector size by 4x" (1024 -> 256, card table at 1024 and 256);
    # "use the query prefix below (just on the query)": query_prefix = 'query: ';
    # config_sentence_transformers.json stores it as the "query" prompt.
    ModelProfile(
        name="Snowflake/snowflake-arctic-embed-l-v2.0",
        full_dim=1024,
        matryoshka_dims=(256,),
        query_prefix="query: ",
        document_prefix="",
        source=_ARCTIC_L_V2_CARD,
    ),
    # Model card: 1024-d; "Matryoshka Embeddings: Supports flexible embedding
    # sizes (32, 64, 128, 256, 512, 768, 1024)" (config.json:
    # matryoshka_dimensions); five LoRA adapters chosen by the `task` argument,
    # "retrieval.query" / "retrieval.passage" for asymmetric retrieval; the card's
    # sentence-transformers usage is encode(..., task=task, prompt_name=task), and
    # config_sentence_transformers.json maps those prompt names to
    # "Represent the query for retrieving evidence documents: " and
    # "Represent the document for retrieval: ". Custom architecture:
    # trust_remote_code=True.
    ModelProfile(
        name="jinaai/jina-embeddings-v3",
        full_dim=1024,
        matryoshka_dims=(768, 512, 256, 128, 64, 32),
        query_prefix="Represent the query for retrieving evidence documents: ",
        document_prefix="Represent the document for retrieval: ",
        query_options=(("task", "retrieval.query"),),
        document_options=(("task", "retrieval.passage"),),
        trust_remote_code=True,
        source=_JINA_V3_CARD,
    ),
    # Model card: 768-d; "Supports flexible dimension from 768 to 256 through
    # Matryoshka representation learning", evaluated "at 768 dimension and
    # truncated to 256 dimensions" (paper Table 12 likewise); prefixes
    # "search_query: " / "search_document: " (prompt names "query" / "passage");
    # "For truncation, you can trucate [sic] before applying normalization" -- no layer
    # norm, unlike v1.5; "Must use trust_remote_code=True".
    ModelProfile(
        name="nomic-ai/nomic-embed-text-v2-moe",
        full_dim=768,
        matryoshka_dims=(256,),
        query_prefix="search_query: ",
        document_prefix="search_document: ",
        trust_remote_code=True,
        source=_NOMIC_V2_CARD,
    ),
    # Model card: 768-d; "Elastic Dense Embedding"; its usage code cuts the CLS
    # vector with `dimension=768 # The output dimension of the output embedding,
    # should be in [128, 768]`. Any prefix length is allowed here; below 128 is
    # outside the card's range and this profile does not refuse it. No prompts in
    # the card's usage; loading needs trust_remote_code=True (custom "new"
    # architecture).
    ModelProfile(
        name="Alibaba-NLP/gte-multilingual-base",
        full_dim=768,
        matryoshka_dims=None,
        trust_remote_code=True,
        source=_GTE_MULTILINGUAL_CARD,
    ),
    # OpenAI embeddings guide: text-embedding-3 models return 1536 (small) and
    # 3072 (large) dimensions and accept any smaller `dimensions`; vectors are
    # unit length, and a hand-shortened vector must be renormalised. No prefixes.
    ModelProfile(
        name="text-embedding-3-small",
        full_dim=1536,
        matryoshka_dims=None,
        backend="openai",
        source=_OPENAI_DOCS,
    ),
    ModelProfile(
        name="text-embedding-3-large",
        full_dim=3072,
        matryoshka_dims=None,
        backend="openai",
        source=_OPENAI_DOCS,
    ),
    # Cohere embed-v4.0 (API): "Matryoshka embeddings: Supports output
    # dimensions of 256, 512, 1,024, and 1,536", "1,536 by default". Queries and
    # documents are told apart by the request's input_type (search_query /
    # search_document), which the wrapped provider client sets; no text prefix.
    ModelProfile(
        name="embed-v4.0",
        full_dim=1536,
        matryoshka_dims=(1024, 512, 256),
        backend="api",
        source=_COHERE_EMBED_V4_DOCS,
    ),
    # Voyage docs: voyage-3-large and voyage-3.5 return "1024 (default), 256,
    # 512, 2048" dimensions; "for each k in {256, 512, and 1024}, the first k
    # entries of a 2048-dimensional embedding also form a valid k-dimensional
    # embedding". So full_dim is 2048, the largest size one can request: have the
    # client ask for output_dimension=2048, or use get_profile(name,
    # full_dim=1024, matryoshka_dims=(512, 256)) for the default size. input_type
    # ("query" / "document") adds Voyage's instructions on the backend.
    ModelProfile(
        name="voyage-3-large",
        full_dim=2048,
        matryoshka_dims=(1024, 512, 256),
        backend="api",
        source=_VOYAGE_DOCS,
    ),
    ModelProfile(
        name="voyage-3.5",
        full_dim=2048,
        matryoshka_dims=(1024, 512, 256),
        backend="api",
        source=_VOYAGE_DOCS,
    ),
    # Gemini API docs: gemini-embedding-001 outputs 3072 dimensions by default;
    # "Output dimension size: Flexible, supports: 128 - 3072, Recommended: 768,
    # 1536, 3072" (MRL-trained), so any prefix length is allowed here (below 128
    # is outside the documented range and not refused). Only the 3072-d output
    # comes normalised; the embedder renormalises every truncation anyway. The
    # task type (RETRIEVAL_QUERY / RETRIEVAL_DOCUMENT) is a request field the
    # wrapped client sets; no text prefix.
    ModelProfile(
        name="gemini-embedding-001",
        full_dim=3072,
        matryoshka_dims=None,
        backend="api",
        source=_GEMINI_EMBEDDING_DOCS,
    ),
    # WordLlama l2_supercat: a static token table (32,000 x 256 in the wordllama
    # package, the 256-d prefix of a 1024-d model) trained with MatryoshkaLoss at
    # 1024/512/256/128/64; tokenize without special tokens, masked mean, normalise;
    # no prefixes. mrl_rag.models.wordllama_model() saves it as a
    # sentence-transformers folder (StaticEmbedding + Normalize).
    ModelProfile(
        name="dleemiller/word-llama-l2-supercat",
        full_dim=256,
        matryoshka_dims=(128, 64),
        source=_WORDLLAMA_SOURCE,
    ),
    # Model card and modules.json: 384-d, mean pooling then Normalize; no
    # prefixes; trained with a plain contrastive loss, not Matryoshka.
    ModelProfile(
        name="sentence-transformers/all-MiniLM-L6-v2",
        full_dim=384,
        matryoshka=False,
        source=_MINILM_CARD,
    ),
)

_registry: dict[str, ModelProfile] = {}
_registry_lock = threading.Lock()


def _key(name: str) -> str:
    return name.strip().lower()


def register_profile(profile: ModelProfile, *, overwrite: bool = False) -> ModelProfile:
    """Make a profile known to :func:`get_profile` and the embedder.

    Args:
        profile: The profile to register, under ``profile.name``
            (matched case-insensitively).
        overwrite: Replace an existing profile of the same name. Without it,
            registering a name twice is an error, so that a built-in profile is
            never replaced by accident.

    Returns:
        The registered profile.

    Raises:
        TypeError: If ``profile`` is not a :class:`ModelProfile`.
        ProfileError: If a profile of that name exists and ``overwrite`` is False.
    """
    if not isinstance(profile, ModelProfile):
        raise ArgumentTypeError(
            f"profile must be a ModelProfile, got {type(profile).__name__}; "
            "build one with ModelProfile(name=..., full_dim=...)."
        )
    key = _key(profile.name)
    with _registry_lock:
        if key in _registry and not overwrite:
            raise ProfileError(
                f"A profile named {profile.name!r} is already registered; pass "
                "overwrite=True to replace it, or use profile.replace(...) to derive one."
            )
        _registry[key] = profile
    return profile


def list_profiles() -> list[str]:
    """Return the names of all registered profiles, sorted."""
    with _registry_lock:
        return sorted(p.name for p in _registry.values())


def find_profile(name: str) -> ModelProfile | None:
    """Return the profile registered under ``name``, or ``None``.

    Names are matched case-insensitively; a bare sentence-transformers name
    such as ``"all-MiniLM-L6-v2"`` also finds ``"sentence-transformers/..."``,
    as sentence-transformers itself resolves it.
    """
    key = _key(name)
    with _registry_lock:
        found = _registry.get(key)
        if found is None and "/" not in key:
            found = _registry.get("sentence-transformers/" + key)
    return found


def get_profile(name: str, **overrides: Any) -> ModelProfile:
    """Return the registered profile of a model, optionally with fields changed.

    Args:
        name: The model's hub id, for example ``"nomic-ai/nomic-embed-text-v1.5"``.
        **overrides: Fields to change in the returned copy, for example
            ``query_prefix="query: "``; the registry is not modified.

    Returns:
        The profile.

    Raises:
        UnknownModelError: If no profile is registered under ``name``. The
            message lists the known names. (The embedder does not need a
            registered profile: it builds one from the model's own
            configuration.)
        ProfileError: If an override is unknown or invalid.
    """
    if not isinstance(name, str):
        raise ArgumentTypeError(f"name must be a string, got {type(name).__name__} {name!r}.")
    profile = find_profile(name)
    if profile is None:
        raise UnknownModelError(
            f"No profile is registered for {name!r}. Known models: "
            f"{', '.join(list_profiles())}. Register one with "
            "register_profile(ModelProfile(...)), or let MatryoshkaEmbedder build one "
            "from the model's sentence-transformers configuration."
        )
    return profile.replace(**overrides) if overrides else profile


_QUERY_PROMPT_KEYS = ("query", "search_query", "queries")
_DOCUMENT_PROMPT_KEYS = ("document", "passage", "search_document", "corpus", "documents")


def profile_from_prompts(
    name: str,
    full_dim: int,
    prompts: dict[str, str],
    *,
    source: str = "inferred from the model's sentence-transformers configuration",
    backend: Backend = "sentence-transformers",
) -> ModelProfile:
    """Build a profile for an unknown model from its configured prompts.

    The model is treated as not Matryoshka-trained (nothing says it is), so
    truncating it warns. Prompts are read from the usual keys of a
    sentence-transformers ``prompts`` dict (``query``; ``document``,
    ``passage`` or ``corpus``).

    Args:
        name: The model's name or path.
        full_dim: Its output dimension.
        prompts: Its ``prompts`` mapping (may be empty).
        source: Where the facts come from, kept in the profile.
        backend: ``"sentence-transformers"`` or ``"openai"`` (a remote API).

    Returns:
        A new, unregistered profile.
    """

    def first(keys: tuple[str, ...]) -> str:
        for key in keys:
            value = prompts.get(key)
            if isinstance(value, str) and value:
                return value
        return ""

    return ModelProfile(
        name=name,
        full_dim=full_dim,
        matryoshka=False,
        query_prefix=first(_QUERY_PROMPT_KEYS),
        document_prefix=first(_DOCUMENT_PROMPT_KEYS),
        source=source,
        backend=backend,
    )


for _builtin in _BUILTIN_PROFILES:
    register_profile(_builtin)
