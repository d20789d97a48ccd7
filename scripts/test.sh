#!/usr/bin/env bash
# The whole test suite (CPU only; tests tagged "gpu" skip themselves here and run in scripts/gpu-check.sh).
# It installs what the tests need when it can (as root on Debian): Prometheus, for the integration
# test in which a real server scrapes a running suite (without it that test skips itself).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test: installing prometheus (Debian package) for the metrics integration test" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus; } >/dev/null 2>&1 \
      || echo "test: could not install prometheus; its test will skip" >&2
  else
    echo "test: prometheus not found (apt-get install -y prometheus); its test will skip" >&2
  fi
fi

exec mvn -B -ntp verify "$@"
