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
# -XX:+ExitOnOutOfMemoryError: out of memory, the JVM exits (code 3) and the container restarts,
# rather than running on as a cluster member that hangs rounds; set here, not in JAVA_OPTS, so an
# overridden JAVA_OPTS keeps it. The other flags are the launcher's (runtime's JvmFlags.COMMON):
# the vector module, the JDK internals Hazelcast reads (it warns at every start without them),
# Hazelcast without phone-home and logging through JDK logging.
# shellcheck disable=SC2086
exec java -XX:+ExitOnOutOfMemoryError ${JAVA_OPTS:-} \
  --add-modules=jdk.incubator.vector,java.se \
  --add-exports=java.base/jdk.internal.ref=ALL-UNNAMED \
  --add-opens=java.base/java.lang=ALL-UNNAMED \
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED \
  --add-opens=java.management/sun.management=ALL-UNNAMED \
  --add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED \
  -Dhazelcast.phone.home.enabled=false -Dhazelcast.logging.type=jdk \
  -jar /app/batch-rpc.jar "$@"
