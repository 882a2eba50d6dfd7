#!/usr/bin/env bash
# Installs what building, the demo and the tests need on a Debian or
# Ubuntu machine: Go (checked, not installed), iproute2, ping, socat,
# ethtool, tcpdump and tshark (the tests read captures of secure vnets
# with Wireshark's ESP code). Packages already present are left alone.
set -euo pipefail

need_go="1.26"
if ! command -v go >/dev/null; then
	echo "setup: Go $need_go or newer is needed (https://go.dev/dl/), and go must be on PATH" >&2
	exit 1
fi
have=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$need_go" "$have" | sort -V | head -1)" != "$need_go" ]; then
	echo "setup: Go $have found, $need_go or newer is needed" >&2
	exit 1
fi

# command:package pairs
wanted="ip:iproute2 ping:iputils-ping socat:socat ethtool:ethtool tcpdump:tcpdump tshark:tshark"
missing=()
for pair in $wanted; do
	command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: missing packages ${missing[*]}; run as root or install them with apt-get" >&2
		exit 1
	fi
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q "${missing[@]}" >/dev/null ||
		{ apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
fi
go mod download
