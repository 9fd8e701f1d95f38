#!/usr/bin/env bash
# kube-testbed.sh runs the real single-node Kubernetes cluster that moat's
# Kubernetes tests use (issue 16): etcd, kube-apiserver, controller-manager,
# scheduler and kubelet built from the Go module proxy, kube-router enforcing
# NetworkPolicy, and a containerd instance of its own. What works on these
# machines, and why each flag is there, is in the shared kubernetes-testbed.md.
#
#   up      build or restore the binaries, start the cluster, wait for a Ready
#           node; a second 'up' on a healthy cluster only checks
#   env     print export lines for KUBECONFIG, PATH and the e2e tests
#   check   prove registry pulls, pod-to-node traffic and NetworkPolicy
#   down    stop everything, undo every host change, compare with the
#           snapshot 'up' took; exits 1 and prints the difference if any
#   build   only build or restore the cached binaries and packages
#
# Built binaries are cached outside the clone in $MOAT_TESTBED_CACHE (default
# ~/.cache/moat-testbed), keyed by every version that goes into them; the
# cluster's state lives in $MOAT_KUBE_DIR (default /tmp/moat-kube).
set -euo pipefail

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.6.16
KUBE_ROUTER_VERSION=v2.1.0
# Bump when the build recipe changes in a way the versions do not show.
RECIPE=1
DEBS=(containernetworking-plugins ipset libipset13)

CACHE=${MOAT_TESTBED_CACHE:-$HOME/.cache/moat-testbed}
KDIR=${MOAT_KUBE_DIR:-/tmp/moat-kube}
REGISTRY=127.0.0.1:5000
BRIDGE=moatkube0
POD_CIDR=10.244.0.0/24
CLUSTER_CIDR=10.244.0.0/16
SERVICE_CIDR=10.96.0.0/12
SERVICE_IP=10.96.0.1
API=https://127.0.0.1:6443
PAUSE_IMAGE=moat.local/pause:$RECIPE
# The order 'down' stops them in; 'up' starts them in reverse.
COMPONENTS=(kubelet kube-router kube-scheduler kube-controller-manager kube-apiserver containerd etcd)
# Sysctls the kubelet (or the bridge plugin) sets; 'down' puts them back.
# IPv6 forwarding is Docker's (an e2e test's IPv6 network turns it on, and
# with it the kernel's anycast routes on every interface): put back too, so
# the routes compare equal.
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
	kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward
	net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
	net.ipv6.conf.all.forwarding)
# Paths outside $KDIR the kubelet, containerd and libcni create whatever their
# flags say; 'down' removes the ones that did not exist before 'up'.
HOST_PATHS=(/var/lib/kubelet /var/log/containers /var/log/pods /usr/libexec/kubernetes
	/var/lib/cni /run/netns /etc/cni /opt/cni /opt/containerd /var/run/kubernetes
	/var/lib/kube-router /etc/kubernetes)
# Host state that Docker and other people's containers change on their own
# while the cluster runs: shown by 'down', never a failure.
OTHERS='DOCKER|docker0|br-[0-9a-f]{12}|/var/lib/docker|/run/docker|/docker(/|$)| dev veth|master (docker0|br-)'

