"""mrl-rag: Matryoshka embeddings as a drop-in part of RAG pipelines.

The public API is what ``__all__`` lists; everything in modules whose name
starts with an underscore is private and may change.
"""

from mrl_rag._adaptor import OrthogonalAdaptor
from mrl_rag._embedder import InputType, MatryoshkaEmbedder
from mrl_rag._errors import (
    ArgumentTypeError,
    DataNotFoundError,
    InvalidArgumentError,
    InvalidDimensionError,
    InvalidTextError,
    InvalidVectorError,
    MRLRagError,
    ProfileError,
    RecordNotFoundError,
    RemoteEmbeddingError,
    StoreDamagedError,
    StoreLockedError,
    StoreMismatchError,
    StoreNotFoundError,
    TruncationQualityWarning,
    TrustRemoteCodeError,
    UnknownModelError,
)
from mrl_rag._measure import RankAgreement, rank_agreement
from mrl_rag._profiles import (
    PROFILE_SCHEMA_VERSION,
    ModelProfile,
    get_profile,
    list_profiles,
    register_profile,
)
from mrl_rag._scoring import cosine_scores, top_k
from mrl_rag._truncate import truncate
from mrl_rag.encoders import Encoder, OpenAICompatibleEncoder, SentenceTransformerEncoder
from mrl_rag.store import (
    DEFAULT_COLLECTION,
    DEFAULT_PATH,
    DEFAULT_SHORTLIST,
    MatryoshkaStore,
    SearchResult,
    StoreInfo,
    list_stores,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_COLLECTION",
    "DEFAULT_PATH",
    "DEFAULT_SHORTLIST",
    "PROFILE_SCHEMA_VERSION",
    "ArgumentTypeError",
    "DataNotFoundError",
    "Encoder",
    "InputType",
    "InvalidArgumentError",
    "InvalidDimensionError",
    "InvalidTextError",
    "InvalidVectorError",
    "MRLRagError",
    "MatryoshkaEmbedder",
    "MatryoshkaStore",
    "ModelProfile",
    "OpenAICompatibleEncoder",
    "OrthogonalAdaptor",
    "ProfileError",
    "RankAgreement",
    "RecordNotFoundError",
    "RemoteEmbeddingError",
    "SearchResult",
    "SentenceTransformerEncoder",
    "StoreDamagedError",
    "StoreInfo",
    "StoreLockedError",
    "StoreMismatchError",
    "StoreNotFoundError",
    "TruncationQualityWarning",
    "TrustRemoteCodeError",
    "UnknownModelError",
    "__version__",
    "cosine_scores",
    "get_profile",
    "list_profiles",
    "list_stores",
    "rank_agreement",
    "register_profile",
    "top_k",
    "truncate",
]
