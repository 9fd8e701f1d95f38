#!/bin/sh
# moat-init: the entrypoint of every moat run container. It starts as root,
# does the per-run setup, then drops to an unprivileged user whose UID and GID
# match the owner of the workspace on the host, so files the agent creates
# belong to the user. Later steps (docker group, nested daemon, CA trust) are
# added here as functions called from main, each guarded by an environment
# variable the run sets.
#
# Usage: moat-init [NAME=VALUE]... -- COMMAND [ARG]...
# The NAME=VALUE arguments are the agent's environment (agent.yaml env, -e).
# They are applied only to the command, after privileges are dropped: the
# container's own environment, which this script and everything it starts
# as root inherit, holds only moat's variables.
set -eu

# root_path is the PATH of this script and of everything it starts as root:
# system directories only, none writable by the agent. The image's PATH
# (which may start with the world-writable /go/bin) is kept for the agent.
root_path=/usr/sbin:/usr/bin:/sbin:/bin
agent_path=${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}
PATH=$root_path
export PATH
unset ENV BASH_ENV CDPATH

die() { echo "moat-init: $*" >&2; exit 125; }

# ensure_group creates a group with GID $1 if there is none.
ensure_group() {
	getent group "$1" >/dev/null && return 0
	name=moat
	getent group "$name" >/dev/null && name="moat$1"
	echo "$name:x:$1:" >>/etc/group
}

