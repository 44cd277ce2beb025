#!/usr/bin/env bash
# Set up (first run) and run the offline demo: the funnel on a slice of SciFact.
source "$(dirname "$0")/_setup.sh"
exec .venv/bin/python examples/demo_funnel.py "$@"
