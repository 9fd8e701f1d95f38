#!/usr/bin/env bash
# registry.sh serves a registry on the host's loopback (127.0.0.1:5000,
# Debian's docker-registry) holding the base image, for tests where
# BuildKit, which pulls FROM images from registries and never from an
# engine's store, builds moat's images. Idempotent. Prints the base image's
# reference in the registry.
set -euo pipefail

BASE_IMAGE=${MOAT_BASE_IMAGE:-debian:bookworm-slim}
CACHE=${MOAT_TESTBED_CACHE:-$HOME/.cache/moat-testbed}
ADDR=127.0.0.1:5000
log() { printf 'registry: %s\n' "$*" >&2; }

registry_up() { curl -fsS "http://$ADDR/v2/" >/dev/null 2>&1; }

if ! registry_up; then
	mkdir -p "$CACHE/registry"
	cat >"$CACHE/registry/config.yml" <<YML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $CACHE/registry/data}}
http: {addr: $ADDR}
YML
	log "starting docker-registry on $ADDR"
	nohup docker-registry serve "$CACHE/registry/config.yml" >/var/log/moat-testbed-registry.log 2>&1 &
	for _ in $(seq 1 50); do registry_up && break; sleep 0.2; done
	registry_up || { log "the registry did not start:"; tail -n 20 /var/log/moat-testbed-registry.log >&2; exit 1; }
fi
ref="$ADDR/$BASE_IMAGE"
id=$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE")
if [ "$(cat "$CACHE/registry/base.id" 2>/dev/null)" != "$id" ] || ! curl -fsS "http://$ADDR/v2/${BASE_IMAGE%%:*}/manifests/${BASE_IMAGE##*:}" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' >/dev/null 2>&1; then
	log "pushing $BASE_IMAGE to $ref"
	skopeo copy --quiet --dest-tls-verify=false "docker-daemon:$BASE_IMAGE" "docker://$ref" >/dev/null
	echo "$id" >"$CACHE/registry/base.id"
fi
echo "$ref"
