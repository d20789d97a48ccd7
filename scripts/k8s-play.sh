#!/usr/bin/env bash
# The Kubernetes manifests, played for real with 'podman kube play' (run by
# scripts/container-test.sh with K8S_IMAGE=<its image>): kustomize renders deploy/k8s; the ps
# StatefulSet's pod (ps-0, its PersistentVolumeClaim) and one pod of the trainer Job are played
# with the rendered ConfigMap, on a network of their own, and must work from the manifests' env,
# probes, ports, security context and resources. podman plays Pods, not StatefulSets, Jobs or
# Services, and lacks a few fields; the conversions, each printed, are only these:
#   - StatefulSet ps -> Pod ps-0 (its template) + the PersistentVolumeClaim of its
#     volumeClaimTemplates; Job trainer -> Pod trainer-0 (its template); names get a run prefix;
#   - BATCHRPC_CLUSTER_HOST from status.podIP (podman: "fieldPath status.podIP is ... not
#     supported") -> "auto": the image's entry point then uses the container's own IP, the pod IP;
#   - probes' named ports -> their numbers (podman probes port 0 for a name);
#   - every containerPort published on a free port of 127.0.0.1 (hostIP, hostPort): podman 4 would
#     publish each on its own number on every interface;
#   - no cluster DNS: the seeds ps-0.batch-rpc-cluster and batch-rpc-cluster -> hostAliases with
#     the ps pod's IP;
#   - one trainer pod: the ps waits for BATCHRPC_TRAINERS=1, the trainer runs BATCHRPC_BATCHES=20.
# Everything it made (pods, volume, network) goes, pass or fail.
set -euo pipefail
cd "$(dirname "$0")/.."
START=$SECONDS
say() { echo "k8s-play: [$((SECONDS - START))s] $*"; }
fail() { echo "k8s-play: FAILED: $*" >&2; exit 1; }

IMAGE="${K8S_IMAGE:?K8S_IMAGE: the batch-rpc image to play}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/deploy/podman/containers.conf}"
RUN="brpc-k8s-$$-$RANDOM"
NET="$RUN"
DIR=$(mktemp -d)
BATCHES=20

cleanup() {
  local rc=$?
  set +e
  if [ $rc != 0 ]; then
    for c in $(podman ps -a --filter "label=batch-rpc-test=$RUN" --format '{{.Names}}'); do
      echo "---- $c ($(podman inspect -f '{{.State.Status}} exit={{.State.ExitCode}}' "$c"))" >&2
      podman logs "$c" 2>&1 | grep -v '^\s' | tail -15 | cut -c1-300 >&2
    done
  fi
  for f in "$DIR"/trainer.yaml "$DIR"/ps.yaml; do
    [ -f "$f" ] && podman kube down "$f" >/dev/null 2>&1
  done
  ids=$(podman pod ls -q --filter "label=batch-rpc-test=$RUN"); [ -z "$ids" ] || podman pod rm -f $ids >/dev/null 2>&1
  podman volume rm -f "$RUN-ps-checkpoints-ps-0" >/dev/null 2>&1
  podman network rm -f "$NET" >/dev/null 2>&1
  left="$(podman pod ls -q --filter "label=batch-rpc-test=$RUN")$(podman volume ls -q --filter "name=$RUN")$(podman network ls -q --filter "name=$NET")"
  [ -z "$left" ] || { echo "k8s-play: could not remove everything of $RUN" >&2; rc=1; }
  rm -rf "$DIR"
  [ $rc = 0 ] && say "cleaned up: no pod, volume or network of this run is left"
  exit $rc
}
trap cleanup EXIT

if command -v kubectl >/dev/null; then kubectl kustomize deploy/k8s > "$DIR/rendered.yaml"
else kustomize build deploy/k8s > "$DIR/rendered.yaml"; fi

# convert.py RENDERED OUTDIR RUN IMAGE BATCHES [PS_IP]: writes configmap.yaml, ps.yaml, trainer.yaml
cat > "$DIR/convert.py" <<'EOF'
import copy, socket, sys, yaml
rendered, out, run, image, batches = sys.argv[1:6]
ps_ip = sys.argv[6] if len(sys.argv) > 6 else None
docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(open(rendered)) if d}
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def note(msg):
    print("k8s-play: conversion: " + msg)

