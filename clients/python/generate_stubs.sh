#!/usr/bin/env bash
# Generates the Python gRPC stubs of the wire contract into clients/python/batchrpc/v1/ (never
# committed). Needs Debian's python3-grpc-tools and python3-protobuf; run from anywhere.
# The package runs this itself on first import when the stubs are missing or older than the protos.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PROTO="$HERE/../../shared-proto/src/main/proto"
PY="${BATCHRPC_PYTHON:-/usr/bin/python3}"
mkdir -p "$HERE/batchrpc/v1"
"$PY" -m grpc_tools.protoc -I "$PROTO" --python_out="$HERE" --grpc_python_out="$HERE" \
  "$PROTO"/batchrpc/v1/*.proto
printf '"""Generated from shared-proto/src/main/proto/batchrpc/v1 by generate_stubs.sh (not committed)."""\n' \
  > "$HERE/batchrpc/v1/__init__.py"
echo "generated $(ls "$HERE"/batchrpc/v1/*_pb2*.py | wc -l) modules in $HERE/batchrpc/v1"
