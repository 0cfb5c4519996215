#!/usr/bin/env bash
# Install clonekit and everything it needs into the current Python (idempotent).
# CPU machines: `pip install torch==2.13.0` takes the CPU wheel; on a Linux GPU machine the
# same pin pulls the CUDA build. Set CLONEKIT_SKIP_INSTALL=1 to skip (e.g. in a prepared env).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ "${CLONEKIT_SKIP_INSTALL:-0}" = "1" ]; then exit 0; fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  "$PY" -m pip install -q "torch==2.13.0"
fi
"$PY" -m pip install -q -e ".[train,test]"