def pod(name, template, extra_labels):
    spec = copy.deepcopy(template["spec"])
    meta = copy.deepcopy(template.get("metadata", {}))
    meta["name"] = name
    meta.setdefault("labels", {}).update(extra_labels)
    for c in spec["containers"]:
        c["image"] = image
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", []) if "name" in p}
        published = []
        for p in c.get("ports", []):
            p["hostIP"], p["hostPort"] = "127.0.0.1", free_port()
            published.append(f"{p.get('name', '?')} {p['containerPort']} -> 127.0.0.1:{p['hostPort']}")
        with open(f"{out}/{name}.ports", "w") as f:
            f.write("".join(f"{p.get('name')} {p['hostPort']}\n" for p in c.get("ports", [])))
        note(f"{name}/{c['name']}: ports published on free loopback ports (podman 4 publishes every containerPort on its own number): " + ", ".join(published))
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
            if ref == "status.podIP":
                del e["valueFrom"]; e["value"] = "auto"
                note(f"{name}/{c['name']}: {e['name']} from status.podIP -> auto (the entry point's own IP)")
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            get = c.get(probe, {}).get("httpGet")
            if get and probe == "readinessProbe":
                with open(f"{out}/{name}.ready", "w") as f:
                    f.write(get["path"] + "\n")
            if get and isinstance(get.get("port"), str):
                note(f"{name}/{c['name']}: {probe} port {get['port']} -> {ports[get['port']]}")
                get["port"] = ports[get["port"]]
    if ps_ip:
        spec["hostAliases"] = [{"ip": ps_ip, "hostnames": ["ps-0.batch-rpc-cluster", "batch-rpc-cluster"]}]
        note(f"{name}: hostAliases ps-0.batch-rpc-cluster, batch-rpc-cluster -> {ps_ip} (no cluster DNS)")
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}

def set_env(p, key, value):
    for e in p["spec"]["containers"][0]["env"]:
        if e["name"] == key:
            note(f"{p['metadata']['name']}: {key} {e.get('value')} -> {value}")
            e["value"] = value
            return
    raise SystemExit(f"no {key} in {p['metadata']['name']}")

labels = {"batch-rpc-test": run}
cm = copy.deepcopy(docs[("ConfigMap", "batch-rpc-node")])
yaml.safe_dump(cm, open(f"{out}/configmap.yaml", "w"))

