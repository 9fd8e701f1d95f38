#!/usr/bin/env bash
# buildkit.sh builds buildkitd and buildctl from the Go module (no registry
# or download site is reachable on the test machines) and makes the BuildKit
# sidecar image from them: the base image, Debian's runc and the two
# binaries. The binaries are cached outside the clone, keyed by the BuildKit
# version and the Go version; the image is rebuilt only when missing.
# Prints the image reference.
set -euo pipefail

VERSION=${MOAT_BUILDKIT_VERSION:-v0.34.2}
BASE_IMAGE=${MOAT_BASE_IMAGE:-debian:bookworm-slim}
CACHE=${MOAT_TESTBED_CACHE:-$HOME/.cache/moat-testbed}
IMAGE=${MOAT_BUILDKIT_TEST_IMAGE:-moat-test/buildkit:$VERSION}
log() { printf 'buildkit: %s\n' "$*" >&2; }

key=$(printf '%s|%s' "$VERSION" "$(go env GOVERSION)" | sha256sum | cut -c1-16)
bin="$CACHE/buildkit-$VERSION-$key"

build_binaries() {
	[ -x "$bin/buildkitd" ] && [ -x "$bin/buildctl" ] && return 0
	log "building buildkitd and buildctl $VERSION from the Go module (about 3 minutes)"
	local mod
	mod=$(mktemp -d)
	# go install refuses modules whose go.mod has exclude directives, so a
	# throw-away module requires BuildKit and builds its commands.
	cat >"$mod/go.mod" <<MOD
module moat.local/buildkit-build

go 1.26

require github.com/moby/buildkit $VERSION
MOD
	cat >"$mod/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "github.com/moby/buildkit/cmd/buildctl"
	_ "github.com/moby/buildkit/cmd/buildkitd"
)
GO
	(
		cd "$mod"
		# The module proxy sometimes stalls for a minute or two: retry.
		for attempt in 1 2 3 4; do
			GOFLAGS=-mod=mod go get "github.com/moby/buildkit@$VERSION" >/dev/null && break
			[ "$attempt" -lt 4 ] || exit 1
			log "fetching the module failed; retrying in 30s"
			sleep 30
		done
		mkdir -p "$bin.tmp"
		CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$bin.tmp/" \
			github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl
	)
	rm -rf "$bin" && mv "$bin.tmp" "$bin"
	rm -rf "$mod"
}

build_image() {
	if docker image inspect "$IMAGE" >/dev/null 2>&1 &&
		[ "$(docker image inspect -f '{{index .Config.Labels "moat.test.buildkit-key"}}' "$IMAGE")" = "$key" ]; then
		return 0
	fi
	log "making the sidecar image $IMAGE"
	local ctx
	ctx=$(mktemp -d)
	cp "$bin/buildkitd" "$bin/buildctl" "$ctx/"
	cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $BASE_IMAGE
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends runc ca-certificates >/dev/null && rm -rf /var/lib/apt/lists/*
COPY buildkitd buildctl /usr/bin/
LABEL moat.test.buildkit-key=$key
VOLUME /var/lib/buildkit
ENTRYPOINT ["buildkitd"]
DOCKERFILE
	DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE" "$ctx" >/dev/null
	rm -rf "$ctx"
}

build_binaries
build_image
echo "$IMAGE"
