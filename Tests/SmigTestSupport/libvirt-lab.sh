#!/bin/bash
# libvirt-lab.sh - two libvirt "hosts" on one machine for the tests (LibvirtLab.swift calls it); no systemd needed.
#
#   libvirt-lab.sh up DIR PREFIX    hosts A (PREFIX.1) and B (PREFIX.2), e.g. PREFIX=10.123.45
#   libvirt-lab.sh down DIR         everything `up` started is gone afterwards (also after a half-done `up`)
#
# Each host is its own net + mount + UTS namespace (held by a `sleep` whose pid is DIR/H/ns.pid) with a private
# /run and private copies of the packaged /etc/libvirt, /var/lib/libvirt, /var/cache/libvirt and /var/log/libvirt
# (under DIR/H), its own host_uuid, virtlogd and libvirtd. The hosts are joined by a veth pair that exists only
# inside the two namespaces. libvirtd listens on TCP at its veth address without authentication (a lab only:
# production uses TLS, see docs/migration.md) and, for the test process outside the namespaces, on the Unix socket
# DIR/H/sock/libvirt-sock.
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

usage() { echo "usage: $0 up DIR PREFIX | down DIR" >&2; exit 2; }
socket_uri() { echo "qemu+unix:///system?socket=$1/$2/sock/libvirt-sock"; }
in_host() { local dir=$1 h=$2; shift 2; nsenter -t "$(cat "$dir/$h/ns.pid")" -n -m -u -- "$@"; }

up() {
    local dir=$1 prefix=$2 h n=0
    for h in A B; do
        n=$((n + 1))
        local ip=$prefix.$n
        mkdir -p "$dir/$h/lib" "$dir/$h/cache" "$dir/$h/log" "$dir/$h/sock"
        cp -a /etc/libvirt "$dir/$h/etc"
        cp -a /var/lib/libvirt/. "$dir/$h/lib/"
        cp -a /var/cache/libvirt/. "$dir/$h/cache/"
        cp -a /var/log/libvirt/. "$dir/$h/log/"
        rm -f "$dir/$h/etc/qemu/networks/autostart/"*.xml     # no default NAT network (dnsmasq) needed
        cat >> "$dir/$h/etc/libvirtd.conf" <<EOF
# --- libvirt-lab.sh (a test lab: TCP without authentication) ---
listen_tls = 0
listen_tcp = 1
listen_addr = "$ip"
auth_tcp = "none"
unix_sock_dir = "$dir/$h/sock"
host_uuid = "$(cat /proc/sys/kernel/random/uuid)"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
EOF
        # No cgroups here; QEMU as root, so it reaches the guest image whatever the modes of the directories above DIR.
        cat >> "$dir/$h/etc/qemu.conf" <<EOF
# --- libvirt-lab.sh ---
cgroup_controllers = [ ]
migration_host = "$ip"
user = "root"
group = "root"
EOF
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
    for h in A B; do
        for _ in $(seq 200); do [ -s "$dir/$h/ns.pid" ] && break; sleep 0.05; done
        [ -s "$dir/$h/ns.pid" ] || { echo "host $h: namespace holder did not start: $(cat "$dir/$h/ns.out")" >&2; exit 1; }
    done
    # The veth pair is made inside A with its peer moved straight into B: it never exists outside the lab.
    in_host "$dir" A ip link add vethA type veth peer name vethB netns "$(cat "$dir/B/ns.pid")"
    in_host "$dir" A ip addr add "$prefix.1/24" dev vethA
    in_host "$dir" A ip link set vethA up
    in_host "$dir" B ip addr add "$prefix.2/24" dev vethB
    in_host "$dir" B ip link set vethB up
    for h in A B; do
        in_host "$dir" "$h" virtlogd --daemon --pid-file "$dir/$h/virtlogd.pid"   # the QEMU driver needs its socket
        in_host "$dir" "$h" libvirtd --listen --daemon --pid-file "$dir/$h/libvirtd.pid"
    done
    for h in A B; do
        local ready=""
        for _ in $(seq 1200); do   # 120 s: libvirtd takes seconds to start on a loaded machine
            if virsh -c "$(socket_uri "$dir" "$h")" -q version > /dev/null 2>&1; then ready=1; break; fi
            sleep 0.1
        done
        [ -n "$ready" ] || { echo "host $h: libvirtd did not answer: $(tail -20 "$dir/$h/log/libvirtd.log" 2>/dev/null)" >&2; exit 1; }
    done
}

# Stops a process by pid file: SIGTERM, up to 10 s, then SIGKILL.
stop_pidfile() {
    local file=$1 pid
    [ -s "$file" ] || return 0
    pid=$(cat "$file")
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

down() {
    local dir=$1 h holder netns p d
    for h in A B; do
        [ -s "$dir/$h/ns.pid" ] || continue
        holder=$(cat "$dir/$h/ns.pid")
        netns=$(readlink "/proc/$holder/ns/net" 2>/dev/null) || continue   # holder already gone
        # A pid file outliving its holder could name an unrelated process of this namespace: never sweep ours.
        [ "$netns" != "$(readlink /proc/self/ns/net)" ] || { rm -f "$dir/$h/ns.pid"; continue; }
        if [ -S "$dir/$h/sock/libvirt-sock" ]; then
            for d in $(timeout 30 virsh -c "$(socket_uri "$dir" "$h")" list --name 2>/dev/null); do
                timeout 30 virsh -c "$(socket_uri "$dir" "$h")" destroy "$d" > /dev/null 2>&1 || true
            done
        fi
        stop_pidfile "$dir/$h/libvirtd.pid"
        stop_pidfile "$dir/$h/virtlogd.pid"
        # Whatever else still runs in the host's network namespace (a QEMU libvirtd left behind, a daemon that did
        # not write its pid file) is killed; the holder last: with it the namespaces, mounts and veth go.
        for p in /proc/[0-9]*; do
            p=${p#/proc/}
            [ "$p" != "$holder" ] && [ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" = "$netns" ] && kill -9 "$p" 2>/dev/null || true
        done
        kill -9 "$holder" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$holder" 2>/dev/null || break; sleep 0.1; done
        rm -f "$dir/$h/ns.pid"
    done
}

case ${1:-} in
    up) [ $# -eq 3 ] || usage; up "$2" "$3" ;;
    down) [ $# -eq 2 ] || usage; down "$2" ;;
    *) usage ;;
esac
