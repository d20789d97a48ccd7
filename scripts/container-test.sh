#!/usr/bin/env bash
# The container test (part of './batch-rpc test', after 'mvn verify' built the jar): the image and
# docker-compose.yml run for real, with podman and podman-compose, as docs/deployment.md ("Run it
# with podman") tells users to run them.
#
#  1. images: a Debian base (debootstrap, kept in podman's image store and built only when absent),
#     a Java 17 runtime and Prometheus on it (deploy/podman/*.Containerfile, also kept), then the
#     batch-rpc image from deploy/docker/Dockerfile with RUNTIME_IMAGE=<that runtime> and
#     JAR=prebuilt (suite/target/batch-rpc.jar; no Maven inside), under a tag of this run only;
#  2. docker-compose.yml: ps, 2 trainers, agent, 2 observers and Prometheus (no Grafana); readiness
#     through the compose health check (podman healthcheck run); the ps's container is killed
#     (SIGKILL to its JVM) once it has checkpoints: podman's restart policy brings it back, it
#     restores its newest checkpoint from the volume, the trainers ride out the outage and finish
#     at model version BATCHES; the agent's episodes complete with observer indexes 0 and 1;
#     Prometheus, queried from the host, scraped every service;
#  3. docker-compose.yml + docker-compose.tls.yml: the certs service, then ps and 2 trainers over
#     TLS; the ps's data port does a TLS handshake only with a client certificate of the CA, and a
#     trainer container without the certificates never takes part in a round;
#  4. deploy/k8s: scripts/k8s-play.sh (podman kube play of the ps and a trainer).
# Everything this run made (containers, networks, volumes, its image) goes, pass or fail. Ports
# are published on 127.0.0.1 only, on free ports; project names are unique.
#
# It installs podman, podman-compose, runc and debootstrap (Debian packages) when root. It skips,
# saying why, only where no container engine can run; BATCHRPC_CONTAINER_TEST=require (.ci/run)
# turns that skip into a failure, BATCHRPC_CONTAINER_TEST=skip skips on purpose.
set -euo pipefail
# set -e ends the script at the first failing command, silently: say which.
trap 'rc=$?; echo "container-test: FAILED (exit $rc) at line $LINENO: $BASH_COMMAND" >&2' ERR
cd "$(dirname "$0")/.."
ROOT="$PWD"
START=$SECONDS

say() { echo "container-test: [$((SECONDS - START))s] $*"; }
fail() { echo "container-test: FAILED after $((SECONDS - START))s: $*" >&2; exit 1; }
skip() {
  [ "${BATCHRPC_CONTAINER_TEST:-}" = require ] && fail "the container test cannot run here ($*), and BATCHRPC_CONTAINER_TEST=require"
  echo "container-test: SKIPPED (the images, docker-compose.yml and deploy/k8s did not run): $*"
  exit 0
}

[ "${BATCHRPC_CONTAINER_TEST:-}" = skip ] && { echo "container-test: SKIPPED: BATCHRPC_CONTAINER_TEST=skip"; exit 0; }

# ---- the engine ---------------------------------------------------------------------------------
PACKAGES="podman podman-compose runc debootstrap"
if ! command -v podman >/dev/null || ! command -v podman-compose >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing $PACKAGES (Debian packages)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PACKAGES; } >/dev/null 2>&1 \
      || skip "could not install $PACKAGES"
  else
    skip "podman and podman-compose are not installed (apt-get install -y $PACKAGES)"
  fi
fi
# ulimits the host allows and runc (crun refuses hybrid cgroups): deploy/podman/containers.conf
export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/deploy/podman/containers.conf}"

