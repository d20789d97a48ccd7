#!/bin/sh
# Container entry point: runs 'batch-rpc "$@"' as the launcher does. A clustered node must
# advertise an address its peers can reach, never 127.0.0.1: unless BATCHRPC_CLUSTER_HOST is set
# (Kubernetes sets the pod IP), use this container's own IP address.
set -eu
if [ -z "${BATCHRPC_CLUSTER_HOST:-}" ] || [ "${BATCHRPC_CLUSTER_HOST}" = "auto" ]; then
  BATCHRPC_CLUSTER_HOST="$(hostname -i | awk '{print $1}')"
  export BATCHRPC_CLUSTER_HOST
fi
# exec: java is PID 1 and gets SIGTERM (a clean cluster leave on 'docker compose down').
# shellcheck disable=SC2086
exec java ${JAVA_OPTS:-} --add-modules jdk.incubator.vector \
  -Dhazelcast.phone.home.enabled=false -Dhazelcast.logging.type=jdk \
  -jar /app/batch-rpc.jar "$@"