# ensure_user sets user and home to the name and home directory of the user
# with UID $1, creating one (GID $2, home /home/moat) if none.
ensure_user() {
	ent=$(getent passwd "$1" || true)
	if [ -z "$ent" ]; then
		user=moat
		getent passwd "$user" >/dev/null && user="moat$1"
		ent="$user:x:$1:$2:moat agent:/home/$user:/bin/sh"
		echo "$ent" >>/etc/passwd
	fi
	user=${ent%%:*}
	home=${ent#*:*:*:*:*:}
	home=${home%%:*}
}

# join_group adds GID $1 to the agent's supplementary groups, creating a
# group named $2 for it when the image has none with that GID.
join_group() {
	if ! getent group "$1" >/dev/null; then
		name=$2
		getent group "$name" >/dev/null && name="$2$1"
		echo "$name:x:$1:" >>/etc/group
	fi
	groups="$groups,$1"
}

# setup_docker_host lets the agent use the host engine's socket: the socket's
# group is read here, inside the container, because some engines (Docker
# Desktop) translate ownership, and the agent joins that group.
setup_docker_host() {
	sock=$MOAT_DOCKER_SOCKET
	[ -S "$sock" ] || die "docker:host: $sock is not a socket in the container"
	[ "$(stat -c %u "$sock")" = "$uid" ] && return 0
	join_group "$(stat -c %g "$sock")" docker-host
}

# remount_rw makes a read-only mount at $1 writable for the nested daemon.
remount_rw() {
	mount -o remount,rw,bind "$1" "$1" 2>/dev/null || mount -o remount,rw "$1" 2>/dev/null || true
}

# dind_ready reports whether the nested daemon answers. The daemon accepts
# connections before it can answer them, so each try is bounded.
dind_ready() { timeout 2 docker version >/dev/null 2>&1; }

# start_dockerd starts the nested daemon with storage driver $1 and waits
# for it; it returns 1 if the daemon died, 2 if it timed out.
start_dockerd() {
	# shellcheck disable=SC2086 # MOAT_DIND_ARGS is a list of flags
	dockerd --storage-driver="$1" --group=docker $MOAT_DIND_ARGS >>"$dind_log" 2>&1 &
	dind_pid=$!
	deadline=$(( $(date +%s) + ${MOAT_DIND_TIMEOUT:-30} ))
	until dind_ready; do
		kill -0 "$dind_pid" 2>/dev/null || return 1
		[ "$(date +%s)" -lt "$deadline" ] || return 2
		sleep 0.05
	done
}

# dind_fail reports a daemon that did not start, with its log's tail.
dind_fail() {
	echo "moat-init: docker:dind: $1; the last lines of its log (kept with the run as dind/$(basename "$dind_log")):" >&2
	tail -n 20 "$dind_log" | sed 's/^/  /' >&2
	exit 125
}

# write_docker_proxies gives containers and builds the agent starts with the
# inner daemon the run's proxy settings, through the docker CLI's config
# (the daemon itself inherits them from this environment).
write_docker_proxies() {
	http=${HTTP_PROXY:-${http_proxy:-}}
	https=${HTTPS_PROXY:-${https_proxy:-}}
	no=${NO_PROXY:-${no_proxy:-}}
	[ -n "$http$https" ] || return 0
	# For containers on the inner daemon's bridge, 127.0.0.1 is their own
	# loopback: they reach the relay at the bridge's gateway.
	gw=$(docker network inspect bridge --format '{{(index .IPAM.Config 0).Gateway}}' 2>/dev/null || true)
	if [ -z "$gw" ]; then
		# Older daemons leave Gateway empty: the bridge takes the subnet's
		# first address.
		subnet=$(docker network inspect bridge --format '{{(index .IPAM.Config 0).Subnet}}' 2>/dev/null || true)
		net=${subnet%/*}
		[ -z "$net" ] || gw=${net%.*}.1
	fi
	if [ -n "$gw" ]; then
		http=$(printf '%s' "$http" | sed "s/@127.0.0.1:/@$gw:/")
		https=$(printf '%s' "$https" | sed "s/@127.0.0.1:/@$gw:/")
	fi
	mkdir -p "$home/.docker"
	printf '{"proxies":{"default":{"httpProxy":"%s","httpsProxy":"%s","noProxy":"%s"}}}\n' \
		"$(json_escape "$http")" "$(json_escape "$https")" "$(json_escape "$no")" >"$home/.docker/config.json"
	chown -R "$uid:$gid" "$home/.docker"
}

# json_escape escapes backslashes and double quotes for a JSON string.
json_escape() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }

# setup_dind starts the run's own Docker daemon before the agent's command,
# with its state on the run's volume so overlay2 works, falling back to vfs
# (with a warning) where overlay2 cannot mount.
setup_dind() {
	trap 'on_signal TERM 15' TERM
	trap 'on_signal INT 2' INT
	trap 'on_signal HUP 1' HUP
	dind_log=${MOAT_DIND_LOG:-/var/log/dockerd.log}
	mkdir -p "$(dirname "$dind_log")"
	remount_rw /sys
	for d in /sys/fs/cgroup /sys/fs/cgroup/*; do [ -d "$d" ] && remount_rw "$d"; done
	scrub_dind_state /var/lib/docker
	rc=0
	start_dockerd overlay2 || rc=$?
	if [ "$rc" = 1 ] && grep -q 'overlay' "$dind_log"; then
		echo "moat-init: warning: docker:dind: overlay2 is not available here; the inner daemon uses vfs, which copies every layer" >&2
		rc=0
		start_dockerd vfs || rc=$?
	fi
	case $rc in
	1) dind_fail "the Docker daemon exited while starting" ;;
	2) dind_fail "the Docker daemon did not become ready within ${MOAT_DIND_TIMEOUT:-30}s" ;;
	esac
	join_group "$(getent group docker | cut -d: -f3)" docker
}

# scrub_dind_state keeps only image content of a kept state directory
# (docker.cache), which the agent of an earlier run controlled: containers
# (and their writable layers), volumes, networks, plugins, swarm and
# build state are removed before the daemon starts, so nothing restarts
# (--restart=always) or is found again; tags are dropped, so a name the
# agent re-pointed (debian:bookworm-slim) must be pulled or loaded again:
# the images stay, untagged, as a layer cache.
scrub_dind_state() {
	d=$1
	for m in "$d"/image/*/layerdb/mounts/*/mount-id; do
		[ -f "$m" ] || continue
		read -r mid <"$m" || [ -n "$mid" ] || continue
		case $mid in */* | .*) continue ;; esac
		rm -rf "$d/overlay2/$mid" "$d/overlay2/$mid-init" "$d/vfs/dir/$mid" "$d/vfs/dir/$mid-init"
	done
	rm -rf "$d/containers" "$d/volumes" "$d/network" "$d/plugins" "$d/swarm" "$d/buildkit" "$d/runtimes" \
		"$d/tmp" "$d/trust" "$d"/image/*/layerdb/mounts "$d"/image/*/repositories.json
}

# trust_proxy_ca adds the run's proxy CA to the system bundle, which curl,
# git, OpenSSL and Python read, before the command runs; SSL_CERT_FILE and
# friends point there for tools that ignore it.
trust_proxy_ca() {
	[ -r "$MOAT_PROXY_CA" ] || die "the proxy CA $MOAT_PROXY_CA is not readable in the container"
	# Shell builtins only: each program started here costs the run's start.
	ca=
	while IFS= read -r line || [ -n "$line" ]; do
		ca="$ca$line
"
	done <"$MOAT_PROXY_CA"
	[ -d /etc/ssl/certs ] || mkdir -p /etc/ssl/certs
	printf '\n%s' "$ca" >>/etc/ssl/certs/ca-certificates.crt
	# Kept where update-ca-certificates looks, so a rebuild of the bundle
	# by the agent's tools keeps it.
	if [ -d /usr/local/share/ca-certificates ]; then
		printf '%s' "$ca" >/usr/local/share/ca-certificates/moat-proxy.crt
	fi
}

# start_relay starts the relay, which opens port $MOAT_PROXY_PORT (the
# address HTTP_PROXY names; /etc/hosts maps "proxy" to 127.0.0.1) in this
# container's network namespace, which has nothing but loopback, and hands
# the listening socket to the proxy sidecar over its unix socket: the proxy
# then accepts the agent's connections itself. It runs as root without
# capabilities, so the agent can neither kill nor replace it. It returns
# once the port is open, leaving a process in a session of its own that
# holds the hand-over connection for as long as the container lives (when
# it goes, the proxy stops); connections made before the proxy takes the
# socket wait in its backlog. It comes up while the rest of the setup runs;
# wait_relay holds the command back until the port is open.
start_relay() {
	setpriv --inh-caps=-all --bounding-set=-all --no-new-privs -- \
		"$MOAT_RELAY" proxy relay --listen "0.0.0.0:$MOAT_PROXY_PORT" --socket "$MOAT_PROXY_SOCKET" \
		</dev/null >/dev/null &
	relay_pid=$!
}

wait_relay() {
	wait "$relay_pid" || die "the proxy relay ($MOAT_RELAY) failed (its error is above); moat's binary must be a static Linux build (make build, or set MOAT_PROXY_BINARY)"
}

# wait_buildkit holds the command back until the run's BuildKit sidecar,
# which moat starts in this container's network once it runs, answers on
# loopback; then, where the docker CLI has buildx, it makes the sidecar
# the agent's default builder, so 'docker buildx build --load' uses it.
wait_buildkit() {
	deadline=$(( $(date +%s) + ${MOAT_DIND_TIMEOUT:-30} + 30 ))
	until bash -c "exec 3<>/dev/tcp/127.0.0.1/$MOAT_BUILDKIT_PORT" 2>/dev/null; do
		[ "$(date +%s)" -lt "$deadline" ] || die "the run's BuildKit sidecar did not answer on port $MOAT_BUILDKIT_PORT; see 'moat logs' and the run's buildkit/buildkitd.log, or set docker.buildkit: false"
		sleep 0.05
	done
	if docker buildx version >/dev/null 2>&1; then
		setpriv --reuid="$uid" --regid="$gid" --groups="$groups" env HOME="$home" \
			docker buildx create --name moat --driver remote --use "tcp://buildkit:$MOAT_BUILDKIT_PORT" >/dev/null 2>&1 ||
			echo "moat-init: warning: could not register the BuildKit sidecar as the buildx builder" >&2
	fi
}

main() {
	# The agent's variables come first, up to "--"; env(1) applies them
	# and then runs the command, as the agent (see the end of main).
	n=0
	for a do
		[ "$a" != -- ] || break
		case $a in *=*) ;; *) die "usage: moat-init [NAME=VALUE]... -- COMMAND [ARG]..." ;; esac
		n=$((n + 1))
	done
	[ "$n" -lt "$#" ] || die "usage: moat-init [NAME=VALUE]... -- COMMAND [ARG]..."
	[ "$((n + 1))" -lt "$#" ] || die "no command given"
	# Drop the "--". env takes a command word with "=" in it for one more
	# variable: such a command runs through sh's exec instead.
	i=0
	for a do
		shift
		if [ "$i" = "$n" ]; then
			:
		elif [ "$i" = "$((n + 1))" ] && [ "${a#*=}" != "$a" ]; then
			set -- "$@" /bin/sh -c 'exec "$@"' sh "$a"
		else
			set -- "$@" "$a"
		fi
		i=$((i + 1))
	done
	set -- env -- PATH="$agent_path" "$@"
	if [ "$(id -u)" != 0 ]; then
		exec "$@"
	fi
	uid=${MOAT_UID:?MOAT_UID is not set}
	gid=${MOAT_GID:?MOAT_GID is not set}
	[ "$uid" != 0 ] || die "refusing to run the agent as root (MOAT_UID=0)"
	if [ -n "${MOAT_PROXY_SOCKET:-}" ]; then start_relay; fi
	ensure_group "$gid"
	ensure_user "$uid" "$gid"
	groups=$gid
	if [ -n "${MOAT_PROXY_CA:-}" ]; then trust_proxy_ca; fi
	if [ -n "${MOAT_DOCKER_SOCKET:-}" ]; then setup_docker_host; fi
	if [ "${MOAT_DIND:-}" = 1 ]; then setup_dind; fi
	if [ ! -d "$home" ]; then
		mkdir -p "$home"
		chown "$uid:$gid" "$home"
	fi
	if [ "${MOAT_DIND:-}" = 1 ]; then write_docker_proxies; fi
	if [ -n "${MOAT_BUILDKIT_PORT:-}" ]; then wait_buildkit; fi
	if [ -n "${MOAT_PROXY_SOCKET:-}" ]; then wait_relay; fi
	export HOME="$home" USER="$user" LOGNAME="$user"
	set -- setpriv --reuid="$uid" --regid="$gid" --groups="$groups" --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"
	if [ "${MOAT_DIND:-}" = 1 ]; then
		run_then_stop_dind "$@"
	fi
	exec "$@"
}

