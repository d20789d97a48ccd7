#!/usr/bin/env bash
# Builds the self-contained GPU check bundle `.gpu-bundle/` (git-ignored) and, with --run, runs it.
#
#   scripts/gpu-check.sh            build the bundle here (needs Maven + this machine's JDK 17)
#   scripts/gpu-check.sh --run      build it, then run it here (dry run: no GPU -> the GPU step
#                                   fails with a clear message, the CPU comparison still runs)
#   bash .gpu-bundle/run.sh         on the GPU machine (no Java, Maven or network needed there)
#
# The bundle: a jlink'ed Java runtime (only the modules jdeps finds, plus the ones loaded
# reflectively), the compute jars and their dependencies (JCuda natives trimmed to the driver
# binding), the test classes, the JUnit console launcher, and run.sh. It must stay under 60 MiB.
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUNDLE="$ROOT/.gpu-bundle"
M2="${MAVEN_REPO:-$HOME/.m2/repository}"
CONSOLE_VERSION=1.14.1
CONSOLE_JAR="$M2/org/junit/platform/junit-platform-console-standalone/$CONSOLE_VERSION/junit-platform-console-standalone-$CONSOLE_VERSION.jar"
LIMIT_MIB=60

step() { echo; echo "==> $*"; }
die() { echo "gpu-check: ERROR: $*" >&2; exit 1; }

cd "$ROOT" || die "cannot cd to $ROOT"

step "building compute (+ the modules it needs) and its test classes: mvn -pl compute -am package -DskipTests"
mvn -q -o -pl compute -am package -DskipTests || mvn -q -pl compute -am package -DskipTests \
  || die "maven build failed"

step "resolving the JUnit console launcher $CONSOLE_VERSION"
if [ ! -f "$CONSOLE_JAR" ]; then
  mvn -q dependency:get -Dartifact="org.junit.platform:junit-platform-console-standalone:$CONSOLE_VERSION" \
    || die "cannot fetch junit-platform-console-standalone $CONSOLE_VERSION"
fi

step "listing compute's runtime + test dependencies"
CPFILE="$(mktemp)"
mvn -q -o -pl compute dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$CPFILE" \
  || mvn -q -pl compute dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$CPFILE" \
  || die "dependency:build-classpath failed"

step "assembling $BUNDLE"
rm -rf "$BUNDLE"
mkdir -p "$BUNDLE/lib"
cp compute/target/compute-*-SNAPSHOT.jar "$BUNDLE/lib/" || die "compute jar missing"
if ls compute/target/compute-*-tests.jar >/dev/null 2>&1; then
  cp compute/target/compute-*-tests.jar "$BUNDLE/lib/"
else
  (cd compute/target/test-classes && jar cf "$BUNDLE/lib/compute-tests.jar" .) || die "no test classes"
fi
rm -f "$BUNDLE"/lib/compute-*-SNAPSHOT.jar.original
tr ':' '\n' < "$CPFILE" | while read -r jar; do
  [ -n "$jar" ] || continue
  base="$(basename "$jar")"
  case "$base" in
    # not needed to run the tests or the benchmark on the GPU machine
    jmh-*|jopt-simple-*|commons-math3-*|*-sources.jar) continue ;;
    # already inside junit-platform-console-standalone (duplicates would shadow each other)
    junit-jupiter*|junit-platform-*|opentest4j-*|apiguardian-*) continue ;;
    jcuda-natives-*)
      # keep only the driver binding: NVPTXCompiler/NVRTC/Runtime natives are unused (24 MB)
      tmp="$(mktemp -d)"
      (cd "$tmp" && unzip -q "$jar" && rm -f lib/libJNvPTXCompiler-* lib/libJNvrtc-* lib/libJCudaRuntime-* \
        && jar cfM "$BUNDLE/lib/$base" .) || die "cannot trim $base"
      rm -rf "$tmp"
      continue ;;
    jcublas-natives-*)
      tmp="$(mktemp -d)"
      (cd "$tmp" && unzip -q "$jar" && rm -f lib/libJCublas-* && jar cfM "$BUNDLE/lib/$base" .) \
        || die "cannot trim $base"
      rm -rf "$tmp"
      continue ;;
  esac
  cp "$jar" "$BUNDLE/lib/"
done
rm -f "$CPFILE"
cp "$CONSOLE_JAR" "$BUNDLE/lib/"

step "choosing the Java modules (jdeps)"
# one jar at a time: jdeps refuses a class path where two jars split a package
MODS="$(for j in "$BUNDLE"/lib/*.jar; do
  jdeps --multi-release 17 --ignore-missing-deps --print-module-deps "$j" 2>/dev/null | tail -1 \
    | grep -E '^[a-z.,]+$'
done | tr ',' '\n' | sort -u | paste -sd, -)"
echo "jdeps: ${MODS:-<none>}"
# loaded reflectively or by name: the Vector API BLAS, Unsafe users, JCuda's java.util.logging,
# the console launcher's management beans, zip file systems for class-path scanning
MODS="${MODS:+$MODS,}jdk.incubator.vector,jdk.unsupported,java.logging,java.management,jdk.zipfs"
echo "modules: $MODS"

step "jlink: a trimmed Java runtime"
jlink --add-modules "$MODS" --strip-debug --no-man-pages --no-header-files --compress=2 \
  --output "$BUNDLE/jre" || die "jlink failed"

cp "$ROOT/scripts/gpu/run.sh" "$BUNDLE/run.sh" && chmod +x "$BUNDLE/run.sh"
git rev-parse --short HEAD > "$BUNDLE/COMMIT" 2>/dev/null || true

step "bundle size"
du -sh "$BUNDLE/jre" "$BUNDLE/lib"
SIZE_KIB="$(du -sk "$BUNDLE" | cut -f1)"
echo "total: $((SIZE_KIB / 1024)) MiB (limit $LIMIT_MIB MiB)"
[ "$SIZE_KIB" -le $((LIMIT_MIB * 1024)) ] || die "bundle is over $LIMIT_MIB MiB"

if [ "${1:-}" = "--run" ]; then
  step "dry run of the bundle here"
  OUT="${OUT:-$ROOT/out/gpu-check}" bash "$BUNDLE/run.sh"
  exit $?
fi
echo "bundle ready: run 'bash .gpu-bundle/run.sh' on the GPU machine (reports go to \$OUT)"
