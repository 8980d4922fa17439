import Foundation

/// The shell script that makes and removes the hosts of a ``LibvirtHosts`` lab (run with bash by `LibvirtHosts`;
/// embedded so that the installed binary, the demo and the tests all run the one copy). See its header for what
/// it does.
enum NamespaceLabScript {
    static let text = #"""
#!/bin/bash
# namespace-lab.sh - libvirt "hosts" on one machine, each in its own network, mount and UTS namespace; no systemd needed.
# Written out and run by LibvirtHosts (NamespaceLab, Swift), which embeds it: one copy for the tests and the demo.
#
#   namespace-lab.sh up DIR PREFIX N    hosts A, B, … (N of them, 1-9) at PREFIX.1 … PREFIX.N, e.g. PREFIX=10.123.45
#   namespace-lab.sh down DIR           everything `up` started is gone afterwards (also after a half-done `up`)
#
# The hosts and the root namespace share a bridge (its name in DIR/bridge, PREFIX.254 on the root side): each host
# has a veth pair with `eth0` inside its namespace and the other end on the bridge, so the root namespace (where
# the RC-TCB runs) reaches every host, and host-to-host traffic (the migration stream) crosses both hosts' links.
# Each host is a namespace holder (a `sleep` whose pid is DIR/H/ns.pid) with a private /run and private copies of
# the packaged /etc/libvirt, /var/lib/libvirt, /var/cache/libvirt and /var/log/libvirt (under DIR/H), its own
# host_uuid, virtlogd and libvirtd. libvirtd listens on TCP at the host's address without authentication (a lab
# only: production uses TLS, see docs/migration.md) and, for programs outside the namespaces, on the Unix socket
# DIR/H/sock/libvirt-sock. Whatever else runs in a host's network namespace (its swtpm, its agent, QEMU) is
# killed by `down`.
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

usage() { echo "usage: $0 up DIR PREFIX N | down DIR" >&2; exit 2; }
socket_uri() { echo "qemu+unix:///system?socket=$1/$2/sock/libvirt-sock"; }
in_host() { local dir=$1 h=$2; shift 2; nsenter -t "$(cat "$dir/$h/ns.pid")" -n -m -u -- "$@"; }
names() { echo ABCDEFGHI | cut -c"1-$1" | fold -w1; }

up() {
    local dir=$1 prefix=$2 count=$3 h n=0 tag bridge
    [[ $count =~ ^[1-9]$ ]] || usage
    tag=$(printf %s "$dir" | md5sum | cut -c1-8)
    bridge=smb$tag
    echo "$bridge" > "$dir/bridge"
    ip link add "$bridge" type bridge
    ip addr add "$prefix.254/24" dev "$bridge"
    ip link set "$bridge" up
    for h in $(names "$count"); do
        n=$((n + 1))
        local ip=$prefix.$n
        mkdir -p "$dir/$h/lib" "$dir/$h/cache" "$dir/$h/log" "$dir/$h/sock"
        cp -a /etc/libvirt "$dir/$h/etc"
        cp -a /var/lib/libvirt/. "$dir/$h/lib/"
        cp -a /var/cache/libvirt/. "$dir/$h/cache/"
        cp -a /var/log/libvirt/. "$dir/$h/log/"
        rm -f "$dir/$h/etc/qemu/networks/autostart/"*.xml     # no default NAT network (dnsmasq) needed
        cat >> "$dir/$h/etc/libvirtd.conf" <<CONF
# --- namespace-lab.sh (a lab: TCP without authentication) ---
listen_tls = 0
listen_tcp = 1
listen_addr = "$ip"
auth_tcp = "none"
unix_sock_dir = "$dir/$h/sock"
host_uuid = "$(cat /proc/sys/kernel/random/uuid)"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
CONF
        # No cgroups here; QEMU as root, so it reaches the guest image whatever the modes of the directories above DIR.
        cat >> "$dir/$h/etc/qemu.conf" <<CONF
# --- namespace-lab.sh ---
cgroup_controllers = [ ]
migration_host = "$ip"
user = "root"
group = "root"
CONF
        echo "$ip" > "$dir/$h/address"
        # The namespace holder: private /run (hence /run/libvirt), the bind mounts, the host name; then it sleeps.
        setsid unshare --net --mount --uts --propagation private --fork -- bash -c '
            set -e; h=$1; dir=$2
            hostname "host$h"
            mount -t tmpfs -o mode=755 tmpfs /run
            mkdir -p /run/libvirt /run/lock
            mount --bind "$dir/$h/etc"   /etc/libvirt
            mount --bind "$dir/$h/lib"   /var/lib/libvirt
            mount --bind "$dir/$h/cache" /var/cache/libvirt
            mount --bind "$dir/$h/log"   /var/log/libvirt
            ip link set lo up
            echo $$ > "$dir/$h/ns.pid.tmp"; mv "$dir/$h/ns.pid.tmp" "$dir/$h/ns.pid"
            exec sleep infinity' _ "$h" "$dir" > "$dir/$h/ns.out" 2>&1 < /dev/null &
    done
    n=0
    for h in $(names "$count"); do
        n=$((n + 1))
        for _ in $(seq 200); do [ -s "$dir/$h/ns.pid" ] && break; sleep 0.05; done
        [ -s "$dir/$h/ns.pid" ] || { echo "host $h: namespace holder did not start: $(cat "$dir/$h/ns.out")" >&2; exit 1; }
        # The veth pair: eth0 straight into the host's namespace, the other end on the bridge.
        ip link add "sm$tag$h" type veth peer name eth0 netns "$(cat "$dir/$h/ns.pid")"
        ip link set "sm$tag$h" master "$bridge"
        ip link set "sm$tag$h" up
        in_host "$dir" "$h" ip addr add "$prefix.$n/24" dev eth0
        in_host "$dir" "$h" ip link set eth0 up
    done
    for h in $(names "$count"); do
        in_host "$dir" "$h" virtlogd --daemon --pid-file "$dir/$h/virtlogd.pid"   # the QEMU driver needs its socket
        in_host "$dir" "$h" libvirtd --listen --daemon --pid-file "$dir/$h/libvirtd.pid"
    done
    for h in $(names "$count"); do
        local ready=""
        for _ in $(seq 1200); do   # 120 s: libvirtd takes seconds to start on a loaded machine
            if virsh -c "$(socket_uri "$dir" "$h")" -q version > /dev/null 2>&1; then ready=1; break; fi
            sleep 0.1
        done
        [ -n "$ready" ] || { echo "host $h: libvirtd did not answer: $(tail -20 "$dir/$h/log/libvirtd.log" 2>/dev/null)" >&2; exit 1; }
    done
}

# Stops a process by pid file: SIGTERM, up to 2 s, then SIGKILL (the lab's state goes with its directory; virtlogd
# and a busy libvirtd can take much longer to leave on their own).
stop_pidfile() {
    local file=$1 pid
    [ -s "$file" ] || return 0
    pid=$(cat "$file")
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

down() {
    local dir=$1 h holder netns p d pidfile
    for pidfile in "$dir"/*/ns.pid; do
        [ -s "$pidfile" ] || continue
        h=$(basename "$(dirname "$pidfile")")
        holder=$(cat "$pidfile")
        netns=$(readlink "/proc/$holder/ns/net" 2>/dev/null) || { rm -f "$pidfile"; continue; }   # holder already gone
        # A pid file outliving its holder could name an unrelated process of this namespace: never sweep ours.
        [ "$netns" != "$(readlink /proc/self/ns/net)" ] || { rm -f "$pidfile"; continue; }
        if [ -S "$dir/$h/sock/libvirt-sock" ]; then
            for d in $(timeout 30 virsh -c "$(socket_uri "$dir" "$h")" list --name 2>/dev/null); do
                timeout 30 virsh -c "$(socket_uri "$dir" "$h")" destroy "$d" > /dev/null 2>&1 || true
            done
        fi
        stop_pidfile "$dir/$h/libvirtd.pid"
        stop_pidfile "$dir/$h/virtlogd.pid"
        # Whatever else still runs in the host's network namespace (its agent and swtpm, a QEMU libvirtd left behind,
        # a daemon that did not write its pid file) is killed; the holder last: with it go the namespaces, the mounts
        # and the veth pair.
        for p in /proc/[0-9]*; do
            p=${p#/proc/}
            [ "$p" != "$holder" ] && [ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" = "$netns" ] && kill -9 "$p" 2>/dev/null || true
        done
        kill -9 "$holder" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$holder" 2>/dev/null || break; sleep 0.1; done
        rm -f "$pidfile"
    done
    if [ -s "$dir/bridge" ]; then
        ip link del "$(cat "$dir/bridge")" 2>/dev/null || true
        rm -f "$dir/bridge"
    fi
}

case ${1:-} in
    up) [ $# -eq 4 ] || usage; up "$2" "$3" "$4" ;;
    down) [ $# -eq 2 ] || usage; down "$2" ;;
    *) usage ;;
esac
"""#

    /// Writes the script into `directory` (once) and returns its path.
    static func write(into directory: URL) throws -> String {
        let path = directory.appendingPathComponent("namespace-lab.sh").path
        if !FileManager.default.fileExists(atPath: path) {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        }
        return path
    }
}
