#!/usr/bin/env bash
# The GPU device check, run from the bundle built by scripts/gpu-check.sh:  bash .gpu-bundle/run.sh
# Needs nothing but this folder (its own Java runtime) and, for the GPU part, an NVIDIA driver and
# cuBLAS (libcublas.so.13, e.g. from the Python wheel nvidia-cublas). Writes reports to $OUT.
#
# Steps (a failing step does not stop the later ones):
#   1. nvidia-smi basics   2. locate cuBLAS   3. probe CUDA from Java
#   4. the gpu-tagged JUnit tests (reports in $OUT/junit-gpu)   5. GpuBench ($OUT/gpu-bench.csv)
# Exit code: 0 when the probe succeeded and the gpu tests ran and passed; 1 otherwise.
set -u

HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-$HERE/out}"
mkdir -p "$OUT"
JAVA="$HERE/jre/bin/java"
CP="$HERE/lib/*"
JOPTS=(-Xmx8g -XX:+ExitOnOutOfMemoryError --add-modules=jdk.incubator.vector -Djava.util.logging.ConsoleHandler.level=INFO)
export OUT
tests_ok=0
probe_ok=0

step() { echo; echo "==> [$(date +%H:%M:%S)] $*"; }

step "1/5 GPU basics (nvidia-smi)"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=index,name,driver_version,memory.total,clocks.max.memory,clocks.max.sm,pcie.link.gen.max,pcie.link.width.max --format=csv \
    || echo "nvidia-smi query failed"
  nvidia-smi 2>&1 | head -12
else
  echo "nvidia-smi not found: no NVIDIA driver on this machine?"
fi
echo "bundle commit: $(cat "$HERE/COMMIT" 2>/dev/null || echo unknown)"
"$JAVA" -version 2>&1 | head -1

step "2/5 locating libcublas.so.13 (then .so.12)"
find_cublas() {
  local d
  if [ -n "${BATCHRPC_CUBLAS_PATH:-}" ]; then echo "$BATCHRPC_CUBLAS_PATH"; return 0; fi
  for d in /usr/local/lib/python3*/dist-packages /usr/local/lib/python3*/site-packages \
           /usr/lib/python3*/dist-packages /usr/lib/python3/dist-packages /opt/conda/lib/python3*/site-packages \
           "$HOME"/.local/lib/python3*/site-packages; do
    for sub in nvidia/cublas/lib nvidia/cu13/lib nvidia/*/lib; do
      for lib in "$d"/$sub/libcublas.so.13; do
        [ -f "$lib" ] && { dirname "$lib"; return 0; }
      done
    done
  done
  if command -v python3 >/dev/null 2>&1; then
    d="$(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__))' 2>/dev/null)"
    [ -n "$d" ] && [ -f "$d/lib/libcublas.so.13" ] && { echo "$d/lib"; return 0; }
    # CUDA 13 wheels may install under nvidia/cu13 (a namespace package: use __path__)
    d="$(python3 -c 'import nvidia, glob; print("\n".join(p for n in nvidia.__path__ for p in glob.glob(n + "/*/lib/libcublas.so.13*")))' 2>/dev/null | head -1)"
    [ -n "$d" ] && { dirname "$d"; return 0; }
  fi
  for d in /usr/local/cuda*/lib64 /usr/local/cuda*/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu; do
    [ -f "$d/libcublas.so.13" ] && { echo "$d"; return 0; }
  done
  echo "   (not in the usual places; searching the whole file system, up to 45 s)" >&2
  d="$(timeout 45 find / \( -path /proc -o -path /sys -o -path /dev \) -prune -o \
        \( -name 'libcublas.so.13' -o -name 'libcublas.so.13.*' \) -print 2>/dev/null | head -1)"
  [ -n "$d" ] && { dirname "$d"; return 0; }
  return 1
}
if CUBLAS_DIR="$(find_cublas)"; then
  echo "cuBLAS folder: $CUBLAS_DIR"
  ls -l "$CUBLAS_DIR"/libcublas*.so* 2>/dev/null | head -6
  export BATCHRPC_CUBLAS_PATH="$CUBLAS_DIR"
else
  echo "libcublas.so.13 not found (Java will still search its own list, including .so.12)"
fi

step "3/5 probing CUDA from Java"
"$JAVA" "${JOPTS[@]}" -cp "$CP" dev.batchrpc.compute.cuda.ProbeMain 2>&1 | tee "$OUT/probe.txt"
probe_rc=${PIPESTATUS[0]}
if [ "$probe_rc" -eq 0 ]; then
  probe_ok=1
else
  echo "GPU STEP FAILED: CUDA is not usable here (probe exit $probe_rc, reason above)."
  echo "The gpu tests below will skip themselves; the CPU comparison still runs."
fi

step "4/5 gpu-tagged tests (JUnit console launcher; reports in $OUT/junit-gpu)"
CONSOLE="$(ls "$HERE"/lib/junit-platform-console-standalone-*.jar | head -1)"
TEST_CP="$(ls "$HERE"/lib/*.jar | grep -v junit-platform-console-standalone | tr '\n' ':')"
"$JAVA" "${JOPTS[@]}" -jar "$CONSOLE" execute \
  --class-path "$TEST_CP" --scan-class-path "$(ls "$HERE"/lib/compute-*-tests.jar "$HERE"/lib/compute-tests.jar 2>/dev/null | head -1)" \
  --include-tag gpu --reports-dir "$OUT/junit-gpu" --details=tree --disable-banner \
  2>&1 | tee "$OUT/junit-gpu.txt"
test_rc=${PIPESTATUS[0]}
succeeded="$(grep -Eo '[0-9]+ tests successful' "$OUT/junit-gpu.txt" | grep -Eo '^[0-9]+' | tail -1)"
if [ "$test_rc" -eq 0 ] && [ "$probe_ok" -eq 1 ] && [ "${succeeded:-0}" -gt 0 ]; then
  tests_ok=1
  echo "GPU TESTS PASSED ($succeeded tests)"
else
  echo "GPU TESTS NOT PASSED (launcher exit $test_rc, ${succeeded:-0} successful, probe ok=$probe_ok)"
fi

step "5/5 benchmark (GPU when usable, then CPU for comparison; $OUT/gpu-bench.csv)"
"$JAVA" "${JOPTS[@]}" -cp "$CP" dev.batchrpc.compute.cuda.GpuBench --out "$OUT" 2>&1 | tee "$OUT/gpu-bench.txt"
bench_rc=${PIPESTATUS[0]}
[ "$bench_rc" -eq 0 ] || echo "BENCHMARK HAD A FAILING PART (exit $bench_rc; see above)"

step "summary"
echo "probe: $([ $probe_ok -eq 1 ] && echo OK || echo FAILED)   gpu tests: $([ $tests_ok -eq 1 ] && echo PASSED || echo NOT PASSED)   bench exit: $bench_rc"
echo "reports in $OUT: probe.txt junit-gpu.txt junit-gpu/ gpu-bench.txt gpu-bench.csv"
[ "$tests_ok" -eq 1 ] && exit 0 || exit 1
