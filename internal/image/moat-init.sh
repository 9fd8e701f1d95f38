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

# The inner daemon of docker:dind runs as uid 0 of a user namespace whose
# root is the agent's user on the host (and whose other ids are host ids
# from MOAT_DIND_SUBIDS), in a network namespace of its own that
# slirp4netns connects to this container's loopback: 10.0.2.2 there is
# 127.0.0.1 here. Root of an inner container is the agent's user on the
# host, with no capability outside the namespace. The namespace is
# created by 'moat userns-run' (a copy of moat's binary in the image),
# started as the agent's user, so that host root has no power over it by
# ownership.

# start_dind does what needs CAP_SYS_ADMIN, which the run container has
# for this alone: it mounts a fresh proc and a read-only sysfs in a private
# mount namespace for the daemon (the kernel lets a user namespace mount
# proc and sysfs for its containers only where fully visible ones are
# mounted; this container's own keep Docker's masks), starts the daemon
# there, and then runs moat-init again without CAP_SYS_ADMIN in its
# bounding set, so nothing this container runs from then on can get it.
# MOAT_DIND_PID tells the second moat-init the daemon is starting.
start_dind() {
	uid=${MOAT_UID:?MOAT_UID is not set}
	gid=${MOAT_GID:?MOAT_GID is not set}
	[ "$uid" != 0 ] || die "refusing to run the agent as root (MOAT_UID=0)"
	dind_log=${MOAT_DIND_LOG:-/var/log/moat-dind/dockerd.log}
	mkdir -p "${dind_log%/*}"
	rt=/run/user/$uid
	# The places the daemon (the agent's user on the host) writes: made
	# here, then given to it (root here has CAP_CHOWN, not DAC_OVERRIDE).
	mkdir -p /run/user /run/docker /run/containerd
	[ -d "$rt" ] || mkdir -m 700 "$rt"
	[ -e /run/xtables.lock ] || : >/run/xtables.lock
	# (chmod before chown: once the agent owns a file, root here cannot.)
	chmod 600 /dev/net/tun
	chown "$uid:$gid" "$rt" /run/docker /run/containerd /run/xtables.lock /var/lib/docker /dev/net/tun
	ln -sf "$rt/docker.sock" /run/docker.sock
	# shellcheck disable=SC2016 # expanded by the shells that run them
	daemon='set -e
ip link set lo up
mount -t tmpfs -o mode=755 tmpfs /etc/docker
mkdir -p "$1/rk" "$1/bin"
# ROOTLESSKIT_STATE_DIR puts dockerd in rootless mode (no cgroups of its
# own), where it insists on finding rootlesskit-docker-proxy in PATH
# although --userland-proxy-path names the proxy it runs.
proxy=$(command -v docker-proxy)
ln -sf "$proxy" "$1/bin/rootlesskit-docker-proxy"
export ROOTLESSKIT_STATE_DIR="$1/rk" XDG_RUNTIME_DIR="$1" HOME="$1" PATH="$1/bin:$PATH"
for v in HTTP_PROXY HTTPS_PROXY http_proxy https_proxy; do
	eval "x=\${$v:-}"
	case $x in *@127.0.0.1:*) export "$v=${x%%@127.0.0.1:*}@10.0.2.2:${x#*@127.0.0.1:}" ;; esac
done
# scrub_dind_state keeps only image content of a kept state directory
# (docker.cache), which the agent of an earlier run controlled: containers
# (and their writable layers), volumes, networks, plugins, swarm and
# build state are removed before the daemon starts, so nothing restarts
# (--restart=always) or is found again; tags are dropped, so a name the
# agent re-pointed (debian:bookworm-slim) must be pulled or loaded again:
# the images stay, untagged, as a layer cache.
# It runs here, as the root of the namespace, who owns that state (root in
# the run container does not: no CAP_DAC_OVERRIDE).
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
scrub_dind_state /var/lib/docker
driver=overlay2
t=/var/lib/docker/.moat-overlay-check
rm -rf "$t" && mkdir -p "$t/l" "$t/u" "$t/w" "$t/m"
if mount -t overlay overlay -o "lowerdir=$t/l,upperdir=$t/u,workdir=$t/w" "$t/m" 2>/dev/null; then umount "$t/m"; else
	driver=vfs
	echo "moat-dind: overlay2 is not available; using vfs"
