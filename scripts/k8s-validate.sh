#!/usr/bin/env bash
# Static check of the Kubernetes manifests (part of './batch-rpc test'; no cluster needed):
# kustomize renders deploy/k8s and its TLS overlay deploy/k8s-tls exactly as 'kubectl apply -k'
# would, and every rendered resource is validated against the Kubernetes API's schemas, offline
# (deploy/k8s-validate: npm's kubernetes-models, pinned by its package-lock.json and installed once
# into a cache). A deliberately broken copy must fail, so the check cannot pass by checking nothing.
# Needs kubectl (kustomize built in) or kustomize, and node/npm (installed when root on Debian).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
say() { echo "k8s-validate: $*"; }
fail() { echo "k8s-validate: FAILED: $*" >&2; exit 1; }

if command -v kubectl >/dev/null; then
  render() { kubectl kustomize "$1"; }
elif command -v kustomize >/dev/null; then
  render() { kustomize build "$1"; }
else
  fail "needs kubectl or kustomize to render deploy/k8s (https://kubectl.docs.kubernetes.io/installation/kustomize/)"
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing nodejs and npm (Debian packages)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; } >/dev/null 2>&1 \
      || fail "could not install nodejs npm"
  else
    fail "needs node and npm (apt-get install -y nodejs npm)"
  fi
fi

# The validator's packages, once per version of the lock file.
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/batch-rpc/k8s-validate-$(sha256sum deploy/k8s-validate/package-lock.json | cut -c1-12)"
if [ ! -d "$CACHE/node_modules/kubernetes-models" ]; then
  say "installing kubernetes-models and js-yaml (npm ci) into $CACHE"
  mkdir -p "$CACHE"
  cp deploy/k8s-validate/package.json deploy/k8s-validate/package-lock.json "$CACHE/"
  (cd "$CACHE" && npm ci --no-audit --no-fund --prefer-offline >/dev/null 2>&1) \
    || { rm -rf "$CACHE"; fail "npm ci of deploy/k8s-validate failed"; }
fi
validate() { NODE_PATH="$CACHE/node_modules" node deploy/k8s-validate/validate.js "$@"; }

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
render deploy/k8s > "$OUT/k8s.yaml" || fail "kustomize could not render deploy/k8s"
render deploy/k8s-tls > "$OUT/k8s-tls.yaml" || fail "kustomize could not render deploy/k8s-tls"
validate "$OUT/k8s.yaml" "$OUT/k8s-tls.yaml" || fail "a manifest does not match the Kubernetes schemas"
# every resource of the base's kustomization was rendered (and so validated)
want=$(grep -c '^kind:' $(sed -n 's/^  - \(.*\.yaml\)$/deploy\/k8s\/\1/p' deploy/k8s/kustomization.yaml) | awk -F: '{n += $2} END {print n}')
got=$(grep -c '^kind:' "$OUT/k8s.yaml")
[ "$want" = "$got" ] || fail "deploy/k8s has $want resources, kustomize rendered $got"

# The validator refuses what the API server would: a wrong enum value, a port that is no number.
sed -e '0,/imagePullPolicy: IfNotPresent/s//imagePullPolicy: Sometimes/' \
    -e '0,/containerPort: 9400/s//containerPort: ops/' "$OUT/k8s.yaml" > "$OUT/broken.yaml"
if validate "$OUT/broken.yaml" > "$OUT/broken.log" 2>&1; then
  fail "the validator accepted a broken manifest"
fi
grep -q 'imagePullPolicy must be equal to one of the allowed values' "$OUT/broken.log" \
  || { cat "$OUT/broken.log" >&2; fail "the validator did not name the broken field"; }
say "deploy/k8s and deploy/k8s-tls: $got resources each, rendered by kustomize, valid against the Kubernetes schemas (kubernetes-models $(node -p "require('$CACHE/node_modules/kubernetes-models/package.json').version"))"
