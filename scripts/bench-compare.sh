#!/usr/bin/env bash
# bench-compare.sh REV [ROUNDS]: times warm 'moat run' through the moat
# binary, as users run it, for the binary built at REV and the one built
# from the working tree, alternating run by run so that whatever else the
# machine does disturbs both alike. Three workloads: policy none (no proxy),
# the default strict policy (proxy sidecar), and docker:dind to the inner
# daemon answering. Prints median, mean, p90 and max per binary and the
# ratio of medians and means (new/old). WORKLOADS="none strict" picks
# some of the three.
set -euo pipefail
rev=${1:?usage: bench-compare.sh REV [ROUNDS]}
rounds=${2:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/moat-bench-compare.XXXXXX)
trap 'rm -rf "$work"' EXIT

build() { # build DIR OUT: the production binary, as 'make build' makes it
	(cd "$1" && CGO_ENABLED=0 go build -o "$2" ./cmd/moat)
}
git -C "$root" worktree add -q --detach "$work/old" "$rev"
trap 'git -C "$root" worktree remove --force "$work/old"; rm -rf "$work"' EXIT
build "$work/old" "$work/moat-old"
build "$root" "$work/moat-new"

# One workspace per workload, owned by a regular uid so the agent runs as
# it would for a user; one moat home per binary, approved where needed.
mkws() { mkdir -p "$work/ws-$1"; printf '%s' "$2" >"$work/ws-$1/agent.yaml"; chown -R 4242:4242 "$work/ws-$1"; }
mkws none 'network: {policy: none}
'
mkws strict 'name: bench-strict
'
mkws dind 'dependencies: [docker:dind]
network: {policy: none}
docker: {buildkit: false}
'
for b in old new; do
	mkdir -p "$work/home-$b"
	for w in none strict dind; do
		MOAT_HOME="$work/home-$b" "$work/moat-$b" trust --yes "$work/ws-$w" >/dev/null 2>&1 || true
	done
done

cmd_for() { # workload
	case $1 in
	dind) echo "docker version --format {{.Server.Version}}" ;;
	*) echo "true" ;;
	esac
}

once() { # binary workload -> ms
	local t0 t1
	t0=$(date +%s%N)
	# shellcheck disable=SC2046
	MOAT_HOME="$work/home-$1" "$work/moat-$1" run "$work/ws-$2" -- $(cmd_for "$2") >/dev/null 2>"$work/err" ||
		{ echo "moat-$1 run $2 failed:" >&2; cat "$work/err" >&2; exit 1; }
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}

stats() { # file -> "median mean p90 max"
	sort -n "$1" | awk '{a[NR]=$1; s+=$1} END {
		m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2
		p = a[int(NR*0.9 + 0.999999)]; if (p == "") p = a[NR]
		printf "%.0f %.0f %.0f %.0f", m, s/NR, p, a[NR] }'
}

for w in ${WORKLOADS:-none strict dind}; do
	once old "$w" >/dev/null # warm: build the images
	once new "$w" >/dev/null
	: >"$work/t-old-$w"
	: >"$work/t-new-$w"
	for i in $(seq "$rounds"); do
		if [ $((i % 2)) = 1 ]; then order="old new"; else order="new old"; fi
		for b in $order; do once "$b" "$w" >>"$work/t-$b-$w"; done
	done
	read -r om oa op ox <<<"$(stats "$work/t-old-$w")"
	read -r nm na np nx <<<"$(stats "$work/t-new-$w")"
	printf '%-7s old (%s): median %s mean %s p90 %s max %s ms | new: median %s mean %s p90 %s max %s ms | new/old median %s mean %s\n' \
		"$w" "$rev" "$om" "$oa" "$op" "$ox" "$nm" "$na" "$np" "$nx" \
		"$(awk "BEGIN{printf \"%.3f\", $nm/$om}")" "$(awk "BEGIN{printf \"%.3f\", $na/$oa}")"
done