fi
rm -rf "$t"
# Inner containers trust the proxy CA of the run, which opens their TLS
# too: their runtime is a wrapper of runc (moat oci-runtime, see
# internal/ociwrap), which mounts the CA bundle of the image plus the CA
# over the bundle of the image. (No apostrophes here: this is quoted.)
runtime=
if [ -n "${MOAT_PROXY_CA:-}" ]; then
	printf "#!/bin/sh\nexec %s oci-runtime \"\$@\"\n" "$MOAT_USERNS_RUN" >"$1/bin/moat-runc"
	chmod 755 "$1/bin/moat-runc"
	export MOAT_OCIWRAP_CA="$MOAT_PROXY_CA" MOAT_OCIWRAP_RUNC="$(command -v runc)"
	runtime="--add-runtime=moat=$1/bin/moat-runc --default-runtime=moat"
fi
# shellcheck disable=SC2086 # MOAT_DIND_ARGS and runtime are lists of flags
exec dockerd --data-root=/var/lib/docker --exec-root="$1/docker" --pidfile="$1/docker.pid" -H "unix://$1/docker.sock" \
	--storage-driver="$driver" --userland-proxy-path="$proxy" $runtime $MOAT_DIND_ARGS'
	# moat userns-run --setup mounts the fresh proc and sysfs in a private
	# mount namespace, becomes the agent's user with only CAP_SETUID and
	# CAP_SETGID, and starts the daemon's script as root of the new user
	# namespace (one program where unshare, mount and setpriv were four).
	# The daemon runs as the agent's user on the host: it must not hold the
	# attestation's values (see start_relay), which this pass keeps for the
	# next one.
	subs=${MOAT_DIND_SUBIDS:-100000:65536}
	(
		unset MOAT_ATTEST
		exec "$MOAT_USERNS_RUN" userns-run --uid "$uid" --gid "$gid" --sub-start "${subs%:*}" --sub-count "${subs#*:}" \
			--setup /run/moat-dind-ns --slirp --slirp-api "$rt/slirp.sock" -- /bin/sh -c "$daemon" moat-dind "$rt"
	) </dev/null >>"$dind_log" 2>&1 &
	MOAT_DIND_PID=$!
	export MOAT_DIND_PID
	# The image's PATH, which this script keeps for the agent, goes back
	# in: the second moat-init takes the agent's PATH from its own.
	exec setpriv --bounding-set=-sys_admin --inh-caps=-sys_admin -- env PATH="$agent_path" "$0" "$@"
}

# dind_fail reports a daemon that did not start, with its log's tail.
dind_fail() {
	echo "moat-init: docker:dind: $1; the last lines of its log (kept with the run as dind/$(basename "$dind_log")):" >&2
	tail -n 20 "$dind_log" | sed 's/^/  /' >&2
	exit 125
}

# write_docker_proxies gives containers and builds the agent starts with the
# inner daemon the run's proxy settings, through the docker CLI's config.
# The daemon's containers reach the run's loopback, where the relay
# listens, at 10.0.2.2 (slirp4netns).
write_docker_proxies() {
	http=${HTTP_PROXY:-${http_proxy:-}}
	https=${HTTPS_PROXY:-${https_proxy:-}}
	no=${NO_PROXY:-${no_proxy:-}}
	[ -n "$http$https" ] || return 0
	case $http in *@127.0.0.1:*) http="${http%%@127.0.0.1:*}@10.0.2.2:${http#*@127.0.0.1:}" ;; esac
	case $https in *@127.0.0.1:*) https="${https%%@127.0.0.1:*}@10.0.2.2:${https#*@127.0.0.1:}" ;; esac
	# Written as the agent, who owns its home (root here cannot write
	# there: it has no CAP_DAC_OVERRIDE).
	printf '{"proxies":{"default":{"httpProxy":"%s","httpsProxy":"%s","noProxy":"%s"}}}\n' \
		"$(json_escape "$http")" "$(json_escape "$https")" "$(json_escape "$no")" |
		setpriv --reuid="$uid" --regid="$gid" --clear-groups sh -c 'mkdir -p "$1/.docker" && cat >"$1/.docker/config.json"' sh "$home" ||
		echo "moat-init: warning: docker:dind: could not write $home/.docker/config.json; containers the agent starts get no proxy settings" >&2
}

# json_escape escapes backslashes and double quotes for a JSON string
# (sed only when there is one: each program started costs the run's start).
json_escape() {
	case $1 in
	*[\\\"]*) printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' ;;
	*) printf '%s' "$1" ;;
	esac
}

