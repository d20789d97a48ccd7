#!/usr/bin/env bash
# The GPU device check, run from the bundle built by scripts/gpu-check.sh:  bash .gpu-bundle/run.sh
# Needs nothing but this folder (its own Java runtime, unpacked on first use with xz or Python's
# lzma into $BUNDLE_WORK, default /tmp/batchrpc-gpu-bundle) and, for the GPU part, an NVIDIA driver
# and cuBLAS (libcublas.so.13, e.g. from the Python wheel nvidia-cublas). Writes $OUT/<step>.log for
# every step, $OUT/report.md and the benches' CSV ($OUT default: /tmp/batchrpc-gpu-check-out).
#
# Steps, each with its own time limit; a failing step does not stop the later ones:
#   gpu-basics, probe, gpu-tests (parity), gpu-bench (kernels)       compute's GPU check
#   version, demo-cuda                                               the suite on the GPU
#   rl-cuda, rl-cpu              bench rl, world sizes 2..11, one process, batch and non-batch
#   rl-scale-cuda, rl-scale-cpu  bench rl, 10 / 100 / 1,000 / 10,000 observers in one process
#   ps-cuda, ps-cpu              bench ps, trainers in one process and as processes
#   soak-cuda                    bench soak for 60 s
# The whole run keeps within BUDGET_S seconds (default 510: a device command may run 10 minutes); a
# step that no longer fits is SKIPPED. Exit code: 0 when every step passed, 1 otherwise.
set -u

HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-${TMPDIR:-/tmp}/batchrpc-gpu-check-out}"
mkdir -p "$OUT"
export OUT
# the payload is unpacked outside the bundle, which must stay small enough to carry
WORK="${BUNDLE_WORK:-${TMPDIR:-/tmp}/batchrpc-gpu-bundle}"
BUDGET_S="${BUDGET_S:-510}"
T0="$(date +%s)"
JAVA="$WORK/jre/bin/java"
SUITE="$WORK/lib/batch-rpc.jar"
# compute's test classes run against the suite's jar (compute and its dependencies are in it); set
# again in each step (this script run with --step), after the unpacking
CP="$SUITE:$(ls "$WORK"/lib/*.jar 2>/dev/null | grep -v -e junit-platform-console-standalone -e batch-rpc.jar | tr '\n' ':')"
HEAP=(-Xmx8g)
JOPTS=("${HEAP[@]}" -XX:+ExitOnOutOfMemoryError --add-modules=jdk.incubator.vector -Djava.util.logging.ConsoleHandler.level=INFO)
# OpenBLAS's own threads fight the round's workers (see the batch-rpc launcher): one unless told otherwise
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
SUMMARY=()
failed=0

say() { echo "==> [$(date +%H:%M:%S) +$(( $(date +%s) - T0 ))s] $*"; }

# The suite as the batch-rpc launcher starts it, on this runtime: with the flags every child JVM of a
# bench gets too (runtime's JvmFlags.COMMON, written into the payload by scripts/gpu-check.sh).
suite() {
  local flags
  mapfile -t flags < "$WORK/jvm-flags" || return 1
  "$JAVA" "${HEAP[@]}" "${flags[@]}" -Dbatchrpc.launcher=batch-rpc -jar "$SUITE" "$@" \
    2> >(grep -v --line-buffered 'Using incubator modules' >&2)
}