log() { printf 'kube-testbed: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

require_root() {
	[ "$(id -u)" -eq 0 ] || die "the cluster needs root (kubelet, containerd, iptables); run it as root or with sudo"
}

# --- cache ----------------------------------------------------------------

go_version() { go env GOVERSION; }

bin_dir() {
	echo "$CACHE/kube-bin-k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kube-router-$KUBE_ROUTER_VERSION-$(go_version)-r$RECIPE"
}

deb_versions() {
	local pkg ver pins=()
	for pkg in "${DEBS[@]}"; do
		ver=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
		if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
			as_root apt-get update -qq
			ver=$(apt-cache policy "$pkg" | awk '/Candidate:/ {print $2}')
		fi
		if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then die "no Debian package $pkg in the apt sources"; fi
		pins+=("$pkg=$ver")
	done
	echo "${pins[*]}"
}

deb_dir() {
	echo "$CACHE/kube-debs-$(deb_versions | sha256sum | cut -c1-16)"
}

# go_build_module builds packages from a throw-away module in $1 (which holds
# go.mod and the Go files) into $2. Further arguments go to 'go build'.
go_build_module() {
	local mod=$1 out=$2
	shift 2
	(
		cd "$mod"
		export GOWORK=off GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
		nice -n 10 go mod tidy
		nice -n 10 go build -trimpath -o "$out/" "$@"
	)
}

build_kubernetes() {
	local work=$1 out=$2 gomod staging ver=${K8S_VERSION#v} minor
	minor=$(echo "$ver" | cut -d. -f2)
	mkdir -p "$work/k8s"
	(cd "$work/k8s" && GOWORK=off GOTOOLCHAIN=local go mod download "k8s.io/kubernetes@$K8S_VERSION")
	gomod=$(cd "$work/k8s" && GOWORK=off go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
	# kubernetes' go.mod points its staging modules at ./staging; a module
	# that requires it must name their published v0.x versions instead. The
	# two sample modules are not published at these versions, and unneeded.
	staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod" | grep -v -e sample-cli-plugin -e sample-controller)
	{
		echo "module moat.local/kube-testbed/kubernetes"
		echo "go 1.26.0"
		echo "require k8s.io/kubernetes $K8S_VERSION"
		echo "replace ("
		for m in $staging; do echo "	$m => $m v0.${ver#*.}"; done
		echo ")"
	} >"$work/k8s/go.mod"
	cat >"$work/k8s/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
	# Without these the binaries and the Node report v0.0.0-master.
	local x="" pkg
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		x+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
	done
	log "building Kubernetes $K8S_VERSION (about 6 minutes on 2 cores)"
	go_build_module "$work/k8s" "$out" -ldflags "-s -w$x" \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kubelet
}

build_etcd() {
	local work=$1 out=$2
	mkdir -p "$work/etcd"
	printf 'module moat.local/kube-testbed/etcd\ngo 1.26.0\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$work/etcd/go.mod"
	cat >"$work/etcd/main.go" <<'GO'
// etcd is etcd's own main, which lives in a module that is not published.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
	log "building etcd $ETCD_VERSION"
	go_build_module "$work/etcd" "$out" -ldflags "-s -w" .
}

build_kube_router() {
	local work=$1 out=$2 mod=github.com/cloudnativelabs/kube-router/v2
	mkdir -p "$work/kube-router"
	printf 'module moat.local/kube-testbed/kube-router\ngo 1.26.0\nrequire %s %s\n' "$mod" "$KUBE_ROUTER_VERSION" >"$work/kube-router/go.mod"
	printf '//go:build tools\n\npackage tools\n\nimport _ "%s/cmd/kube-router"\n' "$mod" >"$work/kube-router/tools.go"
	log "building kube-router $KUBE_ROUTER_VERSION"
	go_build_module "$work/kube-router" "$out" -ldflags "-s -w -X $mod/pkg/version.Version=$KUBE_ROUTER_VERSION" "$mod/cmd/kube-router"
}

# build_pause builds the pod sandbox's first process and packs it as an OCI
# image archive that 'ctr images import' reads: no registry or Docker needed.
build_pause() {
	local work=$1 out=$2
	mkdir -p "$work/pause"
	printf 'module moat.local/kube-testbed/pause\ngo 1.26\n' >"$work/pause/go.mod"
	cat >"$work/pause/main.go" <<'GO'
// pause holds a pod's namespaces: it reaps the children it inherits and
// exits on SIGINT or SIGTERM.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
GO
	go_build_module "$work/pause" "$out" -ldflags "-s -w" .
	oci_archive "$out/pause" "$PAUSE_IMAGE" "$out/pause.oci.tar"
}

# oci_archive writes an OCI image layout archive holding one static binary as
# its entrypoint, named $2 for containerd.
oci_archive() {
	local binary=$1 name=$2 archive=$3 dir
	dir=$(mktemp -d)
	mkdir -p "$dir/root" "$dir/blobs/sha256"
	cp "$binary" "$dir/root/$(basename "$binary")"
	tar -C "$dir/root" --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$dir/layer.tar" .
	local layer layer_size config config_size manifest manifest_size
	layer=$(sha256sum "$dir/layer.tar" | cut -d' ' -f1)
	layer_size=$(stat -c %s "$dir/layer.tar")
	mv "$dir/layer.tar" "$dir/blobs/sha256/$layer"
	printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/%s"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
		"$(basename "$binary")" "$layer" >"$dir/config.json"
	config=$(sha256sum "$dir/config.json" | cut -d' ' -f1)
	config_size=$(stat -c %s "$dir/config.json")
	mv "$dir/config.json" "$dir/blobs/sha256/$config"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
		"$config" "$config_size" "$layer" "$layer_size" >"$dir/manifest.json"
	manifest=$(sha256sum "$dir/manifest.json" | cut -d' ' -f1)
	manifest_size=$(stat -c %s "$dir/manifest.json")
	mv "$dir/manifest.json" "$dir/blobs/sha256/$manifest"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
		"$manifest" "$manifest_size" "$name" "${name##*:}" >"$dir/index.json"
	echo '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
	tar -C "$dir" -cf "$archive" oci-layout index.json blobs
	rm -rf "$dir"
}

ensure_binaries() {
	local out
	out=$(bin_dir)
	[ -e "$out/.complete" ] && return 0
	command -v go >/dev/null 2>&1 || die "go is not on PATH; the cluster's binaries are built from the Go module proxy"
	local work="$CACHE/kube-build"
	rm -rf "$work" "$out.tmp"
	mkdir -p "$work" "$out.tmp"
	local start=$SECONDS
	build_kubernetes "$work" "$out.tmp"
	build_etcd "$work" "$out.tmp"
	build_kube_router "$work" "$out.tmp"
	build_pause "$work" "$out.tmp"
	touch "$out.tmp/.complete"
	rm -rf "$out" "$work"
	mv "$out.tmp" "$out"
	log "built the binaries in $((SECONDS - start))s into $out"
}

ensure_debs() {
	local out
	out=$(deb_dir)
	[ -e "$out/.complete" ] && return 0
	rm -rf "$out.tmp"
	mkdir -p "$out.tmp/debs" "$out.tmp/root"
	log "fetching $(deb_versions)"
	# shellcheck disable=SC2046 # one word per package
	(cd "$out.tmp/debs" && apt-get download -qq $(deb_versions) >/dev/null)
	local deb
	for deb in "$out.tmp"/debs/*.deb; do dpkg -x "$deb" "$out.tmp/root"; done
	deb_versions >"$out.tmp/versions"
	touch "$out.tmp/.complete"
	rm -rf "$out"
	mv "$out.tmp" "$out"
}

ensure_host_tools() {
	local missing=() tool
	for tool in containerd:containerd runc:runc ctr:containerd iptables:iptables nft:nftables \
		openssl:openssl curl:curl findmnt:util-linux perl:perl-base; do
		command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing ${missing[*]}"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# --- host state -----------------------------------------------------------

node_ip() {
	local dev
	dev=$(ip -4 route show default | awk '{for (i = 1; i < NF; i++) if ($i == "dev") {print $(i + 1); exit}}')
	[ -n "$dev" ] || die "no default route: the node IP is the default-route interface's address"
	ip -4 -o addr show dev "$dev" scope global | awk '{split($4, a, "/"); print a[1]; exit}'
}

node_name() { hostname | tr '[:upper:]' '[:lower:]'; }

ipset_cmd() { "$KDIR/bin/ipset" "$@"; }

# host_state prints, section by section, everything the cluster may change on
# the host, without counters or other values that change by themselves.
host_state() {
	local save
	for save in iptables-save ip6tables-save iptables-legacy-save ip6tables-legacy-save; do
		command -v "$save" >/dev/null 2>&1 || continue
		echo "== $save"
		{ "$save" 2>/dev/null || true; } | sed -E '/^#/d; s/\[[0-9]+:[0-9]+\]/[-]/'
	done
	echo "== nft"
	{ nft list ruleset 2>/dev/null || true; } | nft_canonical
	echo "== routes"
	{ ip route show table all; ip -6 route show table all; } | sed -E 's/ +$//' | sort
	echo "== links"
	ip -o link show | awk '{name = $2; master = ""; for (i = 3; i < NF; i++) if ($i == "master") master = $(i + 1); print name, master}' | sort
	echo "== sysctls"
	local s
	for s in "${SYSCTLS[@]}"; do echo "$s = $(sysctl -n "$s" 2>/dev/null || echo absent)"; done
	echo "== mounts"
	findmnt -rn -o TARGET,FSTYPE | sort
	echo "== cgroups"
	find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d 2>/dev/null | sort
	echo "== paths"
	local p
	for p in "${HOST_PATHS[@]}"; do
		if [ -e "$p" ]; then echo "$p exists"; else echo "$p absent"; fi
	done
	echo "== ipsets"
	{ ipset_cmd list -n 2>/dev/null || true; } | sort
}

# nft_canonical prints an nft ruleset one rule a line, each prefixed with its
# table and chain, sorted by them: nft lists chains in an order that changes
# when iptables-nft rewrites a table, even though nothing else did.
nft_canonical() {
	sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/' |
		awk '/^table/ {t = $2 " " $3; c = ""; n = 0; print t; next}
			/^[[:space:]]*chain / {c = $2; n = 0; printf "%s %s %06d\n", t, c, n; next}
			/^[[:space:]]*}?[[:space:]]*$/ {next}
			{sub(/^[[:space:]]+/, ""); printf "%s %s %06d %s\n", t, c, ++n, $0}' |
		sort | sed -E 's/ [0-9]{6}( |$)/\1/'
}

# section NAME FILE prints one section of a host_state dump.
section() { awk -v want="== $1" '/^== / {on = ($0 == want); next} on' "$2"; }

# nft_chains and nft_tables read nft_canonical's output and print "family
# table chain" and "family table" lines.
nft_chains() { awk 'NF == 3'; }
nft_tables() { awk 'NF == 2'; }

take_snapshot() {
	[ -s "$KDIR/snapshot/before" ] && return 0
	mkdir -p "$KDIR/snapshot"
	host_state >"$KDIR/snapshot/before.tmp"
	mv "$KDIR/snapshot/before.tmp" "$KDIR/snapshot/before"
}

# --- certificates and kubeconfigs -------------------------------------------

# cert NAME SUBJECT [SANS]: a key pair signed by the cluster CA.
cert() {
	local name=$1 subject=$2 sans=${3:-} pki=$KDIR/pki
	openssl ecparam -name prime256v1 -genkey -noout -out "$pki/$name.key" 2>/dev/null
	openssl req -new -key "$pki/$name.key" -subj "$subject" -out "$pki/$name.csr" 2>/dev/null
	{
		echo "basicConstraints=CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		if [ -n "$sans" ]; then
			echo "extendedKeyUsage=serverAuth,clientAuth"
			echo "subjectAltName=$sans"
		else
			echo "extendedKeyUsage=clientAuth"
		fi
	} >"$pki/$name.ext"
	openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
		-days 30 -sha256 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
	rm -f "$pki/$name.csr" "$pki/$name.ext"
}

kubeconfig() {
	local name=$1 pki=$KDIR/pki
	cat >"$KDIR/$name.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: moat-kube
  cluster:
    server: $API
    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
- name: $name
  user:
    client-certificate-data: $(base64 -w0 "$pki/$name.crt")
    client-key-data: $(base64 -w0 "$pki/$name.key")
contexts:
- name: moat-kube
  context: {cluster: moat-kube, user: $name}
current-context: moat-kube
EOF
}

make_pki() {
	local ip=$1 node=$2 pki=$KDIR/pki
	[ -s "$pki/.complete" ] && return 0
	mkdir -p "$pki"
	chmod 700 "$pki"
	openssl ecparam -name prime256v1 -genkey -noout -out "$pki/ca.key" 2>/dev/null
	openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=moat-kube-testbed-ca" -days 30 -sha256 \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out "$pki/ca.crt" 2>/dev/null
	cert apiserver "/CN=kube-apiserver" "IP:127.0.0.1,IP:$SERVICE_IP,IP:$ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	cert kubelet-serving "/CN=$node" "IP:$ip,DNS:$node"
	cert admin "/O=system:masters/CN=moat-kube-admin"
	cert controller-manager "/CN=system:kube-controller-manager"
	cert scheduler "/CN=system:kube-scheduler"
	cert kubelet "/O=system:nodes/CN=system:node:$node"
	cert apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client"
	# kube-router watches pods, namespaces and policies cluster-wide.
	cert kube-router "/O=system:masters/CN=kube-router"
	openssl ecparam -name prime256v1 -genkey -noout -out "$pki/sa.key" 2>/dev/null
	openssl ec -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
	local k
	for k in admin controller-manager scheduler kubelet kube-router; do kubeconfig "$k"; done
	echo "$ip" >"$pki/.complete"
}

# --- configuration ----------------------------------------------------------

link_binaries() {
	local bins=$1 debs=$2 b lib
	mkdir -p "$KDIR/bin"
	for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl etcd kube-router; do
		ln -sfn "$bins/$b" "$KDIR/bin/$b"
	done
	lib=$(dirname "$(find "$debs/root" -name 'libipset.so.13*' | head -n1)")
	# kube-router runs the ipset command; Debian's is unpacked, not installed.
	printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$lib" "$debs/root/usr/sbin/ipset" >"$KDIR/bin/ipset"
	chmod +x "$KDIR/bin/ipset"
}

write_containerd_config() {
	local debs=$1 c=$KDIR/containerd
	mkdir -p "$c" "$KDIR/cni/net.d"
	# restrict_oom_score_adj: without CAP_SYS_RESOURCE runc cannot give the
	# sandbox the oom_score_adj the kubelet asks for, and every pod fails.
	cat >"$c/config.toml" <<EOT
version = 2
root = "$c/root"
state = "$c/state"
[grpc]
  address = "$c/containerd.sock"
[ttrpc]
  address = "$c/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$c/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$c/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$debs/root/usr/lib/cni"
    conf_dir = "$KDIR/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$REGISTRY"]
    endpoint = ["http://$REGISTRY"]
EOT
	# ipMasq false: pods reach the node's IP with their own address, and
	# nothing is added to the host's NAT table.
	cat >"$KDIR/cni/net.d/10-moat-kube.conflist" <<EOT
{
  "cniVersion": "1.0.0",
  "name": "moat-kube",
  "plugins": [{
    "type": "bridge",
    "bridge": "$BRIDGE",
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": "$POD_CIDR"}]],
      "routes": [{"dst": "0.0.0.0/0"}],
      "dataDir": "$KDIR/cni/ipam"
    }
  }]
}
EOT
}

write_kubelet_config() {
	local ip=$1
	mkdir -p "$KDIR/kubelet" "$KDIR/pod-logs" "$KDIR/volume-plugins"
	# failCgroupV1: these machines run cgroup v1, which 1.37 refuses by default.
	cat >"$KDIR/kubelet-config.yaml" <<EOT
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$KDIR/containerd/containerd.sock
address: $ip
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $KDIR/pki/kubelet-serving.crt
tlsPrivateKeyFile: $KDIR/pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $KDIR/pki/ca.crt}
authorization: {mode: AlwaysAllow}
podLogsDir: $KDIR/pod-logs
volumePluginDir: $KDIR/volume-plugins
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, nodefs.inodesFree: 1%, imagefs.available: 1%}
EOT
}

# --- processes --------------------------------------------------------------

pid_of() { cat "$KDIR/run/$1.pid" 2>/dev/null; }

# running tells whether the process in $1's PID file is still ours: its
# command line names the work directory, so a reused PID does not count.
running() {
	local pid
	pid=$(pid_of "$1") || return 1
	[ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$KDIR"
}

# start runs a daemon in a session of its own, so that it outlives the shell
# and its process group; the PID file gets the daemon's own PID (exec).
start() {
	local name=$1
	shift
	running "$name" && return 0
	rm -f "$KDIR/run/$name.pid"
	# shellcheck disable=SC2016 # the inner shell expands them
	setsid bash -c 'echo $$ >"$0"; exec "$@"' "$KDIR/run/$name.pid" "$@" \
		>>"$KDIR/log/$name.log" 2>&1 </dev/null &
	for _ in $(seq 1 50); do
		[ -s "$KDIR/run/$name.pid" ] && return 0
		sleep 0.1
	done
	die "$name did not start; see $KDIR/log/$name.log"
}

stop() {
	local name=$1 pid
	running "$name" || { rm -f "$KDIR/run/$name.pid"; return 0; }
	pid=$(pid_of "$name")
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		[ -d "/proc/$pid" ] || break
		sleep 0.1
	done
	if [ -d "/proc/$pid" ]; then
		log "$name ($pid) ignored SIGTERM for 10s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
		sleep 0.5
	fi
	rm -f "$KDIR/run/$name.pid"
}

# wait_for DESCRIPTION SECONDS COMMAND...: until COMMAND succeeds.
wait_for() {
	local what=$1 timeout=$2 deadline
	shift 2
	deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || die "$what: not ready after ${timeout}s; logs are in $KDIR/log"
		sleep 0.3
	done
}

kctl() { "$KDIR/bin/kubectl" --kubeconfig "$KDIR/admin.kubeconfig" "$@"; }
kctr() { ctr --address "$KDIR/containerd/containerd.sock" --namespace k8s.io "$@"; }
etcd_healthy() { curl -fsS http://127.0.0.1:2379/health | grep -q '"health":"true"'; }
api_ready() {
	curl -fsS --cacert "$KDIR/pki/ca.crt" --cert "$KDIR/pki/admin.crt" --key "$KDIR/pki/admin.key" "$API/readyz" | grep -qx ok
}
node_ready() {
	[ "$(kctl get node "$(node_name)" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
node_has_cidr() { [ -n "$(kctl get node "$(node_name)" -o 'jsonpath={.spec.podCIDR}')" ]; }
default_sa() { kctl -n default get serviceaccount default; }

healthy() {
	local c
	for c in "${COMPONENTS[@]}"; do running "$c" || return 1; done
	api_ready 2>/dev/null && node_ready 2>/dev/null && default_sa >/dev/null 2>&1
}

start_components() {
	local ip=$1 node=$2 pki=$KDIR/pki b=$KDIR/bin
	start etcd "$b/etcd" --name moat-kube --data-dir "$KDIR/etcd" --unsafe-no-fsync --log-level warn \
		--listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
		--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster moat-kube=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381
	start containerd containerd --config "$KDIR/containerd/config.toml"
	wait_for etcd 30 etcd_healthy
	start kube-apiserver "$b/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
		--bind-address=127.0.0.1 --secure-port=6443 --advertise-address="$ip" --cert-dir="$pki" \
		--tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
		--client-ca-file="$pki/ca.crt" --service-cluster-ip-range="$SERVICE_CIDR" \
		--service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --allow-privileged=true \
		--kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
		--kubelet-client-key="$pki/apiserver-kubelet-client.key" --kubelet-certificate-authority="$pki/ca.crt" \
		--kubelet-preferred-address-types=InternalIP --profiling=false
	# The node's hostname resolves to 127.0.0.1 on these machines: without
	# InternalIP first the apiserver dials the wrong kubelet address for exec.
	wait_for containerd 30 kctr version
	kctr images ls -q | grep -qxF "$PAUSE_IMAGE" || kctr images import "$(bin_dir)/pause.oci.tar" >/dev/null
	wait_for kube-apiserver 60 api_ready
	start kube-controller-manager "$b/kube-controller-manager" --kubeconfig="$KDIR/controller-manager.kubeconfig" \
		--authentication-kubeconfig="$KDIR/controller-manager.kubeconfig" \
		--authorization-kubeconfig="$KDIR/controller-manager.kubeconfig" \
		--leader-elect=false --bind-address=127.0.0.1 --use-service-account-credentials=true \
		--service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
		--allocate-node-cidrs=true --cluster-cidr="$CLUSTER_CIDR" --node-cidr-mask-size=24 \
		--service-cluster-ip-range="$SERVICE_CIDR"
	start kube-scheduler "$b/kube-scheduler" --kubeconfig="$KDIR/scheduler.kubeconfig" \
		--authentication-kubeconfig="$KDIR/scheduler.kubeconfig" \
		--authorization-kubeconfig="$KDIR/scheduler.kubeconfig" --leader-elect=false --bind-address=127.0.0.1
	start kubelet "$b/kubelet" --config="$KDIR/kubelet-config.yaml" --kubeconfig="$KDIR/kubelet.kubeconfig" \
		--root-dir="$KDIR/kubelet" --cert-dir="$KDIR/kubelet/pki" --node-ip="$ip" --hostname-override="$node"
	# kube-router reads its Node (and the pod CIDR the controller-manager
	# gives it) when it starts: it exits if there is none yet.
	wait_for "node $node registered with a pod CIDR" 60 node_has_cidr
	start kube-router env PATH="$b:$PATH" "$b/kube-router" --kubeconfig="$KDIR/kube-router.kubeconfig" \
		--run-firewall=true --run-router=false --run-service-proxy=false --enable-cni=false \
		--hostname-override="$node" --health-port=0 --metrics-port=0
}

# allow_bridge_forwarding lets pod-to-pod frames through the FORWARD chain,
# whose policy Docker sets to DROP. The rule goes at the end of FORWARD, not
# in DOCKER-USER: there, an ACCEPT could run before kube-router's policy chain
# whenever Docker moves its jump back to the top.
bridge_rule=(FORWARD -i "$BRIDGE" -o "$BRIDGE" -m comment --comment moat-kube-testbed -j ACCEPT)
allow_bridge_forwarding() {
	iptables -C "${bridge_rule[@]}" 2>/dev/null || iptables -A "${bridge_rule[@]}"
	# Bridged frames meet iptables (and kube-router's policies) only with
	# this on; Docker turns it on too.
	[ -e /proc/sys/net/bridge ] || modprobe br_netfilter
	sysctl -qw net.bridge.bridge-nf-call-iptables=1
}

up() {
	require_root
	ensure_host_tools
	local start=$SECONDS
	bash "$(dirname "$0")/registry.sh" >/dev/null
	if [ -d "$KDIR" ] && healthy; then
		log "already up ($(kctl get node -o name)); KUBECONFIG=$KDIR/admin.kubeconfig"
		return 0
	fi
	ensure_binaries
	ensure_debs
	local ip node bins debs
	ip=$(node_ip)
	node=$(node_name)
	bins=$(bin_dir)
	debs=$(deb_dir)
	[ -n "$ip" ] || die "the default-route interface has no IPv4 address"
	if [ -s "$KDIR/pki/.complete" ] && [ "$(cat "$KDIR/pki/.complete")" != "$ip" ]; then
		die "the node IP changed from $(cat "$KDIR/pki/.complete") to $ip; run '$0 down' first"
	fi
	mkdir -p "$KDIR/run" "$KDIR/log"
	link_binaries "$bins" "$debs"
	take_snapshot
	make_pki "$ip" "$node"
	write_containerd_config "$debs"
	write_kubelet_config "$ip"
	allow_bridge_forwarding
	start_components "$ip" "$node"
	wait_for "node $node Ready" 90 node_ready
	wait_for "service account default" 60 default_sa
	local c
	for c in "${COMPONENTS[@]}"; do
		running "$c" || die "$c exited; its log is $KDIR/log/$c.log"
	done
	log "ready in $((SECONDS - start))s: node $node ($ip); KUBECONFIG=$KDIR/admin.kubeconfig"
}

# env_lines also names the cluster for the e2e tests (e2e/kube_test.go).
env_lines() {
	echo "export KUBECONFIG=$KDIR/admin.kubeconfig"
	echo "export PATH=$KDIR/bin:\$PATH"
	echo "export MOAT_TEST_KUBECONFIG=$KDIR/admin.kubeconfig"
	echo "export MOAT_TEST_KUBE_BIN=$KDIR/bin"
}

# --- teardown ---------------------------------------------------------------

# delete_pods removes every pod while the kubelet still runs, so that the
# kubelet stops their sandboxes and the bridge plugin releases their
# addresses and veths (CNI DEL). The controller-manager and scheduler stop
# first so that nothing makes new ones.
delete_pods() {
	running kube-apiserver && running kubelet && api_ready 2>/dev/null || return 0
	stop kube-controller-manager
	stop kube-scheduler
	kctl delete pods --all --all-namespaces --force --grace-period=0 --wait=false >/dev/null 2>&1 || true
	local deadline=$((SECONDS + 60))
	while [ -n "$(kctr tasks ls -q 2>/dev/null)" ]; do
		[ $SECONDS -lt $deadline ] || { log "pod sandboxes still run after 60s; stopping anyway"; return 0; }
		sleep 0.5
	done
}

# kill_leftovers ends, by PID, what outlived containerd: runc shims (their
# command line names our containerd socket) and container processes (in the
# cgroups the kubelet made, which did not exist before 'up').
kill_leftovers() {
	local before=$1 pid procs
	# shellcheck disable=SC2013 # the paths are /proc/PID/cmdline, one word each
	for pid in $(grep -lF "$KDIR/containerd/containerd.sock" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
		case $(readlink "/proc/$pid/exe" 2>/dev/null) in
		*/containerd-shim* | */runc) ;;
		*) continue ;; # this grep itself, or a user's ctr
		esac
		log "killing leftover process $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-100)"
		kill -KILL "$pid" 2>/dev/null || true
	done
	[ -s "$before" ] || return 0
	procs=$(find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d | sort | comm -13 <(section cgroups "$before") - |
		while read -r d; do find "$d" -name cgroup.procs -exec cat {} +; done | sort -u || true)
	for pid in $procs; do
		log "killing leftover container process $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-100)"
		kill -KILL "$pid" 2>/dev/null || true
	done
	[ -z "$procs" ] || sleep 0.5
}

unmount_all() {
	local m
	{ findmnt -rn -o TARGET | grep -E "^($KDIR/|/run/netns/cni-)" || true; } | sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	rm -f /run/netns/cni-* 2>/dev/null || true
}

# clean_iptables removes from one family what the kubelet and kube-router
# added: chains named KUBE-* that did not exist before 'up', the rules in
# other chains that jump to them, and the bridge rule.
clean_iptables() {
	local save=$1 restore=$2 before=$3 table
	for table in filter nat mangle raw; do
		local now script
		now=$("$save" -t "$table" 2>/dev/null) || continue
		script=$(awk -v table="$table" '
			FILENAME == ARGV[1] {
				if ($0 ~ /^\*/) t = substr($0, 2)
				else if (t == table && $0 ~ /^:/) old[substr($1, 2)] = 1
				next
			}
			/^:KUBE-/ { c = substr($1, 2); if (!(c in old)) { new[c] = 1; order[++n] = c } ; next }
			/^-A / { rules[++r] = $0 }
			END {
				for (i = 1; i <= r; i++) {
					nf = split(rules[i], f, " ")
					target = ""
					for (j = 1; j < nf; j++) if (f[j] == "-j" || f[j] == "-g") target = f[j + 1]
					if (f[2] in new) continue
					if ((target in new) || rules[i] ~ /--comment "?moat-kube-testbed"?/) {
						sub(/^-A /, "-D ", rules[i]); print rules[i]
					}
				}
				for (i = 1; i <= n; i++) print "-F " order[i]
				for (i = 1; i <= n; i++) print "-X " order[i]
			}' <(section "$save" "$before") <(echo "$now"))
		[ -n "$script" ] || continue
		printf '*%s\n%s\nCOMMIT\n' "$table" "$script" | "$restore" --noflush ||
			log "$restore could not remove some of: $script"
	done
}

# clean_nft removes the nft chains and tables that appeared with the cluster
# and are empty now (iptables-nft leaves them behind).
clean_nft() {
	local before=$1 fam tbl chain
	nft list ruleset 2>/dev/null | nft_canonical | nft_chains >"$KDIR/snapshot/nft-chains.now"
	section nft "$before" | nft_chains | comm -13 - "$KDIR/snapshot/nft-chains.now" |
		while read -r fam tbl chain; do
			# Only chains with no rule left: a line that is not structure.
			if ! nft list chain "$fam" "$tbl" "$chain" 2>/dev/null | grep -vqE '^[[:space:]]*(table|chain|type|policy|\}|$)'; then
				nft delete chain "$fam" "$tbl" "$chain"
			fi
		done
	nft list ruleset 2>/dev/null | nft_canonical | nft_tables >"$KDIR/snapshot/nft-tables.now"
	section nft "$before" | nft_tables | comm -13 - "$KDIR/snapshot/nft-tables.now" |
		while read -r fam tbl; do
			[ -z "$(nft list ruleset 2>/dev/null | nft_canonical | nft_chains | awk -v f="$fam" -v t="$tbl" '$1 == f && $2 == t')" ] &&
				nft delete table "$fam" "$tbl"
		done
	rm -f "$KDIR/snapshot/nft-chains.now" "$KDIR/snapshot/nft-tables.now"
}

restore_host() {
	local before=$1 name value d p
	ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE"
	clean_iptables iptables-save iptables-restore "$before"
	clean_iptables ip6tables-save ip6tables-restore "$before"
	if [ -x "$KDIR/bin/ipset" ]; then
		ipset_cmd list -n | sort | comm -13 <(section ipsets "$before") - | while read -r name; do
			ipset_cmd destroy "$name" || log "could not destroy ipset $name"
		done
	fi
	clean_nft "$before"
	find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d | sort | comm -13 <(section cgroups "$before") - |
		while read -r d; do
			find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || log "could not remove cgroup $d"
		done
	section sysctls "$before" | while read -r name _ value; do
		[ "$value" = absent ] || [ "$(sysctl -n "$name" 2>/dev/null)" = "$value" ] || sysctl -qw "$name=$value"
	done
	section paths "$before" | while read -r p value; do
		[ "$value" = absent ] && [ -e "$p" ] && rm -rf --one-file-system "$p"
		true
	done
}

# compare prints how the host differs from the snapshot. Differences made by
# Docker and other people's containers meanwhile are shown, not failed on.
compare() {
	local before=$1 after=$2 changes
	changes=$(diff "$before" "$after" | grep -E '^[<>]' || true)
	[ -n "$changes" ] || return 0
	if echo "$changes" | grep -qvE "$OTHERS"; then
		log "the host differs from before 'up' (< before, > after):"
		diff "$before" "$after" >&2 || true
		return 1
	fi
	log "only Docker's state changed since 'up' (others' containers), which is not ours to undo:"
	echo "$changes" >&2
}

down() {
	require_root
	[ -d "$KDIR" ] || { log "not up: $KDIR does not exist"; return 0; }
	local start=$SECONDS c before=$KDIR/snapshot/before
	delete_pods
	for c in "${COMPONENTS[@]}"; do stop "$c"; done
	kill_leftovers "$before"
	unmount_all
	if [ -s "$before" ]; then
		restore_host "$before"
	else
		log "no snapshot in $KDIR/snapshot: 'up' stopped before changing the host, so only processes and mounts were undone"
	fi
	if findmnt -rn -o TARGET | grep -q "^$KDIR/"; then
		die "mounts under $KDIR remain; not removing it"
	fi
	if [ -s "$before" ]; then
		host_state >"$KDIR/snapshot/after"
		if ! compare "$before" "$KDIR/snapshot/after"; then
			rm -rf --one-file-system "$KDIR/containerd" "$KDIR/etcd" "$KDIR/kubelet"
			die "down finished with differences; the snapshots and logs are in $KDIR"
		fi
	fi
	rm -rf --one-file-system "$KDIR"
	log "down in $((SECONDS - start))s; the host matches the snapshot taken before 'up'"
}

# --- check ------------------------------------------------------------------

# A tiny HTTP server in Perl (perl-base is in every Debian image): it answers
# every connection with the address it came from.
# shellcheck disable=SC2016 # Perl's variables
SERVE='use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalAddr => $ARGV[0], LocalPort => $ARGV[1], Listen => 16, ReuseAddr => 1) or die "listen $ARGV[0]:$ARGV[1]: $!\n"; while (my $c = $s->accept) { while (<$c>) { last if /^\r?$/ } print $c "HTTP/1.0 200 OK\r\n\r\n", $c->peerhost, "\n"; close $c }'

check_pods() {
	local image=$REGISTRY/debian:bookworm-slim name labels ports policy
	for spec in "server-a a 8080,8081 IfNotPresent" "server-b b 8080 IfNotPresent" "client client - Always"; do
		read -r name labels ports policy <<<"$spec"
		cat <<YAML
---
apiVersion: v1
kind: Pod
metadata: {name: $name, labels: {app: $labels}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: main
    image: $image
    imagePullPolicy: $policy
    env: [{name: SERVE, value: '$SERVE'}, {name: PORTS, value: '${ports//,/ }'}]
    command: [bash, -c, 'for p in \${PORTS/-/}; do perl -e "\$SERVE" 0.0.0.0 \$p & done; exec sleep infinity']
YAML
	done
}

# probe ADDRESS PORT: from the client pod, prints "ok <peer address>",
# "refused after <ms>: <error>" or "timeout"; the time is measured in the pod.
probe() {
	local out rc
	# shellcheck disable=SC2016 # the pod's shell expands them
	out=$(kctl -n "$CHECK_NS" exec client -- timeout 5 bash -c '
		t0=$(date +%s%N)
		if exec 3<>"/dev/tcp/$0/$1"; then
			printf "GET / HTTP/1.0\r\n\r\n" >&3
			echo "ok $(tail -n1 <&3)"
		else
			echo "refused after $((($(date +%s%N) - t0) / 1000000))ms"
			exit 1
		fi' "$1" "$2" 2>&1) && rc=0 || rc=$?
	case $rc in
	0) echo "$out" ;;
	124) echo timeout ;;
	*) echo "$(echo "$out" | grep -oE 'refused after [0-9]+ms'): $(echo "$out" | grep -oE 'connect: .*' | head -n1)" ;;
	esac
}

# expect WHAT ADDRESS PORT ok|denied: one probe, or a few while a policy
# change reaches kube-router.
expect() {
	local what=$1 addr=$2 port=$3 want=$4 got _
	for _ in $(seq 1 20); do
		got=$(probe "$addr" "$port")
		case "$want:$got" in
		ok:ok* | denied:refused* | denied:timeout*)
			log "  $what ($addr:$port): $got"
			LAST_PROBE=$got
			return 0
			;;
		esac
		sleep 0.5
	done
	die "check failed: $what ($addr:$port): want $want, got $got"
}