# setup_dind waits for the run's own Docker daemon, which start_dind
# started, before the agent's command.
setup_dind() {
	trap 'on_signal TERM 15' TERM
	trap 'on_signal INT 2' INT
	trap 'on_signal HUP 1' HUP
	dind_log=${MOAT_DIND_LOG:-/var/log/moat-dind/dockerd.log}
	dind_pid=${MOAT_DIND_PID:?MOAT_DIND_PID is not set}
	rt=/run/user/$uid
	# The daemon serves its API once it has logged both that it listens
	# and that its initialization is complete (in either order: with an
	# external containerd it listens first; a request made between the
	# two lines and serving waits in the socket's backlog, not in error).
	# moat init-wait follows the log by inotify and the daemon by a pidfd:
	# no loop starts programs on the CPUs the daemon's start needs, and
	# the command starts the moment the daemon is ready. It runs in the
	# background so that a signal's trap runs at once, not when it ends.
	"$MOAT_USERNS_RUN" init-wait --file "$dind_log" --pid "$dind_pid" --timeout "${MOAT_DIND_TIMEOUT:-30}s" \
		--line 'API listen on' --line 'msg="Daemon has completed initialization"' &
	ready=0
	wait "$!" || ready=$?
	case $ready in
	0) ;;
	1) dind_fail "the Docker daemon exited while starting" ;;
	*) dind_fail "the Docker daemon did not become ready within ${MOAT_DIND_TIMEOUT:-30}s" ;;
	esac
	if grep -q '^moat-dind: overlay2 is not available' "$dind_log"; then
		echo "moat-init: warning: docker:dind: overlay2 is not available here; the inner daemon uses vfs, which copies every layer" >&2
	fi
	# The agent's docker CLI (and the agent's own tools) use the daemon's
	# socket, which belongs to the agent's user; /run/docker.sock links to
	# it for tools that ignore DOCKER_HOST.
	export DOCKER_HOST="unix://$rt/docker.sock"
}


# install_agent_files puts the agent profile's system files (managed
# settings, the sandbox note) in place as root's, 0644: some agents (Gemini
# CLI) ignore managed settings that root does not own, and the mounts moat
# stages them in are the host user's. Each word of MOAT_AGENT_FILES is
# STAGED:TARGET; TARGET is outside every directory the agent writes.
install_agent_files() {
	for pair in $MOAT_AGENT_FILES; do
		dst=${pair#*:}
		[ -d "${dst%/*}" ] || mkdir -p "${dst%/*}"
		cp "${pair%%:*}" "$dst" || die "installing the agent's file $dst failed"
		chmod 0644 "$dst"
	done
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

# install_ssh_files installs the ssh client configuration of a run with
# ssh grants, root's and 0644, where every ssh reads it: it sends every
# connection through the run's proxy ('proxy connect'), and the grants'
# host keys are the only known ones. The relay serves SSH_AUTH_SOCK.
install_ssh_files() {
	[ -d /etc/ssh/ssh_config.d ] || mkdir -p /etc/ssh/ssh_config.d
	cp "$MOAT_SSH_FILES/moat.conf" /etc/ssh/ssh_config.d/moat.conf || die "installing the ssh configuration failed"
	cp "$MOAT_SSH_FILES/known_hosts" /etc/ssh/ssh_known_hosts || die "installing the ssh grants' host keys failed"
	chmod 0644 /etc/ssh/ssh_config.d/moat.conf /etc/ssh/ssh_known_hosts
	# Debian's ssh_config reads ssh_config.d first; one that does not
	# (or none at all) gets moat's configuration all the same.
	if [ ! -f /etc/ssh/ssh_config ] || ! grep -q '^Include /etc/ssh/ssh_config.d/' /etc/ssh/ssh_config; then
		printf 'Include /etc/ssh/ssh_config.d/moat.conf\n' >>/etc/ssh/ssh_config
	fi
	if ! command -v ssh >/dev/null 2>&1; then
		echo "moat-init: warning: the run has ssh grants and the image has no ssh client; add ssh to agent.yaml's dependencies" >&2
		return 0
	fi
	# The run's agent signs only for sessions the client binds to their
	# host (session-bind@openssh.com), which OpenSSH does from 8.9 on.
	version=$(ssh -V 2>&1) || version=
	version=${version#OpenSSH_}
	major=${version%%.*}
	minor=${version#*.}
	minor=${minor%%[!0-9]*}
	case $major$minor in *[!0-9]* | '') return 0 ;; esac
	if [ "$major" -lt 8 ] || { [ "$major" = 8 ] && [ "$minor" -lt 9 ]; }; then
		echo "moat-init: warning: this image's OpenSSH ($major.$minor) does not bind sessions to their host, so the run's SSH agent will sign nothing; moat needs OpenSSH 8.9 or later" >&2
	fi
}

# start_relay starts the relay, which opens port $MOAT_PROXY_PORT (the
# address HTTP_PROXY names; /etc/hosts maps "proxy" to 127.0.0.1) in this
# container's network namespace, which has nothing but loopback, and hands
# the listening socket to the proxy sidecar over its unix socket: the proxy
# then accepts the agent's connections itself. It runs as root without
# capabilities, so the agent can neither kill nor replace it. It returns
# once the proxy holds the port, leaving a process in a session of its own
# that holds the hand-over connection for as long as the container lives:
# when it goes, the proxy sees it and stops by itself, even after a command
# that never used the network. It comes up while the rest of the setup
# runs; wait_relay holds the command back until the proxy has the port,
# and fails the run if the proxy never came.
#
# Before it returns, the relay attests the run's egress from here (no
# route out, the policy's refusal, the token, the grants: docs/egress.md,
# "Attestation") against MOAT_ATTEST, which only it may hold: the variable
# is unset here as soon as it has started, so nothing started later, the
# agent's command above all, inherits the nonce and the grants' proofs.
# (The agent cannot read the environment of root's processes in /proc.)
#
# With MOAT_SSH_AGENT, the relay also creates the agent's ssh-agent socket
# there (SSH_AUTH_SOCK) as root, and its background half serves it for as
# long as it lives: each connection reaches the run's ssh agent through the
# proxy with the run's token (the relay is not a boundary: the proxy checks
# every request, and the agent holds the token too, in its proxy URL).
start_relay() {
	set -- proxy relay --listen "0.0.0.0:$MOAT_PROXY_PORT" --socket "$MOAT_PROXY_SOCKET"
	[ -z "${MOAT_SSH_AGENT:-}" ] || set -- "$@" --ssh-agent "$MOAT_SSH_AGENT"
	setpriv --inh-caps=-all --bounding-set=-all --no-new-privs -- "$MOAT_RELAY" "$@" \
		</dev/null >/dev/null &
	relay_pid=$!
	unset MOAT_ATTEST
}

# wait_relay fails the run if the relay did: exit status 3 is a failed
# attestation, whose reason the relay has printed.
wait_relay() {
	relayed=0
	wait "$relay_pid" || relayed=$?
	case $relayed in
	0) ;;
	3) exit 125 ;;
	*) die "the proxy relay ($MOAT_RELAY) failed (its error is above); moat-sidecar (or moat) must be a static Linux build from the same build as moat (make build makes both, or set MOAT_PROXY_BINARY)" ;;
	esac
}

