#!/usr/bin/env bash
# A trainer's CPU time per round on the CPU path (the MLP task of 'batch-rpc bench ps'), in one JVM.
#   scripts/bench-trainer-step.sh [SECONDS]            the step taken apart (TrainerStepBench)
#   scripts/bench-trainer-step.sh --against COMMIT [ROUNDS] [SECONDS]
#       this tree against COMMIT: FreshMachineGemm with COMMIT's JavaGemm as a column (one JVM),
#       then the whole step() and load() in JVMs alternating between this tree's classes and
#       COMMIT's (ROUNDS pairs, default 3), so both see the same load
# Builds offline (mvn -o test-compile; nothing is installed). Other JVM options: BENCH_JAVA_OPTS.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
against=""
if [ "${1:-}" = "--against" ]; then
  against="$2"
  shift 2
fi
mvn -B -ntp -o -q -pl compute,trainer-service -am test-compile dependency:build-classpath \
  -Dmdep.outputFile=target/bench-classpath.txt
cp="trainer-service/target/test-classes:trainer-service/target/classes"
cp="$cp:compute/target/test-classes:$(cat trainer-service/target/bench-classpath.txt)"
run() {
  # the launcher's flags that matter here: the Vector API module (JavaGemm's SIMD kernels)
  java --add-modules=jdk.incubator.vector ${BENCH_JAVA_OPTS:-} -cp "$1" "${@:2}" \
    2> >(grep -v -e 'Using incubator modules' -e '^[A-Z][a-z][a-z] [0-9][0-9], ' -e '^INFO: ' -e '^WARNING: Failed to load' >&2)
}
if [ -z "$against" ]; then
  run "$cp" dev.batchrpc.trainer.TrainerStepBench "${1:-1}"
  exit 0
fi

rounds="${1:-3}"
seconds="${2:-1}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# COMMIT's versions of the main classes that differ, compiled against this tree's classes
mapfile -t changed < <(git diff --name-only "$against" -- \
  compute/src/main/java trainer-service/src/main/java | grep '\.java$' || true)
mkdir -p "$tmp/src" "$tmp/old" "$tmp/gemm-src" "$tmp/gemm"
for f in "${changed[@]}"; do
  if git cat-file -e "$against:$f" 2>/dev/null; then
    mkdir -p "$tmp/src/$(dirname "$f")"
    git show "$against:$f" > "$tmp/src/$f"
  fi
done
mapfile -t srcs < <(find "$tmp/src" -name '*.java')
if [ "${#srcs[@]}" -gt 0 ]; then
  javac -nowarn -XDsuppressNotes --add-modules=jdk.incubator.vector -d "$tmp/old" -cp "$cp" \
    "${srcs[@]}" 2> >(grep -v 'incubator' >&2)
fi
# COMMIT's JavaGemm and VectorGemm renamed JavaGemmBefore / VectorGemmBefore: a column of
# FreshMachineGemm in the same JVM as this tree's kernels
g=compute/src/main/java/dev/batchrpc/compute/cpu
git show "$against:$g/JavaGemm.java" | sed -e 's/\bJavaGemm\b/JavaGemmBefore/g' \
  -e 's/\bVectorGemm\b/VectorGemmBefore/g' > "$tmp/gemm-src/JavaGemmBefore.java"
git show "$against:$g/VectorGemm.java" | sed -e 's/\bJavaGemm\b/JavaGemmBefore/g' \
  -e 's/\bVectorGemm\b/VectorGemmBefore/g' > "$tmp/gemm-src/VectorGemmBefore.java"
javac -nowarn -XDsuppressNotes --add-modules=jdk.incubator.vector -d "$tmp/gemm" -cp "$cp" \
  "$tmp"/gemm-src/*.java 2> >(grep -v 'incubator' >&2)

echo "== GEMMs: this tree's JavaGemm against $against's (column 'JavaGemm before'), one JVM"
run "$tmp/gemm:$cp" dev.batchrpc.compute.bench.FreshMachineGemm "$seconds"
echo
echo "== ClassificationTask.step() and load(): JVMs alternating, $rounds pairs"
for i in $(seq 1 "$rounds"); do
  echo "-- pair $i: $against"
  run "$tmp/old:$cp" dev.batchrpc.trainer.TrainerStepBench whole "$seconds"
  echo "-- pair $i: this tree"
  run "$cp" dev.batchrpc.trainer.TrainerStepBench whole "$seconds"
done
