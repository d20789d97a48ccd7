#!/usr/bin/env bash
# JMH benchmarks of the compute core (SGEMM, policy forward, optimizer steps beside arraycopy).
#   ./batch-rpc bench compute                 all benchmarks (about 4 minutes on 2 cores)
#   ./batch-rpc bench compute Sgemm           only those whose name matches the regex
#   JMH_ARGS="-f 1 -wi 3 -i 5" ./batch-rpc bench compute    other JMH settings
# Results: a table on stdout and compute/target/jmh-result.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
include="${1:-}"
args=(-q -B -pl compute -am test-compile -DskipTests)
mvn "${args[@]}"
extra=()
[ -n "${JMH_ARGS:-}" ] && extra+=("-Djmh.args=$JMH_ARGS")
[ -n "$include" ] && extra+=("-Djmh.include=$include")
exec mvn -q -B -pl compute exec:exec@bench "${extra[@]}"