sts = docs[("StatefulSet", "ps")]
if not ps_ip:
  ps = pod(f"{run}-ps-0", sts["spec"]["template"], labels)
  set_env(ps, "BATCHRPC_TRAINERS", "1")
  pvcs = []
  for t in sts["spec"].get("volumeClaimTemplates", []):
      claim = f"{run}-{t['metadata']['name']}-ps-0"
      pvcs.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": claim}, "spec": t["spec"]})
      ps["spec"].setdefault("volumes", []).append({"name": t["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim}})
      note(f"{run}-ps-0: volumeClaimTemplates {t['metadata']['name']} -> PersistentVolumeClaim {claim}")
  yaml.safe_dump_all(pvcs + [ps], open(f"{out}/ps.yaml", "w"))

if ps_ip:
    job = docs[("Job", "trainer")]
    tr = pod(f"{run}-trainer-0", job["spec"]["template"], labels)
    set_env(tr, "BATCHRPC_BATCHES", batches)
    yaml.safe_dump(tr, open(f"{out}/trainer.yaml", "w"))
EOF
PY=/usr/bin/python3
$PY -c 'import yaml' 2>/dev/null || PY=python3

podman network create --label "batch-rpc-test=$RUN" "$NET" >/dev/null
$PY "$DIR/convert.py" "$DIR/rendered.yaml" "$DIR" "$RUN" "$IMAGE" "$BATCHES"
say "podman kube play ps-0 (StatefulSet ps's pod) with ConfigMap batch-rpc-node on network $NET"
podman kube play --network "$NET" --configmap "$DIR/configmap.yaml" "$DIR/ps.yaml" > "$DIR/play-ps.log" 2>&1 \
  || { cat "$DIR/play-ps.log" >&2; fail "podman kube play of ps-0 failed"; }
PS="$RUN-ps-0-ps"
PS_IP=$(podman inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$PS")
[ -n "$PS_IP" ] || fail "ps-0 has no IP on $NET"

# what the manifest says, read back from the running container
[ "$(podman inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$PS")" = true ] || fail "ps-0: root file system not read-only (readOnlyRootFilesystem)"
[ "$(podman inspect -f '{{.Config.User}}' "$PS")" = 10001 ] || fail "ps-0: not running as runAsUser 10001"
[ "$(podman inspect -f '{{.HostConfig.Memory}}' "$PS")" = $((2 * 1024 * 1024 * 1024)) ] || fail "ps-0: memory limit is not the manifest's 2Gi"
podman exec "$PS" sh -c 'test "$BATCHRPC_CLUSTER_MEMBERS" = "ps-0.batch-rpc-cluster:5701,batch-rpc-cluster:5701" && test "$BATCHRPC_EVENT_BUS_PORT" = 5702' \
  || fail "ps-0: the ConfigMap's settings are not in its environment"
limit=$((SECONDS + 150))
until podman healthcheck run "$PS" >/dev/null 2>&1; do  # the livenessProbe (httpGet /health/live on ops)
  [ $SECONDS -lt $limit ] || fail "ps-0's liveness probe never passed"
  sleep 2
done
OPS=$(awk '$1 == "ops" {print $2}' "$DIR/$RUN-ps-0.ports")
READY=$(cat "$DIR/$RUN-ps-0.ready")
until curl -fsS "http://127.0.0.1:$OPS$READY" >/dev/null 2>&1; do  # the readinessProbe, from the host
  [ $SECONDS -lt $limit ] || fail "ps-0 never became ready ($READY on its ops port, published on 127.0.0.1:$OPS)"
  sleep 2
done
grep -q "data channel on $PS_IP:5703" <<< "$(podman logs "$PS" 2>&1)" || fail "ps-0 does not advertise its pod IP $PS_IP"
say "ps-0 running from the manifest: liveness probe passes, ready ($READY on its ops port, from the host via 127.0.0.1:$OPS), advertises its pod IP $PS_IP, read-only root, user 10001, 2Gi limit"

$PY "$DIR/convert.py" "$DIR/rendered.yaml" "$DIR" "$RUN" "$IMAGE" "$BATCHES" "$PS_IP"
say "podman kube play trainer-0 (a pod of Job trainer)"
podman kube play --network "$NET" --configmap "$DIR/configmap.yaml" "$DIR/trainer.yaml" > "$DIR/play-trainer.log" 2>&1 \
  || { cat "$DIR/play-trainer.log" >&2; fail "podman kube play of trainer-0 failed"; }
TR="$RUN-trainer-0-trainer"
limit=$((SECONDS + 180))
until [ "$(podman inspect -f '{{.State.Status}}' "$TR")" = exited ]; do
  [ $SECONDS -lt $limit ] || fail "trainer-0 did not finish"
  sleep 2
done
[ "$(podman inspect -f '{{.State.ExitCode}}' "$TR")" = 0 ] || fail "trainer-0 exited with $(podman inspect -f '{{.State.ExitCode}}' "$TR")"
# BATCHRPC_ID from the downward API (metadata.name): the trainer's id is its pod's name
grep -q "trainer $RUN-trainer-0: done: $BATCHES rounds" <<< "$(podman logs "$TR" 2>&1)" \
  || fail "trainer-0 did not report 'trainer $RUN-trainer-0: done: $BATCHES rounds'"
ROUNDS=$(podman exec "$PS" curl -fsS http://127.0.0.1:9400/metrics | awk '/^ps_rounds_total\{outcome="complete",round="update"\}/ {print $2}')
[ "$ROUNDS" = "$BATCHES.0" ] || fail "ps-0 counted $ROUNDS complete rounds, expected $BATCHES"
say "trainer-0 (id = its pod name) completed $BATCHES rounds against ps-0; ps-0 counted them"
