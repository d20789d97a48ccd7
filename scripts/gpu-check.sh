#!/usr/bin/env bash
# Builds the self-contained GPU check bundle `.gpu-bundle/` (git-ignored) and, with --run, runs it.
#
#   scripts/gpu-check.sh             build the bundle here (needs Maven + this machine's JDK 17)
#   scripts/gpu-check.sh --no-build  the same from the jars already in suite/target and compute/target
#   scripts/gpu-check.sh --run       build it, then run it here (dry run: no GPU -> every GPU step fails
#                                    with a clear message, the CPU steps run; reports in out/gpu-check)
#   bash .gpu-bundle/run.sh          on the GPU machine (no Java, Maven or network needed there)
#
# The bundle is run.sh, COMMIT and payload.tar.xz: a jlink'ed Java runtime (uncompressed, so xz
# packs it well; the modules jdeps finds plus those loaded reflectively or named by the suite's JVM
# flags), the suite's fat jar stored uncompressed without JCuda's unused natives (libJNvPTXCompiler
# alone is 24 MB), the compute test classes with their test-only dependencies, the JUnit console
# launcher, and the suite's JVM flags (jvm-flags). run.sh unpacks it with xz (or Python's lzma) on
# first use. It must stay under 62 MiB (the device's limit for everything carried is 64 MiB).
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUNDLE="$ROOT/.gpu-bundle"
M2="${MAVEN_REPO:-$HOME/.m2/repository}"
CONSOLE_VERSION=1.14.1
CONSOLE_JAR="$M2/org/junit/platform/junit-platform-console-standalone/$CONSOLE_VERSION/junit-platform-console-standalone-$CONSOLE_VERSION.jar"
LIMIT_MIB=62
BUILD=1
RUN=0
for a in "$@"; do
  case "$a" in
    --run) RUN=1 ;;
    --no-build) BUILD=0 ;;
    *) echo "usage: scripts/gpu-check.sh [--no-build] [--run]" >&2; exit 2 ;;
  esac
done

step() { echo; echo "==> $*"; }
die() { echo "gpu-check: ERROR: $*" >&2; exit 1; }

cd "$ROOT" || die "cannot cd to $ROOT"
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT

if [ "$BUILD" -eq 1 ]; then
  step "building the suite's fat jar and compute's test classes: mvn -pl suite,compute -am package -DskipTests"
  mvn -B -ntp -q -o -pl suite,compute -am package -DskipTests || mvn -B -ntp -q -pl suite,compute -am package -DskipTests \
    || die "maven build failed"
fi
FAT="$ROOT/suite/target/batch-rpc.jar"
[ -f "$FAT" ] || die "missing $FAT (run without --no-build)"

step "resolving the JUnit console launcher $CONSOLE_VERSION"
if [ ! -f "$CONSOLE_JAR" ]; then
  mvn -B -ntp -q dependency:get -Dartifact="org.junit.platform:junit-platform-console-standalone:$CONSOLE_VERSION" \
    || die "cannot fetch junit-platform-console-standalone $CONSOLE_VERSION"
fi

step "compute's test-only dependencies (its runtime ones are in the fat jar)"
classpath() {  # $1: scope -> one jar a line
  mvn -B -ntp -q -o -pl compute dependency:build-classpath -DincludeScope="$1" -Dmdep.outputFile="$STAGE/cp-$1" \
    || mvn -B -ntp -q -pl compute dependency:build-classpath -DincludeScope="$1" -Dmdep.outputFile="$STAGE/cp-$1" \
    || die "dependency:build-classpath ($1) failed"
  tr ':' '\n' < "$STAGE/cp-$1" | grep -v '^$' | sort
}
mkdir -p "$STAGE/payload/lib"
unzip -Z1 "$FAT" > "$STAGE/fat-entries"
comm -13 <(classpath runtime) <(classpath test) | while read -r jar; do
  case "$(basename "$jar")" in
    # not needed to run the tests or the benchmark on the GPU machine
    jmh-*|jopt-simple-*|commons-math3-*|*-sources.jar) continue ;;
    # already inside junit-platform-console-standalone (duplicates would shadow each other)
    junit-jupiter*|junit-platform-*|opentest4j-*|apiguardian-*) continue ;;
  esac
  # already in the fat jar (the suite needs it too, e.g. Jackson)
  pom="$(unzip -Z1 "$jar" 'META-INF/maven/*/pom.properties' 2>/dev/null | head -1)"
  if [ -n "$pom" ] && grep -qxF "$pom" "$STAGE/fat-entries"; then
    echo "  $(basename "$jar"): in the suite's jar"
    continue
  fi
  echo "  $(basename "$jar")"
  cp "$jar" "$STAGE/payload/lib/"
