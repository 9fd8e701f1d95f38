#!/usr/bin/env bash
# testbed.sh makes a machine ready for moat's tests and demo: it installs and
# starts the Docker engine when absent and makes the local base image, since no
# registry is reachable. It is idempotent: a second run on a ready machine
# only checks and returns. Slow artefacts are cached outside the clone in
# $MOAT_TESTBED_CACHE (default ~/.cache/moat-testbed), keyed by their inputs.
set -euo pipefail

BASE_IMAGE=${MOAT_BASE_IMAGE:-debian:bookworm-slim}
CACHE=${MOAT_TESTBED_CACHE:-$HOME/.cache/moat-testbed}
SUITE=bookworm
log() { printf 'testbed: %s\n' "$*" >&2; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
	local missing=()
	for pkg in "$@"; do
		dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing ${missing[*]}"
	as_root apt-get update -qq
	# No package's service starts by itself (sshd on port 22, a registry on
	# 5000): the tests start what they need, where they need it. Debian's
	# invoke-rc.d asks policy-rc.d; one that is there already stays.
	local policy=/usr/sbin/policy-rc.d added=
	if [ ! -e "$policy" ]; then
		as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
		added=1
	fi
	local rc=0
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null || rc=$?
	[ -n "$added" ] && as_root rm -f "$policy"
	return $rc
}

engine_up() { docker info >/dev/null 2>&1; }

start_engine() {
	engine_up && return 0
	command -v dockerd >/dev/null 2>&1 || apt_install docker.io
	log "starting dockerd"
	as_root sh -c 'nohup dockerd >/var/log/moat-testbed-dockerd.log 2>&1 &'
	for _ in $(seq 1 60); do
		engine_up && return 0
		sleep 0.5
	done
	log "dockerd did not become ready in 30s; its log:"
	tail -n 30 /var/log/moat-testbed-dockerd.log >&2 || true
	exit 1
}

debian_mirror() {
	# The mirror the machine's own apt uses: containers can reach it too.
	local url
	url=$(grep -hoE '^URIs: *http[^ ]+' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}')
	[ -n "$url" ] || url=$(grep -hoE '^deb +http[^ ]+' /etc/apt/sources.list 2>/dev/null | head -n1 | awk '{print $2}')
	echo "${url:-http://deb.debian.org/debian}"
}

make_base_image() {
	if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
		return 0
	fi
	local mirror key tarball
	mirror=$(debian_mirror)
	key=$(printf '%s|%s|minbase|v1' "$SUITE" "$mirror" | sha256sum | cut -c1-16)
	tarball="$CACHE/base-$SUITE-$key.tar"
	if [ ! -s "$tarball" ]; then
		apt_install debootstrap
		local root
		root=$(mktemp -d)
		log "debootstrap $SUITE from $mirror (about 30s)"
		as_root debootstrap --variant=minbase "$SUITE" "$root" "$mirror" >/dev/null
		mkdir -p "$CACHE"
		as_root tar -C "$root" -cf "$tarball.tmp" .
		mv "$tarball.tmp" "$tarball"
		as_root rm -rf "$root"
	fi
	log "importing $tarball as $BASE_IMAGE"
	docker import -c 'CMD ["bash"]' "$tarball" "$BASE_IMAGE" >/dev/null
}

main() {
	# Test tools: busybox-static makes tiny images for nested-daemon tests;
	# docker-registry and skopeo serve the base image to BuildKit, which
	# pulls FROM images from registries only; tmux drives the agents' interactive
	# CLIs on a real terminal; internal/sshagent's tests start their own sshd
	# (openssh-server) on loopback.
	apt_install busybox-static docker-registry skopeo tmux openssh-server
	start_engine
	make_base_image
	if [ "${1:-}" = --base-only ]; then
		log "ready: engine $(docker version -f '{{.Server.Version}}'), base image $BASE_IMAGE"
		return 0
	fi
	# The BuildKit sidecar image for docker:dind tests (buildkitd built from
	# the Go module: about 3 minutes the first time, cached after).
	local buildkit
	buildkit=$(bash "$(dirname "$0")/buildkit.sh")
	local registry
	registry=$(bash "$(dirname "$0")/registry.sh")
	log "ready: engine $(docker version -f '{{.Server.Version}}'), base image $BASE_IMAGE, BuildKit sidecar $buildkit, registry copy $registry"
}

main "$@"
