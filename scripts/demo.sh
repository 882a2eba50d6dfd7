#!/usr/bin/env bash
# Runs vnetd on three hosts built as network namespaces on a bridged
# underlay, creates two vnets and an encrypted one with vn, and puts VM
# namespaces on them. It checks that VMs of one vnet reach each other
# across hosts, that VMs of different vnets do not, and that the
# encrypted vnet's traffic crosses the underlay in ESP only. Everything it creates is removed on
# exit, and the exit status is non-zero if any check fails.
#
# Addresses: underlay 198.18.0.0/24, overlays 198.19.1.0/24 and
# 198.19.2.0/24 (all in the benchmarking range 198.18.0.0/15).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bin=${BIN:-$here/bin}
prefix=vdemo
work=$(mktemp -d /tmp/vnet-demo.XXXXXX)
pids=()
failed=0

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (network namespaces, XDP and AF_XDP); run: sudo make demo" >&2
	exit 2
fi
for tool in ip ping socat sha256sum tcpdump od; do
	command -v "$tool" >/dev/null || { echo "demo: $tool is missing (run: make setup)" >&2; exit 2; }
done
[ -x "$bin/vnetd" ] && [ -x "$bin/vn" ] || { echo "demo: $bin/vnetd or $bin/vn is missing (run: make build)" >&2; exit 2; }

namespaces=($prefix-sw $prefix-h1 $prefix-h2 $prefix-h3 $prefix-a1 $prefix-a2 $prefix-a3 $prefix-b2 $prefix-b3 $prefix-c1 $prefix-c3)