# run_then_stop_dind runs the agent's command as a child, passing signals
# on, and when it ends stops the nested daemon cleanly, so a kept state
# volume (docker.cache) is never left half-written. It exits with the
# command's status.
run_then_stop_dind() {
	# An asynchronous command's stdin is /dev/null unless redirected from a
	# descriptor saved before: keep the agent's stdin (and terminal).
	exec 3<&0
	"$@" 0<&3 3<&- &
	agent=$!
	exec 3<&-
	status=0
	wait "$agent" || status=$?
	while kill -0 "$agent" 2>/dev/null; do
		status=0
		wait "$agent" || status=$?
	done
	stop_dind
	exit "$status"
}

# on_signal passes signal $1 to the agent once it runs; before that (the
# daemon is still starting) it stops the daemon and exits as killed by it.
on_signal() {
	if [ -n "${agent:-}" ]; then
		kill -"$1" "$agent" 2>/dev/null
		return
	fi
	stop_dind
	exit $((128 + $2))
}

# stop_dind stops the nested daemon, waiting up to 10 s for it to exit.
stop_dind() {
	[ -n "${dind_pid:-}" ] || return 0
	kill -TERM "$dind_pid" 2>/dev/null || return 0
	i=0
	while kill -0 "$dind_pid" 2>/dev/null && [ "$i" -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
}

main "$@"
