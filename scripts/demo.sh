#!/usr/bin/env bash
# Set up (first run) and run the offline demo.
source "$(dirname "$0")/_setup.sh"
exec .venv/bin/python examples/demo_dimensions.py "$@"