JAR="$ROOT/suite/target/batch-rpc.jar"
[ -f "$JAR" ] || fail "$JAR is missing: build it first ('./batch-rpc build' or 'mvn package')"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# ---- base images (kept between runs) ----------------------------------------------------------
DEBIAN_IMAGE=localhost/debian:bookworm
# tagged with their Containerfile's hash: an edited Containerfile builds a new one
tag() { sha256sum "deploy/podman/$1.Containerfile" | cut -c1-12; }
JRE_IMAGE=localhost/batch-rpc-jre:17-$(tag jre)
PROMETHEUS_IMAGE=localhost/batch-rpc-prometheus:debian-$(tag prometheus)
if ! podman image exists "$DEBIAN_IMAGE"; then
  command -v debootstrap >/dev/null && [ "$(id -u)" = 0 ] \
    || skip "no $DEBIAN_IMAGE and no way to build it here (debootstrap as root)"
  # the mirror apt uses (no registry needed). grep exits 2 for a missing path (a machine with only
  # deb822 sources has no /etc/apt/sources.list), which set -e and pipefail made a silent exit 2.
  MIRROR=$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d 2>/dev/null \
    | awk '{print $2}' | head -1) || true
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
  say "building $DEBIAN_IMAGE (debootstrap --variant=minbase bookworm from $MIRROR, once)"
  ROOTFS=$(mktemp -d)
  debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" > "$ROOTFS.log" 2>&1 \
    || { tail -20 "$ROOTFS.log" >&2; rm -rf "$ROOTFS" "$ROOTFS.log"; fail "debootstrap failed"; }
  tar -C "$ROOTFS" -c . | podman import -q --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' - "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$ROOTFS" "$ROOTFS.log"
fi
if ! RUN_ERR=$(podman run --rm --network none "$DEBIAN_IMAGE" true 2>&1); then
  skip "podman cannot run a container here: $RUN_ERR"
