#!/usr/bin/env bash
# Set up (first run), lint, and run the whole test suite.
source "$(dirname "$0")/_setup.sh"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
