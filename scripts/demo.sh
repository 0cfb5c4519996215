#!/usr/bin/env bash
# README command 1: set everything up, then run the whole flow on the bundled demo data
# (ingest -> build a dataset version -> train the tiny model with 4-bit QLoRA -> chat).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${PYTHON:-python3}" -m clonekit demo --no-tui "$@"