# step NAME LIMIT_S MIN_S COMMAND...: runs COMMAND (a function or program) into $OUT/NAME.log within
# LIMIT_S seconds or what is left of the budget, whichever is less (SKIPPED when under MIN_S); its
# last lines go to the console, its status, seconds and note to the summary.
step() {
  local name="$1" limit="$2" min="$3"; shift 3
  local left=$(( BUDGET_S - ($(date +%s) - T0) ))
  [ "$limit" -le "$left" ] || limit="$left"
  if [ "$limit" -lt "$min" ]; then
    say "$name: SKIPPED (${left}s of the ${BUDGET_S}s budget left, it needs ${min}s)"
    SUMMARY+=("$name|SKIPPED|0|budget: ${left}s left, needs ${min}s")
    failed=1
    return
  fi
  say "$name (limit ${limit}s): $*"
  local s0; s0="$(date +%s)"
  # this script again, in step mode (timeout runs programs, not functions); timeout signals its
  # whole process group: a bench's child JVMs go with it
  timeout --kill-after=10 "$limit" bash "$HERE/run.sh" --step "$@" > "$OUT/$name.log" 2>&1 < /dev/null
  local rc=$?
  local secs=$(( $(date +%s) - s0 )) status note=""
  # the step's table (SHOW: a sed range) when it passed, else its last lines
  if [ "$rc" -eq 0 ] && [ -n "${SHOW:-}" ]; then sed -n "$SHOW" "$OUT/$name.log"; else tail -n "${TAIL:-12}" "$OUT/$name.log"; fi \
    | sed 's/^/    /'
  case "$rc" in
    0) status=ok; note="$(figure "$name" 2>/dev/null)" ;;
    124|137) status=TIMEOUT; note="killed after ${limit}s: $(reason "$OUT/$name.log")" ;;
    *) status=FAILED; note="exit $rc: $(reason "$OUT/$name.log")" ;;
  esac
  [ "$rc" -eq 0 ] || failed=1
  # JCuda's long form of "no driver" shortened to the library that is missing
  note="$(echo "$note" | sed -E 's/libJCudaDriver[^ ]* could not be loaded \(java.lang.UnsatisfiedLinkError: [^:]*: ([^)]*)\)/\1/; s/; $//' \
    | tr -d '\r|' | cut -c1-170)"
  say "$name: $status (${secs}s)"
  SUMMARY+=("$name|$status|$secs|$note")
}

# Why a step failed, in one line: the CLI's error ("batch-rpc bench rl: --device cuda: CUDA driver
# missing: libcuda.so.1: ..."), a check's own verdict, else the first error or the last line.
reason() {
  local pat why
  for pat in '--device cuda: ' '^batch-rpc [a-z ]*: ' 'CUDA unavailable: ' 'GPU TESTS|GPU STEP FAILED|nvidia-smi not found' \
             'Exception|ERROR|Error:|FAIL'; do
    why="$(grep -m1 -E -e "$pat" "$1")" && break
  done
  [ -n "$why" ] || why="$(tail -n 1 "$1")"
  echo "$why"
}

# The headline figure of a step that passed, for the summary.
figure() {
  local log="$OUT/$1.log" f
  case "$1" in
    gpu-tests) grep -Eo '[0-9]+ tests successful' "$log" | tail -1 ;;
    gpu-bench) grep -m1 'PS averageAndSgd' "$log" | grep -Eo '[0-9.]+ ms/round' | head -1 | sed 's/^/PS round /' ;;
    version) grep -m1 -Eo 'device auto -> [a-z]+ \([^;]*' "$log" ;;
    demo-cuda) grep -m1 -E '^ *agent ' "$log" | sed -E 's/^ *//' ;;
    rl-cuda|rl-cpu) awk -F', ' '$1 == 11 {printf "ws 11: batch %s, non-batch %s actions/s: x_batch %s", $9, $10, $11}' "$log" ;;
    rl-scale-*) awk -F', ' '$1 == 10001 {printf "10,000 observers: batch %s, non-batch %s actions/s", $9, $10}' "$log" ;;
    ps-*) for f in "$OUT/$1"/ps-*.csv; do
            [ -f "$f" ] && awk -F, -v ms="$(col "$f" ms_per_round)" '$1 == "replay" {printf "replay %s %s ms/round; ", $2, $ms}' "$f"
          done ;;
    soak-*) grep -m1 '^verdict:' "$log" ;;
  esac
}

# column NAME of a CSV's header -> its number (the columns before a quoted free-text one are safe to split)
col() { head -1 "$1" | tr ',' '\n' | grep -n -x "$2" | cut -d: -f1; }

