#!/usr/bin/env bash
# The whole test suite (CPU only; tests tagged "gpu" skip themselves here and run in scripts/gpu-check.sh).
# It installs what the tests need when it can (as root on Debian): Prometheus, for the integration
# test in which a real server scrapes a running suite, and Debian's Python with torch and gRPC, for
# the Python client's tests (clients/python) against a real parameter server. Without them those
# tests skip themselves, saying why.
# After Maven's tests (which build suite/target/batch-rpc.jar): scripts/k8s-validate.sh (the
# Kubernetes manifests rendered by kustomize and validated against the Kubernetes schemas) and
# scripts/container-test.sh (the image, docker-compose.yml with and without TLS, and the manifests
# played with podman; it installs podman when root and skips, saying why, only where no container
# engine can run). Any failure fails the command.
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

PY_PACKAGES="python3-torch python3-grpcio python3-grpc-tools python3-protobuf"
if ! /usr/bin/python3 -c "import torch, grpc, grpc_tools, google.protobuf" >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test: installing $PY_PACKAGES (Debian packages) for the Python client's tests" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PY_PACKAGES; } >/dev/null 2>&1 \
      || echo "test: could not install $PY_PACKAGES; the Python client's tests will skip" >&2
  else
    echo "test: /usr/bin/python3 lacks torch or grpc (apt-get install -y $PY_PACKAGES); the Python client's tests will skip" >&2
  fi
fi

mvn -B -ntp verify "$@"
scripts/k8s-validate.sh
scripts/container-test.sh
