#!/usr/bin/env bash
# README command 2: set everything up, then run the whole test suite (CPU only; GPU tests
# are marked and skip themselves without CUDA).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${PYTHON:-python3}" -m pytest -q "$@"