done
cp compute/target/compute-*-tests.jar "$STAGE/payload/lib/compute-tests.jar" || die "compute's test jar missing"
cp "$CONSOLE_JAR" "$STAGE/payload/lib/"

step "the suite's jar, stored uncompressed, without JCuda's unused natives"
mkdir "$STAGE/fat"
(cd "$STAGE/fat" && unzip -q "$FAT") || die "cannot unpack $FAT"
# CudaRuntime loads only the driver binding and JCublas2 (the GPU tests pass without the rest)
(cd "$STAGE/fat/lib" && ls libJNvPTXCompiler-* libJNvrtc-* libJCudaRuntime-* libJCublas-* 2>/dev/null \
  | sed 's/^/  left out: lib\//' && rm -f libJNvPTXCompiler-* libJNvrtc-* libJCudaRuntime-* libJCublas-*)
# a module descriptor some dependency ships under META-INF/versions: ignored on the class path, but
# it makes jdeps take the whole jar for that one module
find "$STAGE/fat/META-INF/versions" -name module-info.class -delete 2>/dev/null
jar --create --no-compress --file "$STAGE/payload/lib/batch-rpc.jar" --manifest "$STAGE/fat/META-INF/MANIFEST.MF" \
  -C "$STAGE/fat" . || die "cannot repack the suite's jar"

step "the suite's JVM flags (runtime's JvmFlags.COMMON, as the launcher passes them)"
java -cp "$FAT" dev.batchrpc.runtime.process.JvmFlags > "$STAGE/payload/jvm-flags" && [ -s "$STAGE/payload/jvm-flags" ] \
  || die "cannot print the JVM flags"
paste -sd' ' "$STAGE/payload/jvm-flags"

step "choosing the Java modules (jdeps)"
MODS="$( { jdeps --multi-release 17 --ignore-missing-deps --print-module-deps "$STAGE/fat" 2>/dev/null | tail -1
  # one jar at a time: jdeps refuses a class path where two jars split a package
  for j in "$STAGE"/payload/lib/*.jar; do
    case "$j" in */batch-rpc.jar) continue ;; esac
    jdeps --multi-release 17 --ignore-missing-deps --print-module-deps "$j" 2>/dev/null | tail -1
  done; } | grep -E '^[a-z.,]+$' | tr ',' '\n' | sort -u | paste -sd, -)"
echo "jdeps: ${MODS:-<none>}"
rm -rf "$STAGE/fat"
# Named by the JVM flags (--add-modules, and the modules of --add-opens and --add-exports);
# loaded reflectively: Unsafe users, the console launcher's zip file systems, the EC ciphers of TLS.
FLAG_MODS="$(sed -nE 's/^--add-modules=//p; s#^--add-(opens|exports)=([^/]+)/.*#\2#p' "$STAGE/payload/jvm-flags" | paste -sd, -)"
MODS="$(echo "${MODS:+$MODS,}${FLAG_MODS:+$FLAG_MODS,}jdk.unsupported,jdk.zipfs,jdk.crypto.ec" | tr ',' '\n' | sort -u \
  | paste -sd, -)"
echo "modules: $MODS"

step "jlink: a trimmed Java runtime (uncompressed: xz packs it far better than jlink's zip)"
jlink --add-modules "$MODS" --strip-debug --no-man-pages --no-header-files --compress=0 \
  --output "$STAGE/payload/jre" || die "jlink failed"

step "packing (tar | xz -9)"
rm -rf "$BUNDLE"
mkdir -p "$BUNDLE"
tar -C "$STAGE/payload" -cf - jre lib jvm-flags | xz -9 -T1 > "$BUNDLE/payload.tar.xz" || die "packing failed"
cp "$ROOT/scripts/gpu/run.sh" "$BUNDLE/run.sh" && chmod +x "$BUNDLE/run.sh"
git rev-parse --short HEAD > "$BUNDLE/COMMIT" 2>/dev/null || true

step "bundle size"
du -sh "$STAGE/payload/jre" "$STAGE/payload/lib"
ls -l "$STAGE/payload/lib" | awk 'NR > 1 {printf "  %10d  %s\n", $5, $9}'
ls -l "$BUNDLE"
SIZE_KIB="$(du -sk "$BUNDLE" | cut -f1)"
echo "total: $(awk -v k="$SIZE_KIB" 'BEGIN {printf "%.1f", k / 1024}') MiB (limit $LIMIT_MIB MiB)"
[ "$SIZE_KIB" -le $((LIMIT_MIB * 1024)) ] || die "bundle is over $LIMIT_MIB MiB"

if [ "$RUN" -eq 1 ]; then
  step "dry run of the bundle here"
  OUT="${OUT:-$ROOT/out/gpu-check}" bash "$BUNDLE/run.sh"
  exit $?
fi
echo "bundle ready: run 'bash .gpu-bundle/run.sh' on the GPU machine (reports go to \$OUT)"