policies() {
	cat <<YAML
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress}
spec: {podSelector: {}, policyTypes: [Egress]}
YAML
	[ "$1" = allow ] || return 0
	cat <<YAML
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-a-8080}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress: [{to: [{podSelector: {matchLabels: {app: a}}}], ports: [{protocol: TCP, port: 8080}]}]
YAML
}

check() {
	require_root
	healthy || die "the cluster is not up; run '$0 up' first"
	local ip port start=$SECONDS a b client host_pids=()
	ip=$(node_ip)
	port=$((20000 + RANDOM % 20000))
	CHECK_NS=moat-kube-check-$RANDOM
	perl -e "$SERVE" 0.0.0.0 "$port" >/dev/null 2>&1 &
	host_pids+=($!)
	perl -e "$SERVE" "$ip" $((port + 1)) >/dev/null 2>&1 &
	host_pids+=($!)
	# shellcheck disable=SC2064 # expand now: the values are fixed
	trap "kill ${host_pids[*]} 2>/dev/null; kctl delete namespace $CHECK_NS --wait=false >/dev/null 2>&1" EXIT
	kctl create namespace "$CHECK_NS" >/dev/null
	check_pods | kctl -n "$CHECK_NS" apply -f - >/dev/null
	kctl -n "$CHECK_NS" wait --for=condition=Ready pod --all --timeout=120s >/dev/null ||
		die "check pods not Ready: $(kctl -n "$CHECK_NS" get pods -o wide; kctl -n "$CHECK_NS" get events)"
	log "pods Running, image $REGISTRY/debian:bookworm-slim pulled from the registry (imagePullPolicy Always)"
	a=$(kctl -n "$CHECK_NS" get pod server-a -o 'jsonpath={.status.podIP}')
	b=$(kctl -n "$CHECK_NS" get pod server-b -o 'jsonpath={.status.podIP}')
	client=$(kctl -n "$CHECK_NS" get pod client -o 'jsonpath={.status.podIP}')
	log "no policy:"
	expect "pod to pod" "$a" 8080 ok
	expect "pod to pod" "$b" 8080 ok
	expect "pod to a host server on 0.0.0.0" "$ip" "$port" ok
	expect "pod to a host server on the node IP" "$ip" $((port + 1)) ok
	[ "$LAST_PROBE" = "ok $client" ] || die "check failed: the host saw '${LAST_PROBE#ok }', not the pod's address $client: masqueraded"
	log "egress default-deny:"
	policies deny | kctl -n "$CHECK_NS" apply -f - >/dev/null
	expect "pod to pod" "$a" 8080 denied
	expect "pod to pod" "$b" 8080 denied
	expect "pod to the node IP" "$ip" "$port" denied
	log "egress default-deny plus allow server-a:8080:"
	policies allow | kctl -n "$CHECK_NS" apply -f - >/dev/null
	expect "allowed pod:port" "$a" 8080 ok
	expect "same pod, other port" "$a" 8081 denied
	expect "other pod" "$b" 8080 denied
	expect "the node IP" "$ip" "$port" denied
	kctl delete namespace "$CHECK_NS" --wait=true --timeout=60s >/dev/null
	log "check passed in $((SECONDS - start))s"
}

main() {
	case "${1:-}" in
	up) up ;;
	env) env_lines ;;
	check) check ;;
	down) down ;;
	build)
		ensure_host_tools
		ensure_binaries
		ensure_debs
		;;
	*) die "usage: $0 up|env|check|down|build" ;;
	esac
}

main "$@"