fi
for pair in "$JRE_IMAGE:jre" "$PROMETHEUS_IMAGE:prometheus"; do
  image=${pair%:*}; file=${pair##*:}
  if ! podman image exists "$image"; then
    say "building $image (deploy/podman/$file.Containerfile, once)"
    podman build -q --build-arg DEBIAN_IMAGE="$DEBIAN_IMAGE" -f "deploy/podman/$file.Containerfile" \
      -t "$image" deploy/podman > "/tmp/$file-image.$$.log" 2>&1 \
      || { tail -20 "/tmp/$file-image.$$.log" >&2; rm -f "/tmp/$file-image.$$.log"; fail "could not build $image"; }
    rm -f "/tmp/$file-image.$$.log"
  fi
done

# ---- this run's image and cleanup ---------------------------------------------------------------
RUN_ID="brpc-ct-$$-$RANDOM"
IMAGE="localhost/batch-rpc-test:$RUN_ID"
PROJECTS=()
LOGS=$(mktemp -d)

dump() {  # the last lines of every container of a project (on failure)
  local c
  for c in $(podman ps -a --filter "label=io.podman.compose.project=$1" --format '{{.Names}}'); do
    echo "---- $c ($(podman inspect -f '{{.State.Status}} exit={{.State.ExitCode}} restarts={{.RestartCount}}' "$c" 2>/dev/null))" >&2
    podman logs "$c" 2>&1 | grep -v '^\s' | tail -15 | cut -c1-400 >&2
  done
}
cleanup() {
  local rc=$? p ids
  set +e
  trap - ERR
  for p in "${PROJECTS[@]}"; do
    [ $rc = 0 ] || dump "$p"
    ids=$(podman ps -aq --filter "label=io.podman.compose.project=$p")
    [ -z "$ids" ] || podman rm -f -t 1 $ids >/dev/null 2>&1
    ids=$(podman network ls -q --filter "label=io.podman.compose.project=$p")
    [ -z "$ids" ] || podman network rm -f $ids >/dev/null 2>&1
    ids=$(podman volume ls -q --filter "label=io.podman.compose.project=$p")
    [ -z "$ids" ] || podman volume rm -f $ids >/dev/null 2>&1
    left="$(podman ps -aq --filter "label=io.podman.compose.project=$p")$(podman network ls -q --filter "label=io.podman.compose.project=$p")$(podman volume ls -q --filter "label=io.podman.compose.project=$p")"
    [ -z "$left" ] || { echo "container-test: could not remove everything of $p" >&2; rc=1; }
  done
  podman rmi -f "$IMAGE" >/dev/null 2>&1
  rm -rf "$LOGS"
  [ $rc = 0 ] && say "cleaned up: no container, network or volume of this run is left"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
set -E
trap 'echo "container-test: FAILED after $((SECONDS - START))s: line $LINENO: $BASH_COMMAND" >&2' ERR

say "building $IMAGE (deploy/docker/Dockerfile, RUNTIME_IMAGE=$JRE_IMAGE, JAR=prebuilt)"
podman build -q -f deploy/docker/Dockerfile --build-arg RUNTIME_IMAGE="$JRE_IMAGE" --build-arg JAR=prebuilt \
  -t "$IMAGE" . > "$LOGS/build.log" 2>&1 || { tail -30 "$LOGS/build.log" >&2; fail "podman build failed"; }
[ "$(podman inspect -f '{{.Config.User}}' "$IMAGE")" = 10001 ] || fail "the image does not run as its user 10001"

# ---- helpers ------------------------------------------------------------------------------------
compose() { podman-compose -p "$PROJECT" "${FILES[@]}" "$@"; }
containers() {  # the containers of a service, by compose's labels
  podman ps -a --filter "label=io.podman.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | sort
}
one() { local c; c=$(containers "$1"); [ "$(echo "$c" | wc -w)" = 1 ] || fail "expected one $1 container, got: $c"; echo "$c"; }
healthy() { podman healthcheck run "$1" >/dev/null 2>&1; }  # the compose file's own health check
wait_for() {  # wait_for SECONDS WHAT COMMAND...
  local limit=$((SECONDS + $1)) what=$2; shift 2
  until "$@"; do
    [ $SECONDS -lt $limit ] || fail "timed out waiting for $what"
    sleep 1
  done
}
metric() {  # metric CONTAINER NAME{labels}: the sample's value (empty when absent)
  podman exec "$1" curl -fsS http://127.0.0.1:9400/metrics 2>/dev/null \
    | awk -v m="$2" '!found && index($0, m " ") == 1 {print $2; found = 1}'
}
at_least() { local v; v=$(metric "$1" "$2"); [ -n "$v" ] && awk -v v="$v" -v n="$3" 'BEGIN {exit !(v >= n)}'; }
exited() { [ "$(podman inspect -f '{{.State.Status}}' "$1")" = exited ]; }
all_exited() { local c; for c in "$@"; do exited "$c" || return 1; done; }
exit_code() { podman inspect -f '{{.State.ExitCode}}' "$1"; }
# logs_have CONTAINER... -- REGEX: whether their logs hold a line matching (no pipe into grep -q:
# with pipefail, grep's early exit would fail the pipeline)
logs_have() {
  local all="" c
  while [ "$1" != -- ]; do all+=$(podman logs "$1" 2>&1)$'\n'; shift; done
  grep -qE -- "$2" <<< "$all"
}
up() {
  compose up -d --no-build "$@" > "$LOGS/$PROJECT-up.log" 2>&1 || { tail -30 "$LOGS/$PROJECT-up.log" >&2; fail "podman-compose up $* failed"; }
}
prom() {  # prom QUERY: the result as "job count" lines
  curl -fsS --max-time 5 "http://127.0.0.1:$PROMETHEUS_PORT/api/v1/query" --data-urlencode "query=$1" \
    | python3 -c 'import json,sys; [print(r["metric"].get("job","-"), r["value"][1]) for r in json.load(sys.stdin)["data"]["result"]]'
}

export BATCHRPC_IMAGE="$IMAGE" DEVICE=cpu MEMBER_TIMEOUT_S=30 PROMETHEUS_IMAGE
# ==== 2. docker-compose.yml ======================================================================
PROJECT="$RUN_ID-plain"; PROJECTS+=("$PROJECT"); FILES=(-f docker-compose.yml)
export TRAINERS=2 OBSERVERS=2 BATCHES=300 CHECKPOINT_EVERY=20 EPISODES=40 STEPS=500
export PROMETHEUS_PORT=$(free_port) PS_GRPC_PORT=$(free_port) GRAFANA_PORT=$(free_port)
# All at once, as users run it. Up when the observers pass their health check and the trainers'
# rounds run (a checkpoint of version CHECKPOINT_EVERY). Seven JVMs starting on 2 cores that others
# load too can starve each other past the member timeout, and the cluster splits or a join hangs
# (a service then fails to start, "operation-heartbeat-timeout"); such a start is torn down and
# tried once more, saying so. Everything after it fails at once.
until_ok() { local limit=$((SECONDS + $1)); shift; until "$@"; do [ $SECONDS -lt $limit ] || return 1; sleep 1; done; }
all_healthy() { local c; for c in "$@"; do healthy "$c" || return 1; done; }
rounds_run() { ls "$(podman volume inspect -f '{{.Mountpoint}}' "${PROJECT}_ps-checkpoints")" 2>/dev/null \
  | grep -qE "^ps-0*([1-9][0-9]*)\.ckpt$"; }
WHY=""
bring_up() {
  say "docker-compose.yml: podman-compose -p $PROJECT up -d ps trainer agent observer prometheus (TRAINERS=2 OBSERVERS=2 BATCHES=$BATCHES CHECKPOINT_EVERY=$CHECKPOINT_EVERY EPISODES=$EPISODES; Prometheus on 127.0.0.1:$PROMETHEUS_PORT)"
  up ps trainer agent observer prometheus
  PS=$(one ps); PROM=$(one prometheus); AGENT=$(one agent)
  TRAINER_CS=($(containers trainer)); OBSERVER_CS=($(containers observer))
  [ ${#TRAINER_CS[@]} = 2 ] && [ ${#OBSERVER_CS[@]} = 2 ] || fail "expected 2 trainers and 2 observers: ${TRAINER_CS[*]} / ${OBSERVER_CS[*]}"
  for c in "$PS" "${TRAINER_CS[@]}" "$AGENT" "${OBSERVER_CS[@]}"; do
    [ "$(podman inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$c")" = true ] || fail "$c: root file system is not read-only"
  done
  [ "$(podman port "$PROM" 9090/tcp)" = "127.0.0.1:$PROMETHEUS_PORT" ] || fail "Prometheus is not published on 127.0.0.1 only: $(podman port "$PROM")"
  until_ok 150 healthy "$PS" || { WHY="the ps did not pass its health check (/health/ready) in 150 s"; return 1; }
  say "ps ready (its compose health check passed)"
  until_ok 150 rounds_run || { WHY="no round ran in 150 s after the ps was ready"; return 1; }
  say "the trainers' rounds run"
}
if ! bring_up; then
  say "RETRY: $WHY; the last lines of its containers follow, then a second start under another project"
  dump "$PROJECT"
  compose down -t 1 -v > "$LOGS/$PROJECT-down.log" 2>&1 || true
  PROJECT="$RUN_ID-plain2"; PROJECTS+=("$PROJECT")
  export PROMETHEUS_PORT=$(free_port) PS_GRPC_PORT=$(free_port) GRAFANA_PORT=$(free_port)
  bring_up || fail "$WHY (second start)"
fi

# Kill the ps mid-run, as soon as its checkpoint volume holds a checkpoint of version >=
# 2 * CHECKPOINT_EVERY (watched on the host, in the volume's directory: no exec in the way).
KILL_AT=$((2 * CHECKPOINT_EVERY))
VOLUME_DIR=$(podman volume inspect -f '{{.Mountpoint}}' "${PROJECT}_ps-checkpoints") || fail "no volume ${PROJECT}_ps-checkpoints"
PID=$(podman inspect -f '{{.State.Pid}}' "$PS")
newest() { ls "$VOLUME_DIR" 2>/dev/null | sed -n 's/^ps-0*\([0-9][0-9]*\)\.ckpt$/\1/p' | sort -n | tail -1; }
due() { local v; v=$(newest); [ -n "$v" ] && [ "$v" -ge $KILL_AT ]; }
limit=$((SECONDS + 60))
until due; do [ $SECONDS -lt $limit ] || fail "no checkpoint of version $KILL_AT in $VOLUME_DIR"; sleep 0.1; done
kill -9 "$PID"
CKPT=$(newest)
[ "$CKPT" -lt $((BATCHES - 2 * CHECKPOINT_EVERY)) ] || fail "the trainers were nearly done (checkpoint $CKPT of $BATCHES) at the kill: raise BATCHES"
say "killed the ps's JVM (SIGKILL to pid $PID); newest checkpoint on its volume: version $CKPT"
restarted() { [ "$(podman inspect -f '{{.RestartCount}}' "$PS")" -ge 1 ] && healthy "$PS"; }
wait_for 120 "$PS to be restarted (restart: unless-stopped) and ready again" restarted
RESTORED=$(podman logs "$PS" 2>&1 | grep -o 'restored version [0-9]* from ps-[0-9]*\.ckpt' | tail -1)
[ -n "$RESTORED" ] || fail "the restarted ps did not restore a checkpoint from its volume"
R=$(echo "$RESTORED" | awk '{print $3}')
[ "$R" -ge "$CKPT" ] || fail "the restarted ps restored version $R, older than the newest checkpoint at the kill ($CKPT)"
say "ps back after $(podman inspect -f '{{.RestartCount}}' "$PS") restart: $RESTORED"

wait_for 240 "the trainers to finish" all_exited "${TRAINER_CS[@]}"
for c in "${TRAINER_CS[@]}"; do
  [ "$(exit_code "$c")" = 0 ] || fail "$c exited with $(exit_code "$c")"
  logs_have "$c" -- "done: $BATCHES rounds" || fail "$c did not report 'done: $BATCHES rounds'"
  logs_have "$c" -- "rode out [1-9][0-9]* parameter-server outage" || fail "$c did not report riding out the ps's outage"
done
[ "$(metric "$PS" ps_model_version)" = "$BATCHES.0" ] || fail "model version $(metric "$PS" ps_model_version), expected $BATCHES"
say "both trainers finished $BATCHES rounds across the outage; the ps is at model version $BATCHES"

wait_for 180 "the agent to finish" exited "$AGENT"
[ "$(exit_code "$AGENT")" = 0 ] || fail "the agent exited with $(exit_code "$AGENT")"
logs_have "$AGENT" -- "done: $EPISODES episode\\(s\\)" || fail "the agent did not complete $EPISODES episodes"
for i in 0 1; do
  logs_have "${OBSERVER_CS[@]}" -- "observer observer-$i ready \\(index $i," \
    || fail "no observer claimed index $i"
done
say "the agent completed $EPISODES episodes with observers 0 and 1"

# Prometheus, inside the compose network, scraped every service (each target up at least once).
EXPECTED="agent 1
observer 2
ps 1
trainer 2"
scraped() { [ "$(prom 'count by (job) (max_over_time(up[15m]) == 1)' | sort)" = "$EXPECTED" ]; }
wait_for 30 "Prometheus to have scraped every service ($(prom 'count by (job) (max_over_time(up[15m]) == 1)' | tr '\n' ' '))" scraped
ROUNDS=$(prom 'max(max_over_time(ps_rounds_total{outcome="complete",round="update"}[15m]))' | awk '{print $2}')
[ -n "$ROUNDS" ] || fail "Prometheus has no ps_rounds_total"
say "Prometheus (127.0.0.1:$PROMETHEUS_PORT) scraped ps 1, trainer 2, agent 1, observer 2 targets; it stored ps_rounds_total (up to $ROUNDS in one life of the ps)"

compose down -t 1 -v > "$LOGS/$PROJECT-down.log" 2>&1 || fail "podman-compose down failed"
say "docker-compose.yml: passed"

# ==== 3. docker-compose.yml + docker-compose.tls.yml =============================================
PROJECT="$RUN_ID-tls"; PROJECTS+=("$PROJECT"); FILES=(-f docker-compose.yml -f docker-compose.tls.yml)
export TRAINERS=2 BATCHES=30
export PROMETHEUS_PORT=$(free_port) PS_GRPC_PORT=$(free_port) GRAFANA_PORT=$(free_port)
say "docker-compose.tls.yml: certs, then ps and 2 trainers over TLS (project $PROJECT)"
# podman-compose 1.0.3 ignores depends_on conditions: the certificates first, then create the rest
# (without restarting certs) and start them.
up certs
CERTS=$(one certs)
wait_for 60 "the certs service to finish" exited "$CERTS"
[ "$(exit_code "$CERTS")" = 0 ] || fail "certs exited with $(exit_code "$CERTS")"
compose up --no-start --no-build ps trainer > "$LOGS/$PROJECT-create.log" 2>&1 || true
compose start ps > "$LOGS/$PROJECT-start.log" 2>&1 || fail "podman-compose start ps failed"
PS=$(one ps); TRAINER_CS=($(containers trainer))
[ ${#TRAINER_CS[@]} = 2 ] || fail "expected 2 trainers: ${TRAINER_CS[*]}"
for c in "$CERTS" "$PS" "${TRAINER_CS[@]}"; do
  [ "$(podman inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$c")" = true ] || fail "$c: root file system is not read-only"
done
wait_for 150 "$PS to pass its health check" healthy "$PS"
# A trainer without the certificates, on the same network, seeding from ps like the others, and
# started just before them.
INTRUDER="${PROJECT}_nocerts"
podman run -d --name "$INTRUDER" --label "io.podman.compose.project=$PROJECT" --network "${PROJECT}_default" \
  --read-only --tmpfs /tmp -e BATCHRPC_CLUSTERED=true -e BATCHRPC_CLUSTER_NAME=batch-rpc -e BATCHRPC_CLUSTER_MEMBERS=ps:5701 \
  -e BATCHRPC_MEMBER_TIMEOUT_S=30 -e BATCHRPC_BATCHES=5 -e BATCHRPC_LAYERS=784,256,10 -e BATCHRPC_TASK=synthetic \
  -e BATCHRPC_WAIT_FOR_PS_MS=30000 -e BATCHRPC_RETRY_TIMEOUT_S=20 "$IMAGE" trainer >/dev/null
INTRUDER_START=$SECONDS
compose start trainer >> "$LOGS/$PROJECT-start.log" 2>&1 || fail "podman-compose start trainer failed"
say "ps ready over TLS; 2 trainers with the certificates and 1 without started"
wait_for 180 "the TLS trainers to finish" all_exited "${TRAINER_CS[@]}"
for c in "${TRAINER_CS[@]}"; do
  [ "$(exit_code "$c")" = 0 ] || fail "$c exited with $(exit_code "$c")"
  logs_have "$c" -- "done: $BATCHES rounds" || fail "$c did not report 'done: $BATCHES rounds'"
done
say "both TLS trainers finished $BATCHES rounds"
# The ps's data port (the trainers' tensors): a TLS handshake with the node certificate; without a
# client certificate the server ends it ("certificate required"). The JVM's first handshake can
# take seconds on a loaded machine: 30 s each.
# (--resolve: the name checked against the certificate, without a DNS lookup; podman's DNS has
# timed out on it here.)
TLS_ON=$(podman exec "$PS" sh -c 'curl -sv --max-time 30 --resolve "ps:5703:$(hostname -i)" --cacert /certs/ca.pem \
  --cert /certs/node.pem --key /certs/node-key.pem https://ps:5703/' 2>&1 || true)
grep -q 'SSL connection using' <<< "$TLS_ON" && ! grep -q 'certificate required' <<< "$TLS_ON" \
  || { echo "$TLS_ON" >&2; fail "no TLS handshake with the ps's data port (5703) using the node certificate"; }
NO_CERT=$(podman exec "$PS" sh -c 'curl -sv --max-time 30 --resolve "ps:5703:$(hostname -i)" --cacert /certs/ca.pem \
  https://ps:5703/' 2>&1 || true)
grep -q 'alert certificate required' <<< "$NO_CERT" \
  || { echo "$NO_CERT" >&2; fail "the ps's data port did not refuse a TLS client without a certificate"; }
TLS_ON=$(grep -o 'SSL connection using [^ ]*' <<< "$TLS_ON")
say "the ps's data port speaks TLS (${TLS_ON#SSL connection using }) and refuses a client without a certificate (alert: certificate required)"
# The trainer without certificates (started before the TLS trainers, running all along): it never
# took part in a round, and it is not ready (or gave up and exited non-zero).
[ "$(metric "$PS" 'ps_rounds_total{outcome="complete",round="update"}')" = "$BATCHES.0" ] \
  || fail "the ps did not count exactly $BATCHES complete rounds"
limit=$((SECONDS + 30))
until exited "$INTRUDER" || [ $SECONDS -ge $limit ]; do sleep 1; done
if logs_have "$INTRUDER" -- 'round [0-9]+/|done: '; then
  fail "the trainer without certificates took part in a round"
fi
if exited "$INTRUDER"; then
  [ "$(exit_code "$INTRUDER")" != 0 ] || fail "the trainer without certificates exited 0"
  STATE="gave up, exit $(exit_code "$INTRUDER")"
else
  ! podman exec "$INTRUDER" curl -fsS --max-time 5 http://127.0.0.1:9400/health/ready >/dev/null 2>&1 \
    || fail "the trainer without certificates is ready"
  STATE="still not ready after $((SECONDS - INTRUDER_START)) s"
fi
LAST=$(podman logs "$INTRUDER" 2>&1 | grep -v -e '^\s' -e 'incubator' | tail -1 | cut -c1-200)
say "the trainer without certificates never took part in a round ($STATE)${LAST:+; its last line: $LAST}"
compose down -t 1 -v > "$LOGS/$PROJECT-down.log" 2>&1 || fail "podman-compose down failed"
say "docker-compose.tls.yml: passed"

# ==== 4. deploy/k8s ==============================================================================
if [ -x scripts/k8s-play.sh ]; then
  K8S_IMAGE="$IMAGE" scripts/k8s-play.sh || fail "scripts/k8s-play.sh failed"
fi
say "passed in $((SECONDS - START)) s"
