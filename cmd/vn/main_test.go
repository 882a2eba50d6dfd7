package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vnet-xdp/vnet/control"
	"github.com/vnet-xdp/vnet/control/controltest"
	"github.com/vnet-xdp/vnet/overlay"
	"github.com/vnet-xdp/vnet/overlay/wire"
)

const id1500 = "0000:0000:0000:0000:0000:0000:0000:1500"

// startDaemon serves a command socket over a fake dataplane until the test
// ends.
func startDaemon(t *testing.T, dp *controltest.Dataplane) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vnetd")
	srv, err := control.Listen(control.Config{Path: path, Dataplane: dp})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return path
}

type result struct {
	stdout, stderr string
	code           int
}

// vn runs the vn main logic with VNETD_SOCKET set to socket.
func vn(t *testing.T, socket string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(name string) string {
		if name == "VNETD_SOCKET" {
			return socket
		}
		return ""
	}
	code := run(args, &stdout, &stderr, getenv)
	return result{stdout.String(), stderr.String(), code}
}

// mustVN runs vn and fails the test unless it exits 0.
func mustVN(t *testing.T, socket string, args ...string) string {
	t.Helper()
	r := vn(t, socket, args...)
	if r.code != exitOK {
		t.Fatalf("vn %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

func mustID(t *testing.T, s string) wire.VnetID {
	t.Helper()
	id, err := wire.ParseVnetID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustMAC(t *testing.T, s string) wire.MAC {
	t.Helper()
	m, err := wire.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestHelpAndUsage(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stdout string // a part of stdout
		stderr string // a part of stderr
	}{
		{args: []string{"help"}, code: exitOK, stdout: "  vnet-create  [-s LEVEL] [-k KEYFILE] [-b BRIDGE] [-v VNETIF] VNET\n"},
		{args: []string{"help", "-l"}, code: exitOK, stdout: "Remove every VARP cache entry that is not probing."},
		{args: []string{"help", "--long"}, code: exitOK, stdout: "List the dataplane counters."},
		{args: []string{"--help"}, code: exitOK, stdout: "Usage: vn [--socket PATH] COMMAND"},
		{args: []string{"help", "peer_add"}, code: exitOK, stdout: "Usage: vn peer-add [-p PORT] ADDR\n"},
		{args: []string{"help", "nosuch"}, code: exitUsage, stderr: `vn: unknown command "nosuch" (run vn help for the list)`},
		{args: []string{"help", "vnets", "vifs"}, code: exitUsage, stderr: "too many arguments"},
		{args: []string{"completion"}, code: exitUsage, stderr: "missing argument"},
		{args: nil, code: exitUsage, stderr: "Usage: vn [--socket PATH] COMMAND"},
		{args: []string{"frobnicate"}, code: exitUsage, stderr: `vn: unknown command "frobnicate" (run vn help for the list)`},
		{args: []string{"--nope"}, code: exitUsage, stderr: "flag provided but not defined: -nope"},
		{args: []string{"vnets", "--help"}, code: exitOK, stdout: "Usage: vn vnets [-a] [-l] [--json] [VNET...]"},
		{args: []string{"vnet_create", "-h"}, code: exitOK, stdout: "-security string"},
		{args: []string{"varp-flush", "--help"}, code: exitOK, stdout: "Usage: vn varp-flush\n"},
		{args: []string{"vnet-create"}, code: exitUsage, stderr: "vn: vn vnet-create: missing argument (0 given, 1 needed)"},
		{args: []string{"vnet-create", "1", "2"}, code: exitUsage, stderr: "too many arguments (2 given, at most 1 allowed): 2"},
		{args: []string{"vnet-create", "-x", "1"}, code: exitUsage, stderr: "flag provided but not defined: -x"},
		{args: []string{"vifs", "extra"}, code: exitUsage, stderr: "too many arguments"},
		{args: []string{"vif-add", "1500"}, code: exitUsage, stderr: "missing argument (1 given, 2 needed)"},
		{args: []string{"peer-add", "-p"}, code: exitUsage, stderr: "flag needs an argument: -p"},
		{args: []string{"raw"}, code: exitUsage, stderr: "missing argument"},
		{args: []string{"vnet-create", "--json", "1"}, code: exitUsage, stderr: "flag provided but not defined: -json"},
	}
	for _, tt := range tests {
		r := vn(t, filepath.Join(t.TempDir(), "none"), tt.args...)
		if r.code != tt.code {
			t.Errorf("vn %q: exit %d, want %d (stderr %q)", tt.args, r.code, tt.code, r.stderr)
		}
		if !strings.Contains(r.stdout, tt.stdout) {
			t.Errorf("vn %q: stdout %q, want it to contain %q", tt.args, r.stdout, tt.stdout)
		}
		if !strings.Contains(r.stderr, tt.stderr) {
			t.Errorf("vn %q: stderr %q, want it to contain %q", tt.args, r.stderr, tt.stderr)
		}
		if tt.code == exitUsage && len(tt.args) > 0 && !strings.Contains(r.stderr, "Run vn help -l for usage.") {
			t.Errorf("vn %q: stderr %q, want a hint to run vn help -l", tt.args, r.stderr)
		}
	}
}

func TestHelpListsEveryCommand(t *testing.T) {
	out := mustVN(t, "", "help")
	for _, sub := range subcommands {
		if !strings.Contains(out, "  "+sub.name) {
			t.Errorf("help output does not list %s", sub.name)
		}
	}
}

func TestUnreachableDaemon(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "vnetd")
	for _, args := range [][]string{{"vnets"}, {"vnet-create", "1500"}, {"raw", "(vnet.list)"}, {"peer-add", "198.18.0.1"}} {
		r := vn(t, missing, args...)
		if r.code != exitUnreachable {
			t.Errorf("vn %q without daemon: exit %d, want %d", args, r.code, exitUnreachable)
		}
		if !strings.Contains(r.stderr, "vn: cannot reach vnetd at "+missing) || !strings.Contains(r.stderr, "start vnetd") {
			t.Errorf("vn %q: stderr %q, want it to name %s and suggest starting vnetd", args, r.stderr, missing)
		}
	}
}

func TestSocketOption(t *testing.T) {
	path := startDaemon(t, controltest.New())
	missing := filepath.Join(t.TempDir(), "missing")

	// --socket before the command and after it override VNETD_SOCKET.
	if r := vn(t, missing, "--socket", path, "vnets"); r.code != exitOK {
		t.Errorf("vn --socket PATH vnets: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := vn(t, missing, "vnets", "--socket", path); r.code != exitOK {
		t.Errorf("vn vnets --socket PATH: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := vn(t, path, "--socket", missing, "vnets"); r.code != exitUnreachable {
		t.Errorf("vn --socket MISSING vnets: exit %d, want %d", r.code, exitUnreachable)
	}
}

func TestDefaultSocketPath(t *testing.T) {
	if _, err := os.Lstat(defaultSocket); err == nil {
		t.Skipf("%s exists on this machine, so the default cannot be told apart", defaultSocket)
	}
	r := vn(t, "", "vnets")
	if r.code != exitUnreachable || !strings.Contains(r.stderr, defaultSocket) {
		t.Errorf("vn vnets without socket settings: exit %d, stderr %q, want exit 3 naming %s", r.code, r.stderr, defaultSocket)
	}
}

func TestVnetCreateAndList(t *testing.T) {
	dp := controltest.New()
	path := startDaemon(t, dp)

	mustVN(t, path, "vnet-create", "1500")
	keyFile := filepath.Join(t.TempDir(), "blue.key")
	if err := os.WriteFile(keyFile, []byte("00112233 44556677\n8899aabb ccddeeff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustVN(t, path, "vnet_create", "-s", "auth", "-k", keyFile, "-v", "vnblue", "0:0:0:0:0:0:0:2")
	mustVN(t, path, "vnet-create", "--security", "conf", "--key", keyFile, "--vnetif", "vnred", "3")
	wantCalls := []string{
		"AddVnet " + id1500 + " vnif1500 none",
		"AddVnet 0000:0000:0000:0000:0000:0000:0000:0002 vnblue auth",
		"AddVnet 0000:0000:0000:0000:0000:0000:0000:0003 vnred conf",
	}
	if calls := dp.Calls(); !slices.Equal(calls, wantCalls) {
		t.Errorf("dataplane calls %q, want %q", calls, wantCalls)
	}

	got := mustVN(t, path, "vnets")
	want := "" +
		"(vnet (id 0000:0000:0000:0000:0000:0000:0000:0001) (vnetif ) (security none) (header 0))\n" +
		"(vnet (id 0000:0000:0000:0000:0000:0000:0000:0002) (vnetif vnblue) (security auth) (header 64))\n" +
		"(vnet (id 0000:0000:0000:0000:0000:0000:0000:0003) (vnetif vnred) (security conf) (header 64))\n" +
		"(vnet (id " + id1500 + ") (vnetif vnif1500) (security none) (header 64))\n"
	if got != want {
		t.Errorf("vn vnets:\n%s\nwant:\n%s", got, want)
	}
}

func TestVnetCreateRejected(t *testing.T) {
	path := startDaemon(t, controltest.New())
	mustVN(t, path, "vnet-create", "1500")
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{"vnet-create", "1500"}, "vn: vnet " + id1500 + " already exists\n"},
		{[]string{"vnet-create", "12345"}, `vn: vnet.add: invalid vnet id "12345": field "12345" is not 1 to 4 hex digits` + "\n"},
		{[]string{"vnet-create", "-s", "high", "1501"}, `vn: vnet.add: invalid security level "high" (use none, auth or conf)` + "\n"},
		{[]string{"vnet-create", "-v", "a+b", "1501"}, "character '+' is not allowed"},
		{[]string{"vnet-create", "1"}, "reserved"},
	}
	for _, tt := range tests {
		r := vn(t, path, tt.args...)
		if r.code != exitFailed {
			t.Errorf("vn %q: exit %d, want %d", tt.args, r.code, exitFailed)
		}
		if !strings.Contains(r.stderr, tt.stderr) {
			t.Errorf("vn %q: stderr %q, want it to contain %q", tt.args, r.stderr, tt.stderr)
		}
	}
}

func TestVnetsFilter(t *testing.T) {
	path := startDaemon(t, controltest.New())
	mustVN(t, path, "vnet-create", "1500")
	mustVN(t, path, "vnet-create", "-v", "vnblue", "2")
	line1500 := "(vnet (id " + id1500 + ") (vnetif vnif1500) (security none) (header 64))\n"
	line2 := "(vnet (id 0000:0000:0000:0000:0000:0000:0000:0002) (vnetif vnblue) (security none) (header 64))\n"

	tests := []struct {
		args []string
		want string
	}{
		{[]string{"vnets", "1500"}, line1500},
		{[]string{"vnets", id1500}, line1500},
		{[]string{"vnets", "0:0:0:0:0:0:0:1500"}, line1500},
		{[]string{"vnets", "vnif1500"}, line1500},
		{[]string{"vnets", "vnblue"}, line2},
		// Output stays in id order whatever the argument order.
		{[]string{"vnets", "vnif1500", "2"}, line2 + line1500},
		{[]string{"vnets", "1500", "vnif1500"}, line1500},
	}
	for _, tt := range tests {
		if got := mustVN(t, path, tt.args...); got != tt.want {
			t.Errorf("vn %q = %q, want %q", tt.args, got, tt.want)
		}
	}

	r := vn(t, path, "vnets", "1500", "vnnone")
	if r.code != exitFailed || !strings.Contains(r.stderr, "vn: vnet vnnone not found") {
		t.Errorf("vn vnets 1500 vnnone: exit %d, stderr %q, want exit 1 and vnet vnnone not found", r.code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("vn vnets 1500 vnnone: stdout %q, want nothing", r.stdout)
	}
}

// decodeJSON parses out into a generic value.
func decodeJSON(t *testing.T, out string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("output is not a JSON object: %v\n%s", err, out)
	}
	return v
}

func TestVnetsJSON(t *testing.T) {
	path := startDaemon(t, controltest.New())
	mustVN(t, path, "vnet-create", "-v", "1234", "1500")
	out := mustVN(t, path, "vnets", "--json", "1500")
	want := `{
  "vnet": [
    {
      "id": "0000:0000:0000:0000:0000:0000:0000:1500",
      "vnetif": "1234",
      "security": "none",
      "header": 64
    }
  ]
}
`
	if out != want {
		t.Errorf("vn vnets --json 1500:\n%s\nwant:\n%s", out, want)
	}

	v := decodeJSON(t, mustVN(t, path, "vnets", "--json"))
	vnets, _ := v["vnet"].([]any)
	if len(vnets) != 2 {
		t.Fatalf("vnets --json lists %d vnets, want 2", len(vnets))
	}
	physical, _ := vnets[0].(map[string]any)
	if physical["vnetif"] != "" || physical["header"] != float64(0) {
		t.Errorf("physical vnet in JSON = %v, want vnetif \"\" and header 0", physical)
	}
}

func TestVnetsAll(t *testing.T) {
	dp := controltest.New()
	path := startDaemon(t, dp)
	mustVN(t, path, "vnet-create", "1500")
	mustVN(t, path, "vnet-create", "2")
	mustVN(t, path, "vif-add", "1500", "02:00:00:00:00:01")
	mustVN(t, path, "vif-add", "2", "02:00:00:00:00:02")
	dp.SetVarpEntries([]overlay.VarpEntry{
		{Vnet: mustID(t, "1500"), MAC: mustMAC(t, "02:00:00:00:00:09"), Addr: netip.MustParseAddr("198.18.0.9"), State: overlay.VarpReachable, Ref: 1},
		{Vnet: mustID(t, "2"), MAC: mustMAC(t, "02:00:00:00:00:08"), Addr: netip.MustParseAddr("198.18.0.8"), State: overlay.VarpReachable},
	})

	got := mustVN(t, path, "vnets", "-a", "1500")
	want := "(vnet (id " + id1500 + ") (vnetif vnif1500) (security none) (header 64))\n" +
		"(vif\n (vnet " + id1500 + ")\n (vmac 02:00:00:00:00:01)\n (age 0)\n)\n" +
		"(ventry \n (ref 1)\n (state reachable)\n (flags -)\n (addr 198.18.0.9)\n (queue 0)\n (age 0)\n (vmac 02:00:00:00:00:09)\n (vnet " + id1500 + ")\n)\n"
	if got != want {
		t.Errorf("vn vnets -a 1500:\n%s\nwant:\n%s", got, want)
	}

	v := decodeJSON(t, mustVN(t, path, "vnets", "--all", "--json", "vnif1500"))
	vifs, _ := v["vif"].([]any)
	ventries, _ := v["ventry"].([]any)
	if len(vifs) != 1 || len(ventries) != 1 {
		t.Fatalf("vnets -a --json: %d vifs and %d ventries, want 1 and 1: %v", len(vifs), len(ventries), v)
	}
	if vif := vifs[0].(map[string]any); vif["vmac"] != "02:00:00:00:00:01" || vif["age"] != float64(0) {
		t.Errorf("vif in JSON = %v, want vmac 02:00:00:00:00:01 and age 0", vif)
	}
	if e := ventries[0].(map[string]any); e["addr"] != "198.18.0.9" || e["ref"] != float64(1) || e["flags"] != "-" {
		t.Errorf("ventry in JSON = %v, want addr 198.18.0.9, ref 1, flags -", e)
	}
}

func TestVnetsLongWithoutDevice(t *testing.T) {
	path := startDaemon(t, controltest.New())
	mustVN(t, path, "vnet-create", "-v", "vnctlabsent0", "1500")
	got := mustVN(t, path, "vnets", "-l")
	want := "(vnet (id 0000:0000:0000:0000:0000:0000:0000:0001) (vnetif ) (security none) (header 0))\n" +
		"(vnet (id " + id1500 + ") (vnetif vnctlabsent0) (security none) (header 64))\n" +
		"(vnif (name vnctlabsent0) (state absent))\n"
	if got != want {
		t.Errorf("vn vnets -l:\n%s\nwant:\n%s", got, want)
	}
	if got := mustVN(t, path, "vnifs"); got != "(vnif (name vnctlabsent0) (state absent))\n" {
		t.Errorf("vn vnifs = %q, want the absent device", got)
	}
	v := decodeJSON(t, mustVN(t, path, "vnets", "-l", "--json", "1500"))
	vnet := v["vnet"].([]any)[0].(map[string]any)
	if dev, _ := vnet["device"].(map[string]any); dev["state"] != "absent" || dev["name"] != "vnctlabsent0" {
		t.Errorf("device in JSON = %v, want name vnctlabsent0 and state absent", vnet["device"])
	}
}

func TestVifCommands(t *testing.T) {
	dp := controltest.New()
	path := startDaemon(t, dp)
	mustVN(t, path, "vnet-create", "-v", "vnblue", "1500")

	mustVN(t, path, "vif-add", "1500", "02:A8:B7:7B:5F:D3")
	mustVN(t, path, "vif_add", "vnblue", "02-00-00-00-00-07")
	got := mustVN(t, path, "vifs")
	want := "(viftable\n (table_ttl 60000)\n (entry_ttl 60000)\n (sweeps 0)\n)\n" +
		"(vif\n (vnet " + id1500 + ")\n (vmac 02:00:00:00:00:07)\n (age 0)\n)\n" +
		"(vif\n (vnet " + id1500 + ")\n (vmac 02:a8:b7:7b:5f:d3)\n (age 0)\n)\n"
	if got != want {
		t.Errorf("vn vifs:\n%s\nwant:\n%s", got, want)
	}

	v := decodeJSON(t, mustVN(t, path, "vifs", "--json"))
	table, _ := v["viftable"].(map[string]any)
	if table["table_ttl"] != float64(60000) || table["sweeps"] != float64(0) {
		t.Errorf("viftable in JSON = %v, want table_ttl 60000 and sweeps 0", table)
	}
	if vifs, _ := v["vif"].([]any); len(vifs) != 2 {
		t.Errorf("vif list in JSON has %d entries, want 2", len(vifs))
	}

	mustVN(t, path, "vif-delete", "vnblue", "02:a8:b7:7b:5f:d3")
	wantCalls := []string{
		"AddVnet " + id1500 + " vnblue none",
		"AddVif " + id1500 + " 02:a8:b7:7b:5f:d3",
		"AddVif " + id1500 + " 02:00:00:00:00:07",
		"DeleteVif " + id1500 + " 02:a8:b7:7b:5f:d3",
	}
	if calls := dp.Calls(); !slices.Equal(calls, wantCalls) {
		t.Errorf("dataplane calls %q, want %q", calls, wantCalls)
	}

	failures := []struct {
		args   []string
		stderr string
	}{
		{[]string{"vif-delete", "1500", "02:a8:b7:7b:5f:d3"}, "vn: vif 02:a8:b7:7b:5f:d3 in vnet " + id1500 + " not found"},
		{[]string{"vif-add", "1501", "02:00:00:00:00:01"}, "vn: vnet 0000:0000:0000:0000:0000:0000:0000:1501 not found"},
		{[]string{"vif-add", "vnnone", "02:00:00:00:00:01"}, "vn: vnet vnnone not found"},
		{[]string{"vif-add", "1500", "02:00:00:00:00"}, `invalid MAC address "02:00:00:00:00"`},
		{[]string{"vif-add", "-i", "1500", "vnctl-no-such-if"}, "vn: look up interface vnctl-no-such-if"},
	}
	for _, tt := range failures {
		r := vn(t, path, tt.args...)
		if r.code != exitFailed || !strings.Contains(r.stderr, tt.stderr) {
			t.Errorf("vn %q: exit %d, stderr %q, want exit 1 and %q", tt.args, r.code, r.stderr, tt.stderr)
		}
	}
}

func TestPeerCommands(t *testing.T) {
	dp := controltest.New()
	path := startDaemon(t, dp)
	mustVN(t, path, "peer-add", "198.18.1.3")
	mustVN(t, path, "peer-add", "-p", "2000", "198.18.1.4")
	mustVN(t, path, "peer_add", "--port", "2001", "198.18.1.5")
	got := mustVN(t, path, "peers")
	want := "(vnet_peer\n  (addr 198.18.1.3)\n  (port 1798)\n  (tx_packets 0)\n  (rx_packets 0)\n)\n" +
		"(vnet_peer\n  (addr 198.18.1.4)\n  (port 2000)\n  (tx_packets 0)\n  (rx_packets 0)\n)\n" +
		"(vnet_peer\n  (addr 198.18.1.5)\n  (port 2001)\n  (tx_packets 0)\n  (rx_packets 0)\n)\n"
	if got != want {
		t.Errorf("vn peers:\n%s\nwant:\n%s", got, want)
	}

	v := decodeJSON(t, mustVN(t, path, "peers", "--json"))
	peers, _ := v["vnet_peer"].([]any)
	if len(peers) != 3 {
		t.Fatalf("peers --json lists %d peers, want 3", len(peers))
	}
	if p := peers[1].(map[string]any); p["addr"] != "198.18.1.4" || p["port"] != float64(2000) {
		t.Errorf("second peer in JSON = %v, want addr 198.18.1.4 and port 2000", p)
	}

	mustVN(t, path, "peer-delete", "198.18.1.4")
	if got := dp.Calls(); got[len(got)-1] != "DeletePeer 198.18.1.4" {
		t.Errorf("last dataplane call %q, want DeletePeer 198.18.1.4", got[len(got)-1])
	}

	failures := []struct {
		args   []string
		stderr string
	}{
		{[]string{"peer-add", "10.1"}, `vn: peer.add: invalid IPv4 address "10.1"`},
		{[]string{"peer-add", "-p", "0", "198.18.1.9"}, `invalid port "0"`},
		{[]string{"peer-add", "224.10.0.1"}, "vn: peer.add: address 224.10.0.1 is not a unicast address"},
		{[]string{"peer-delete", "198.18.1.4"}, "vn: peer 198.18.1.4 not found"},
	}
	for _, tt := range failures {
		r := vn(t, path, tt.args...)
		if r.code != exitFailed || !strings.Contains(r.stderr, tt.stderr) {
			t.Errorf("vn %q: exit %d, stderr %q, want exit 1 and %q", tt.args, r.code, r.stderr, tt.stderr)
		}
	}
}

func TestVarpCommands(t *testing.T) {
	dp := controltest.New()
	path := startDaemon(t, dp)
	dp.SetVarpEntries([]overlay.VarpEntry{
		{Vnet: mustID(t, "1500"), MAC: mustMAC(t, "02:00:00:00:00:01"), State: overlay.VarpIncomplete, Probing: true},
		{Vnet: mustID(t, "1500"), MAC: mustMAC(t, "02:00:00:00:00:02"), Addr: netip.MustParseAddr("198.18.0.2"), State: overlay.VarpReachable, Age: 973 * time.Millisecond},
	})

	out := mustVN(t, path, "varp")
	if !strings.HasPrefix(out, "(varp \n (device xen-br0)\n (mcast_addr 224.10.0.1)\n") {
		t.Errorf("vn varp output starts %q, want the (varp block", out)
	}
	if n := strings.Count(out, "(ventry \n"); n != 2 {
		t.Errorf("vn varp lists %d entries, want 2", n)
	}

	v := decodeJSON(t, mustVN(t, path, "varp", "--json"))
	params, _ := v["varp"].(map[string]any)
	if params["port"] != float64(1798) || params["entry_ttl"] != float64(60000) || params["encapsulation"] != "etherip_in_udp" {
		t.Errorf("varp parameters in JSON = %v", params)
	}
	entries, _ := v["ventry"].([]any)
	if len(entries) != 2 {
		t.Fatalf("varp --json lists %d entries, want 2", len(entries))
	}
	if e := entries[1].(map[string]any); e["age"] != float64(973) || e["state"] != "reachable" {
		t.Errorf("second entry in JSON = %v, want age 973 and state reachable", e)
	}

	mustVN(t, path, "varp-flush")
	v = decodeJSON(t, mustVN(t, path, "varp", "--json"))
	if entries, _ := v["ventry"].([]any); len(entries) != 1 {
		t.Errorf("after varp-flush %d entries remain, want the probing one only", len(entries))
	}
}

func TestStats(t *testing.T) {
	dp := controltest.New()
	path := startDaemon(t, dp)
	dp.SetStats([]overlay.CounterSet{
		{Scope: "port u0 queue 0", Counters: []overlay.Counter{{Name: "rx_frames", Value: 12}, {Name: "tx_frames", Value: 18446744073709551615}}},
	})
	out := mustVN(t, path, "stats")
	want := "(stats\n (scope \"port u0 queue 0\")\n (rx_frames 12)\n (tx_frames 18446744073709551615)\n)\n"
	if out != want {
		t.Errorf("vn stats:\n%s\nwant:\n%s", out, want)
	}
	out = mustVN(t, path, "stats", "--json")
	wantJSON := `{
  "stats": [
    {
      "scope": "port u0 queue 0",
      "rx_frames": 12,
      "tx_frames": 18446744073709551615
    }
  ]
}
`
	if out != wantJSON {
		t.Errorf("vn stats --json:\n%s\nwant:\n%s", out, wantJSON)
	}

	dp.SetStats(nil)
	if out := mustVN(t, path, "stats", "--json"); out != "{\n  \"stats\": []\n}\n" {
		t.Errorf("vn stats --json without counters = %q, want an empty array", out)
	}
}

func TestVnetDelete(t *testing.T) {
	dp := controltest.New()
	path := startDaemon(t, dp)
	mustVN(t, path, "vnet-create", "-v", "vnblue", "1500")
	mustVN(t, path, "vnet-create", "2")

	// The device is not in this namespace, so no bridge step applies.
	mustVN(t, path, "vnet-delete", "vnblue")
	r := vn(t, path, "vnet-delete", "-b", "2")
	if r.code != exitOK {
		t.Fatalf("vn vnet-delete -b 2: exit %d, stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "vn: device vnif0002 is not in this network namespace; no bridge deleted") {
		t.Errorf("vn vnet-delete -b 2: stderr %q, want a note that no bridge was deleted", r.stderr)
	}
	calls := dp.Calls()
	wantTail := []string{"DeleteVnet " + id1500, "DeleteVnet 0000:0000:0000:0000:0000:0000:0000:0002"}
	if !slices.Equal(calls[len(calls)-2:], wantTail) {
		t.Errorf("dataplane calls %q, want them to end with %q", calls, wantTail)
	}

	r = vn(t, path, "vnet-delete", "1500")
	if r.code != exitFailed || !strings.Contains(r.stderr, "vn: vnet 1500 not found (vn vnets lists the vnets)") {
		t.Errorf("vn vnet-delete of a deleted vnet: exit %d, stderr %q, want exit 1 and not found", r.code, r.stderr)
	}
	r = vn(t, path, "vnet-delete", "1")
	if r.code != exitFailed || !strings.Contains(r.stderr, "physical vnet cannot be deleted") {
		t.Errorf("vn vnet-delete 1: exit %d, stderr %q, want exit 1 from the dataplane", r.code, r.stderr)
	}
}

func TestRaw(t *testing.T) {
	path := startDaemon(t, controltest.New())
	physical := "(vnet (id 0000:0000:0000:0000:0000:0000:0000:0001) (vnetif ) (security none) (header 0))\n"

	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"raw", "(vnet.list)"}, exitOK, physical + "(ok)\n", ""},
		{[]string{"raw", "(varp.flush)", "(vnet.list)"}, exitOK, "(ok)\n" + physical + "(ok)\n", ""},
		{[]string{"raw", "(vnet.add", "(id", "1500))"}, exitOK, "(ok)\n", ""},
		{[]string{"raw", "(vnet.add (id 1500)) (varp.flush)"}, exitFailed,
			`(error (code EEXIST) (message "vnet ` + id1500 + ` already exists") (value 1500))` + "\n(ok)\n",
			"vn: vnet " + id1500 + " already exists\n"},
		{[]string{"raw", "(bogus)"}, exitFailed, "(error (code ENOSYS)", "vn: unknown command bogus"},
		{[]string{"raw", "(varp.flush) ) (varp.flush)"}, exitFailed, "(ok)\n(error (code EINVAL) (message \"syntax error at line 1, column 14: unexpected ')' outside a list\"))\n", "vn: syntax error"},
	}
	for _, tt := range tests {
		r := vn(t, path, tt.args...)
		if r.code != tt.code {
			t.Errorf("vn %q: exit %d, want %d (stderr %q)", tt.args, r.code, tt.code, r.stderr)
		}
		if !strings.HasPrefix(r.stdout, tt.stdout) {
			t.Errorf("vn %q: stdout %q, want it to start with %q", tt.args, r.stdout, tt.stdout)
		}
		if !strings.Contains(r.stderr, tt.stderr) {
			t.Errorf("vn %q: stderr %q, want it to contain %q", tt.args, r.stderr, tt.stderr)
		}
	}
}

func TestGroupBlocks(t *testing.T) {
	exprs, err := control.ParseAll("(viftable (table_ttl 60000)) (vif (vnet 1) (age 5)) (other (x 1)) (vif (vnet 2) (age 007))")
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(groupBlocks(exprs, []string{"viftable", "varp"}, []string{"vif", "ventry"}))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"viftable":{"table_ttl":60000},"varp":null,"vif":[{"vnet":"1","age":5},{"vnet":"2","age":7}],"ventry":[],"other":[{"x":1}]}`
	if string(got) != want {
		t.Errorf("groupBlocks JSON = %s, want %s", got, want)
	}
}

func TestTypedValue(t *testing.T) {
	tests := []struct {
		key, text string
		want      any
	}{
		{"header", "64", uint64(64)},
		{"rx_frames", "18446744073709551615", uint64(18446744073709551615)},
		{"rx_frames", "18446744073709551616", "18446744073709551616"},
		{"vnetif", "1500", "1500"},
		{"id", "1500", "1500"},
		{"age", "-1", "-1"},
		{"age", "", ""},
		{"state", "up", "up"},
	}
	for _, tt := range tests {
		if got := typedValue(tt.key, tt.text); got != tt.want {
			t.Errorf("typedValue(%q, %q) = %#v, want %#v", tt.key, tt.text, got, tt.want)
		}
	}
}

// TestVnetCreateKeyFileChecks: vn refuses a key file that others may
// read, or that holds no key, before it sends anything.
func TestVnetCreateKeyFileChecks(t *testing.T) {
	dp := controltest.New()
	path := startDaemon(t, dp)
	dir := t.TempDir()
	for _, tt := range []struct {
		name, text string
		mode       os.FileMode
		want       string
	}{
		{"open.key", "00112233445566778899aabbccddeeff", 0o644, "has mode 0644, so others may read the key (make it readable by its owner only: chmod 600"},
		{"empty.key", " \n", 0o600, "the file is empty; it should hold 32 or 64 hex digits"},
		{"missing.key", "", 0, "no such file or directory"},
	} {
		file := filepath.Join(dir, tt.name)
		if tt.mode != 0 {
			if err := os.WriteFile(file, []byte(tt.text), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(file, tt.mode); err != nil {
				t.Fatal(err)
			}
		}
		r := vn(t, path, "vnet-create", "-s", "conf", "-k", file, "1500")
		if r.code != exitFailed || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("vn vnet-create -k %s: exit %d, stderr %q, want exit %d and %q", tt.name, r.code, r.stderr, exitFailed, tt.want)
		}
	}
	if calls := dp.Calls(); len(calls) != 0 {
		t.Errorf("dataplane calls %q, want none", calls)
	}
}