# wait_buildkit holds the command back until the run's BuildKit sidecar,
# which moat starts in this container's network once it runs, answers on
# loopback; then, where the docker CLI has buildx, it makes the sidecar
# the agent's default builder, so 'docker buildx build --load' uses it.
wait_buildkit() {
	# moat init-wait tries the port every few milliseconds from one
	# process (no program started per try); in the background, so that a
	# signal's trap runs at once.
	"$MOAT_USERNS_RUN" init-wait --connect "127.0.0.1:$MOAT_BUILDKIT_PORT" --timeout "$((${MOAT_DIND_TIMEOUT:-30} + 30))s" 2>/dev/null &
	up=0
	wait "$!" || up=$?
	[ "$up" = 0 ] || die "the run's BuildKit sidecar did not answer on port $MOAT_BUILDKIT_PORT; see 'moat logs' and the run's buildkit/buildkitd.log, or set docker.buildkit: false"
	# The CLI looks for plugins in these directories (and the user's
	# ~/.docker/cli-plugins, empty here): without buildx, starting the
	# docker CLI to find out costs the run's start tens of ms.
	buildx=
	for d in /usr/local/lib/docker/cli-plugins /usr/local/libexec/docker/cli-plugins /usr/lib/docker/cli-plugins /usr/libexec/docker/cli-plugins; do
		[ -x "$d/docker-buildx" ] && buildx=$d/docker-buildx && break
	done
	if [ -n "$buildx" ] && docker buildx version >/dev/null 2>&1; then
		setpriv --reuid="$uid" --regid="$gid" --groups="$groups" env HOME="$home" \
			docker buildx create --name moat --driver remote --use "tcp://buildkit:$MOAT_BUILDKIT_PORT" >/dev/null 2>&1 ||
			echo "moat-init: warning: could not register the BuildKit sidecar as the buildx builder" >&2
	fi
}

