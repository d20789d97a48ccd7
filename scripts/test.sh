#!/usr/bin/env bash
# The whole test suite (CPU only; tests tagged "gpu" skip themselves here and run in scripts/gpu-check.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
exec mvn -B -ntp verify "$@"