cleanup() {
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	# Background jobs of this script (the TCP listener) end with it.
	jobs -p | xargs -r kill 2>/dev/null || true
	for pid in "${pids[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	done
	for ns in "${namespaces[@]}"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n==> %s\n' "$*"; }
pass() { printf '    PASS  %s\n' "$*"; }
fail() { printf '    FAIL  %s\n' "$*"; failed=1; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
vn() { local h=$1; shift; in_ns "$prefix-$h" "$bin/vn" --socket "$work/$h.sock" "$@"; }

for ns in "${namespaces[@]}"; do
	if ip netns list | grep -qw "^$ns"; then
		echo "demo: namespace $ns exists; remove it with: ip netns del $ns" >&2
		trap - EXIT
		exit 2
	fi
done

step "underlay: bridge br0 in $prefix-sw, hosts h1 h2 h3 at 198.18.0.1-3/24"
for ns in "${namespaces[@]}"; do
	ip netns add "$ns"
	in_ns "$ns" ip link set lo up
done
in_ns $prefix-sw ip link add br0 type bridge
in_ns $prefix-sw ip link set br0 up
for i in 1 2 3; do
	ip link add u0 netns $prefix-h$i type veth peer name p$i netns $prefix-sw
	in_ns $prefix-sw ip link set p$i master br0 up
	in_ns $prefix-h$i ip addr add 198.18.0.$i/24 dev u0
	in_ns $prefix-h$i ip link set u0 up
done

step "start vnetd on each host (logs in $work)"
for i in 1 2 3; do
	# ip netns exec replaces itself with vnetd, so $! is vnetd's pid
	# (a shell function here would leave $! naming a subshell).
	ip netns exec $prefix-h$i "$bin/vnetd" --iface u0 --socket "$work/h$i.sock" --state-dir "$work/h$i.state" \
		--cpus $((i % $(nproc))) >"$work/h$i.log" 2>&1 &
	pids+=($!)
done
for i in 1 2 3; do
	for _ in $(seq 100); do
		[ -S "$work/h$i.sock" ] && break
		sleep 0.1
	done
	[ -S "$work/h$i.sock" ] || { echo "demo: vnetd on h$i did not start:"; cat "$work/h$i.log"; exit 1; }
done

step "create vnet 1500 on h1 h2 h3 and vnet 0:0:0:0:0:0:1:2a00 on h2 h3, each on a bridge"
for h in h1 h2 h3; do
	vn $h vnet-create -b br1500 1500
done
for h in h2 h3; do
	vn $h vnet-create -b br2a00 -v vnif2a00 0:0:0:0:0:0:1:2a00
done
vn h2 vnets

# vm NAME HOST BRIDGE DEVICE ADDR: a namespace whose eth0 is bridged to
# the vnet device, with the vnet's MTU.
vm() {
	local name=$1 h=$2 br=$3 dev=$4 addr=$5
	local mtu
	mtu=$(in_ns $prefix-$h cat /sys/class/net/$dev/mtu)
	ip link add eth0 netns $prefix-$name mtu "$mtu" type veth peer name $name netns $prefix-$h mtu "$mtu"
	in_ns $prefix-$h ip link set $name master "$br" up
	in_ns $prefix-$name ip addr add "$addr" dev eth0
	in_ns $prefix-$name ip link set eth0 up
}

step "VMs: a1 a2 a3 on vnet 1500, b2 b3 on vnet 2a00 (b3 reuses a3's address)"
vm a1 h1 br1500 vnif1500 198.19.1.1/24
vm a2 h2 br1500 vnif1500 198.19.1.2/24
vm a3 h3 br1500 vnif1500 198.19.1.3/24
vm b2 h2 br2a00 vnif2a00 198.19.1.12/24
vm b3 h3 br2a00 vnif2a00 198.19.1.3/24

step "ping between VMs of one vnet on different hosts"
for pair in "a1 198.19.1.2" "a1 198.19.1.3" "a2 198.19.1.3" "b2 198.19.1.3"; do
	set -- $pair
	if in_ns $prefix-$1 ping -c 3 -i 0.2 -W 1 -q "$2" >"$work/ping" 2>&1; then
		pass "$1 -> $2: $(grep -o '[0-9]* received' "$work/ping")"
	else
		fail "$1 -> $2: $(tail -2 "$work/ping" | head -1)"
	fi
done

step "isolation: b2 (vnet 2a00) must not reach a1 or a2 (vnet 1500)"
for dst in 198.19.1.1 198.19.1.2; do
	if in_ns $prefix-b2 ping -c 2 -i 0.2 -W 1 -q "$dst" >/dev/null 2>&1; then
		fail "b2 reached $dst on another vnet"
	else
		pass "b2 -> $dst: no reply"
	fi
done
a3mac=$(in_ns $prefix-a3 cat /sys/class/net/eth0/address)
b3mac=$(in_ns $prefix-b3 cat /sys/class/net/eth0/address)
if in_ns $prefix-b2 ip neigh show 198.19.1.3 | grep -q "$b3mac"; then
	pass "b2 resolved 198.19.1.3 to b3 ($b3mac), not a3 ($a3mac)"
else
	fail "b2 resolved 198.19.1.3 to: $(in_ns $prefix-b2 ip neigh show 198.19.1.3)"
fi

step "TCP: 8 MiB from a1 (h1) to a3 (h3)"
head -c $((8 << 20)) /dev/urandom >"$work/data"
in_ns $prefix-a3 timeout 30 socat -u TCP-LISTEN:5001,reuseaddr OPEN:"$work/received",creat,trunc &
listener=$!
sleep 0.3
start=$(date +%s%N)
if in_ns $prefix-a1 timeout 30 socat -u OPEN:"$work/data" TCP:198.19.1.3:5001 && wait $listener; then
	end=$(date +%s%N)
	if [ "$(sha256sum <"$work/data")" = "$(sha256sum <"$work/received")" ]; then
		pass "8 MiB arrived intact in $(((end - start) / 1000000)) ms"
	else
		fail "received data differs from the data sent"
	fi
else
	fail "TCP transfer did not complete"
fi

step "encrypted vnet 1502 (security conf) on h1 and h3, with one key for both"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/vnet1502.key"
chmod 600 "$work/vnet1502.key"
for h in h1 h3; do
	vn $h vnet-create -s conf -k "$work/vnet1502.key" -b br1502 1502
done
vm c1 h1 br1502 vnif1502 198.19.2.1/24
vm c3 h3 br1502 vnif1502 198.19.2.3/24
echo "    device MTU: $(in_ns $prefix-h1 cat /sys/class/net/vnif1502/mtu) (1500 less the outer headers and ESP)"
vn h1 capture -i u0 -d out -c 4 -t 5 -w "$work/u0.pcap" &
capture=$!
sleep 0.3
if in_ns $prefix-c1 ping -c 3 -i 0.2 -W 1 -q 198.19.2.3 >"$work/ping" 2>&1; then
	pass "c1 -> 198.19.2.3: $(grep -o '[0-9]* received' "$work/ping")"
else
	fail "c1 -> 198.19.2.3: $(tail -2 "$work/ping" | head -1)"
fi
wait $capture || true
echo "    what h1 sent on its underlay interface (vn capture -i u0 | tcpdump -r -);"
echo "    ESP is vnet 1502's, UDP to port 1798 the plain vnet 1500's:"
tcpdump -nr "$work/u0.pcap" 2>/dev/null | sed 's/^/      /'
if tcpdump -nr "$work/u0.pcap" 2>/dev/null | grep -q 'ESP(spi=' && ! tcpdump -nr "$work/u0.pcap" 2>/dev/null | grep -q ICMP; then
	pass "the underlay carries ESP only: the inner ICMP is not readable"
else
	fail "the underlay capture shows no ESP, or shows the inner ICMP"
fi

step "what h1 learned: vn varp"
vn h1 varp
step "h1's counters of vnet 1500: vn stats (excerpt)"
vn h1 stats | grep -B1 -A14 'scope "vnet 0000:0000:0000:0000:0000:0000:0000:1500"'

step "delete the vnets on h2"
vn h2 vnet-delete 1500
vn h2 vnet-delete vnif2a00
vn h2 vnets

if [ "$failed" -ne 0 ]; then
	printf '\ndemo: some checks FAILED (logs were in %s)\n' "$work"
	exit 1
fi
printf '\ndemo: all checks passed\n'