# check_command says, as docker does, why the command cannot run before
# anything is set up: not found in the run's PATH (127), or a directory or
# a file without execute permission (126). Shell builtins only: no program
# is started for it. moat exec's script holds a copy of it
# (image.InitFunction), with agent_path and who (its own name) set.
check_command() {
	case $1 in
	*/*)
		[ -e "$1" ] || { echo "${who:-moat-init}: $1: no such file in the run's container" >&2; exit 127; }
		[ ! -d "$1" ] || { echo "${who:-moat-init}: $1 is a directory, not a command" >&2; exit 126; }
		[ -x "$1" ] || { echo "${who:-moat-init}: $1 is not executable; make it so with chmod +x" >&2; exit 126; }
		return 0
		;;
	esac
	saved_ifs=$IFS
	IFS=:
	for d in $agent_path; do
		if [ -n "$d" ] && [ -f "$d/$1" ] && [ -x "$d/$1" ]; then
			IFS=$saved_ifs
			return 0
		fi
	done
	IFS=$saved_ifs
	echo "${who:-moat-init}: $1: command not found in the run's image (PATH $agent_path); add what provides it to agent.yaml's dependencies" >&2
	exit 127
}

main() {
	if [ "${MOAT_DIND:-}" = 1 ] && [ -z "${MOAT_DIND_PID:-}" ] && [ "$(id -u)" = 0 ]; then
		start_dind "$@"
	fi
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
	i=0 command='' path_given=''
	for a do
		shift
		if [ "$i" = "$n" ]; then
			:
		elif [ "$i" = "$((n + 1))" ] && [ "${a#*=}" != "$a" ]; then
			set -- "$@" /bin/sh -c 'exec "$@"' sh "$a"
		else
			[ "$i" != "$((n + 1))" ] || command=$a
			[ "$i" -ge "$n" ] || [ "${a#PATH=}" = "$a" ] || path_given=1
			set -- "$@" "$a"
		fi
		i=$((i + 1))
	done
	# A PATH of the agent's own is env(1)'s to search.
	if [ -n "$command" ] && [ -z "$path_given" ]; then check_command "$command"; fi
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
	if [ -n "${MOAT_SSH_FILES:-}" ]; then install_ssh_files; fi
	if [ -n "${MOAT_DOCKER_SOCKET:-}" ]; then setup_docker_host; fi
	if [ "${MOAT_DIND:-}" = 1 ]; then setup_dind; fi
	# A home that a mount below it made (an agent's state directory) is
	# root's: the agent's own, like one made here.
	if [ ! -d "$home" ]; then
		mkdir -p "$home"
		chown "$uid:$gid" "$home"
	elif [ "${home#/home/}" != "$home" ] && [ "$(stat -c %u "$home")" = 0 ]; then
		chown "$uid:$gid" "$home"
	fi
	if [ -n "${MOAT_AGENT_FILES:-}" ]; then install_agent_files; fi
	if [ "${MOAT_DIND:-}" = 1 ]; then write_docker_proxies; fi
	if [ -n "${MOAT_BUILDKIT_PORT:-}" ]; then wait_buildkit; fi
	if [ -n "${MOAT_PROXY_SOCKET:-}" ]; then wait_relay; fi
	export HOME="$home" USER="$user" LOGNAME="$user"
	# The run is set up: 'moat exec' waits for this file, root's, so that
	# its command finds what the agent's does (user, proxy, daemon).
	[ -d /run/moat ] || mkdir -p /run/moat
	: >/run/moat/started
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
		kill -"$1" "$agent" 2>/dev/null || true # it may have ended: not an error under set -e
		return
	fi
	stop_dind
	exit $((128 + $2))
}

# stop_dind stops the nested daemon, waiting up to 10 s for it to exit.
# Once the daemon logs that its shutdown is complete (its state written and
# closed, a kept docker.cache whole), what it does before its process ends
# (about a second, waiting on its containerd supervisor) is not waited for:
# the namespace's helper is killed, and the kernel kills the daemon with it.
stop_dind() {
	[ -n "${dind_pid:-}" ] || return 0
	kill -TERM "$dind_pid" 2>/dev/null || return 0
	if "$MOAT_USERNS_RUN" init-wait --file "$dind_log" --pid "$dind_pid" --timeout 10s \
		--line 'msg="Daemon shutdown complete"' 2>/dev/null; then
		# It may have ended by itself meanwhile: under set -e a failed kill
		# here would end moat-init, and the run, with status 1.
		kill -KILL "$dind_pid" 2>/dev/null || true
	fi
	return 0
}

main "$@"