unpack() {  # into $WORK, unless this very payload is there already
  local stamp
  stamp="$(stat -c '%s %Y' "$HERE/payload.tar.xz")" || return 1
  [ -x "$JAVA" ] && [ "$(cat "$WORK/.payload" 2>/dev/null)" = "$stamp" ] && return 0
  echo "unpacking $HERE/payload.tar.xz into $WORK"
  rm -rf "$WORK" && mkdir -p "$WORK" || return 1
  if command -v xz >/dev/null 2>&1 && command -v tar >/dev/null 2>&1 \
      && xz -dc "$HERE/payload.tar.xz" | tar -xf - -C "$WORK"; then
    :
  else
    echo "(no xz/tar, or they failed: Python's lzma)"
    /usr/bin/env python3 -c '
import sys, tarfile
with tarfile.open(sys.argv[1], "r:xz") as t:
    t.extractall(sys.argv[2], **({"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}))
' "$HERE/payload.tar.xz" "$WORK" || return 1
  fi
  echo "$stamp" > "$WORK/.payload"
}

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

gpu_basics() {
  echo "bundle commit: $(cat "$HERE/COMMIT" 2>/dev/null || echo unknown); $(nproc) cores; $(date -u +%FT%TZ)"
  "$JAVA" -version 2>&1 | head -1
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=index,name,driver_version,memory.total,clocks.max.memory,clocks.max.sm,pcie.link.gen.max,pcie.link.width.max --format=csv \
      || echo "nvidia-smi query failed"
    nvidia-smi 2>&1 | head -12
  else
    echo "nvidia-smi not found: no NVIDIA driver on this machine?"
  fi
  echo "cuBLAS: ${BATCHRPC_CUBLAS_PATH:-not found (Java will still search its own list, including .so.12)}"
  command -v nvidia-smi >/dev/null 2>&1
}

probe() {
  "$JAVA" "${JOPTS[@]}" -cp "$CP" dev.batchrpc.compute.cuda.ProbeMain || {
    echo "GPU STEP FAILED: CUDA is not usable here (reason above)"; return 1; }
}

gpu_tests() {
  local console tests
  console="$(ls "$WORK"/lib/junit-platform-console-standalone-*.jar | head -1)"
  "$JAVA" "${JOPTS[@]}" -jar "$console" execute --class-path "$CP" --scan-class-path "$WORK/lib/compute-tests.jar" \
    --include-tag gpu --reports-dir "$OUT/junit-gpu" --details=tree --disable-banner --disable-ansi-colors
  local rc=$?
  tests="$(grep -Eo '[0-9]+ tests successful' "$OUT/gpu-tests.log" | grep -Eo '^[0-9]+' | tail -1)"
  echo "GPU TESTS: launcher exit $rc, ${tests:-0} successful"
  # without a GPU the gpu tests skip themselves: that is not a pass
  [ "$rc" -eq 0 ] && [ "${tests:-0}" -gt 0 ]
}

gpu_bench() {
  "$JAVA" "${JOPTS[@]}" -cp "$CP" dev.batchrpc.compute.cuda.GpuBench --out "$OUT" || return 1
  # it measures the CPU without a GPU: that is not a pass of the GPU check
  ! grep -q '^GPU part skipped' "$OUT/gpu-bench.log" || { echo "GPU STEP FAILED: GpuBench skipped its GPU part"; return 1; }
}

rl() {  # rl DEVICE OUT_SUBDIR ARGS...
  local device="$1" dir="$2"; shift 2
  # two runs per mode, as the bundle was sized (the default is 4)
  suite bench rl --device "$device" --deployments inproc --repeats 2 --out "$OUT/$dir" "$@"
}

ps_bench() {  # ps_bench DEVICE
  suite bench ps --device "$1" --models mlp,replay --modes inproc,procs --rounds 100 --replay-rounds 10 \
    --warmup 5 --loopback-reps 3 --out "$OUT/ps-$1"
}

if [ "${1:-}" = "--step" ]; then  # one step, run by step() under its time limit
  shift
  "$@"
  exit $?
fi

say "bundle: $HERE; reports: $OUT; budget ${BUDGET_S}s"
unpack || { echo "cannot unpack the payload"; exit 1; }
if CUBLAS_DIR="$(find_cublas)"; then
  export BATCHRPC_CUBLAS_PATH="$CUBLAS_DIR"
fi

step gpu-basics 60 5 gpu_basics
step probe 60 10 probe
TAIL=6 step gpu-tests 180 30 gpu_tests
TAIL=40 step gpu-bench 150 30 gpu_bench
step version 30 5 suite version
step demo-cuda 60 15 suite demo --device cuda --rounds 100 --episodes 3 --steps 200 --metrics-port -1
# the tutorial's run: 10 episodes x 500 steps, world sizes 2..11, batch and non-batch
TABLE='/^inproc (one process)/,/^$/p'
SHOW="$TABLE" step rl-cuda 120 30 rl cuda rl-cuda --world-sizes 2-11
SHOW="$TABLE" step rl-cpu 90 30 rl cpu rl-cpu --world-sizes 2-11
# the scale sweep: 10 / 100 / 1,000 / 10,000 observers, one episode of 20 steps (+1 warm-up)
SHOW="$TABLE" step rl-scale-cuda 120 30 rl cuda rl-scale-cuda --world-sizes 11,101,1001,10001 --episodes 1 --steps 20
SHOW="$TABLE" step rl-scale-cpu 90 30 rl cpu rl-scale-cpu --world-sizes 11,101,1001,10001 --episodes 1 --steps 20
TAIL=10 step ps-cuda 100 30 ps_bench cuda
TAIL=10 step ps-cpu 100 30 ps_bench cpu
TAIL=10 step soak-cuda 100 80 suite bench soak --device cuda --duration-s 60 --warmup-s 15 --sample-s 5 --out "$OUT/soak-cuda"

# ---- report -----------------------------------------------------------------------------------
rl_table() {  # $1: rl or rl-scale; its -cuda and -cpu runs side by side, actions/s
  local d f
  echo "| observers | cuda batch | cuda non-batch | cuda batch / non-batch | cpu batch | cpu non-batch | cpu batch / non-batch | batch cuda / cpu |"
  echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for d in cuda cpu; do
    f="$OUT/$1-$d/rl.csv"
    [ -f "$f" ] && tail -n +2 "$f" | awk -F, -v d="$d" '{print d, $2 - 1, $3, $NF}'
  done | awk '
    function v(k) { return (k in a) ? a[k] : "-" }
    function r(x, y) { return ((x in a) && (y in a) && a[y] > 0) ? sprintf("%.2f", a[x] / a[y]) : "-" }
    { n[$2] = 1; a[$1 " " $2 " " $3] = $4 }
    END { for (o in n) printf "| %d | %s | %s | %s | %s | %s | %s | %s |\n", o, v("cuda " o " batch"),
          v("cuda " o " nobatch"), r("cuda " o " batch", "cuda " o " nobatch"), v("cpu " o " batch"),
          v("cpu " o " nobatch"), r("cpu " o " batch", "cpu " o " nobatch"), r("cuda " o " batch", "cpu " o " batch") }' \
  | sort -t'|' -k2,2n
}
ps_table() {
  local kernel f
  kernel="$(grep -s '^cuda.*,PS averageAndSgd,' "$OUT/gpu-bench.csv" | grep -Eo '[0-9.]+ ms/round' | cut -d' ' -f1)"
  echo "kernel-only PS round on the GPU (GpuBench averageAndSgd, 5 x 23,569,502): ${kernel:+$kernel ms}${kernel:-not measured}"
  echo
  echo "| model | mode | device | ms/round | rounds/s |"
  echo "| --- | --- | --- | ---: | ---: |"
  for f in "$OUT"/ps-cuda/ps-*.csv "$OUT"/ps-cpu/ps-*.csv; do
    [ -f "$f" ] || continue
    local ms rs dev
    ms="$(col "$f" ms_per_round)"; rs="$(col "$f" rounds_per_s)"
    dev="$(basename "$(dirname "$f")" | sed 's/^ps-//')"
    tail -n +2 "$f" | awk -F, -v ms="$ms" -v rs="$rs" -v d="$dev" '{printf "| %s | %s | %s | %s | %s |\n", $1, $2, d, $ms, $rs}'
  done
}
{
  echo "# GPU device check: the suite on the GPU"
  echo
  echo "bundle $(cat "$HERE/COMMIT" 2>/dev/null || echo unknown); $(nproc) cores;" \
    "$(command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1 || echo 'no nvidia-smi');" \
    "$(date -u +%FT%TZ); ${BUDGET_S}s budget, $(( $(date +%s) - T0 ))s used"
  echo
  echo "| step | status | s | note |"
  echo "| --- | --- | ---: | --- |"
  for r in "${SUMMARY[@]}"; do echo "| ${r//|/ | } |"; done
  echo
  echo "## bench rl, world sizes 2..11, one process (10 episodes x 500 steps): actions/s"
  echo; rl_table rl
  echo
  echo "## bench rl, 10 to 10,000 observers in one process (1 episode x 20 steps): actions/s"
  echo; rl_table rl-scale
  echo
  echo "## bench ps (5 trainers; mlp 100 rounds, replay 23,569,502 parameters 10 rounds)"
  echo; ps_table
  echo
  echo "## bench soak --device cuda (60 s)"
  echo; echo '```'; tail -n 12 "$OUT/soak-cuda.log" 2>/dev/null; echo '```'
  echo
  echo "Every step's output: \$OUT/<step>.log; CSV: \$OUT/rl-*/, \$OUT/ps-*/, \$OUT/soak-cuda/, gpu-bench.csv."
} > "$OUT/report.md"

echo
say "summary ($OUT/report.md)"
printf '%-14s %-8s %5s  %s\n' step status s note
for r in "${SUMMARY[@]}"; do
  IFS='|' read -r n st s note <<< "$r"
  printf '%-14s %-8s %5s  %s\n' "$n" "$st" "$s" "$note"
done
exit "$failed"
