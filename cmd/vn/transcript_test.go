package main

import (
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vnet-xdp/vnet/control/controltest"
	"github.com/vnet-xdp/vnet/overlay"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// transcriptRuns are vn command lines that cover every subcommand and its
// options, with successes and errors, run in order against one daemon.
// Commands that change bridges are left out, because they would change
// the network namespace of the test; TestBridgeCommandsInNamespace covers
// them. bridges lists the namespace's bridges, so it is left out too.
var transcriptRuns = [][]string{
	{"vnets"},
	{"vnet-create", "1500"},
	{"vnet-create", "-v", "vnblue", "-s", "none", "0:0:0:0:0:0:1:2a00"},
	{"vnet-create", "--vnetif", "vnred", "--security", "none", "1501"},
	{"vnet-create", "1500"},
	{"vnet-create", "-s", "conf", "1502"},
	{"vnet-create", "12345"},
	{"vnet-create", "-v", "averyveryverylongname", "1503"},
	{"vnets"},
	{"vnets", "--json"},
	{"vnets", "1500", "vnblue"},
	{"vnets", "-l", "1500"},
	{"vnets", "-l", "--json", "vnred"},
	{"vnets", "-a", "1500"},
	{"vnets", "-a", "--json", "1500"},
	{"vnets", "1504"},
	{"vnifs", "vnblue"},
	{"vnifs", "--json"},
	{"vif-add", "1500", "02:a8:b7:7b:5f:d3"},
	{"vif-add", "vnblue", "02-a8-b7-7b-5f-d4"},
	{"vif-add", "1500", "ff:ff:ff:ff:ff:ff"},
	{"vif-add", "-i", "1500", "lo"},
	{"vif-add", "1505", "02:a8:b7:7b:5f:d3"},
	{"vifs"},
	{"vifs", "--json"},
	{"vif-delete", "vnblue", "02:a8:b7:7b:5f:d4"},
	{"vif-delete", "vnblue", "02:a8:b7:7b:5f:d4"},
	{"peer-add", "198.18.1.3"},
	{"peer-add", "-p", "1799", "198.18.1.4"},
	{"peer-add", "--port", "0x706", "198.18.1.5"},
	{"peer-add", "10.1"},
	{"peers"},
	{"peers", "--json"},
	{"peer-delete", "198.18.1.4"},
	{"peer-delete", "198.18.1.4"},
	{"varp"},
	{"varp", "--json"},
	{"varp-flush"},
	{"varp-limits", "--entries", "100", "--learn-rate", "0"},
	{"varp-limits"},
	{"varp-limits", "--entries", "0"},
	{"varp"},
	{"esp-keys", "1500"},
	{"esp-keys"},
	{"capture"},
	{"capture", "-i", "u0", "1500"},
	{"capture", "9999"},
	{"capture", "-d", "sideways", "1500"},
	{"stats"},
	{"stats", "--json"},
	{"raw", "(vnet.list)", "(peer.list)"},
	{"raw", "(vnet.add (id 1500))"},
	{"raw", "(vnet.add"},
	{"vnet-delete", "vnred"},
	{"vnet-delete", "-b", "1500"},
	{"vnet-delete", "1500"},
	{"vnet-delete", "1"},
	{"vnets"},
	{"help", "vnet-create"},
	{"vnets", "--help"},
	{"completion", "tcsh"},
	{"frobnicate"},
}

// TestTranscriptGolden runs every command line of transcriptRuns and
// compares what vn prints and its exit status with
// testdata/transcript.golden. Run with -update to rewrite it.
func TestTranscriptGolden(t *testing.T) {
	dp := controltest.New()
	dp.SetVarpEntries([]overlay.VarpEntry{
		{Vnet: mustID(t, "1500"), MAC: mustMAC(t, "02:00:00:00:00:09"), Addr: netip.MustParseAddr("198.18.0.9"), State: overlay.VarpReachable, Age: 973 * time.Millisecond, Ref: 1},
		{Vnet: mustID(t, "1500"), MAC: mustMAC(t, "02:00:00:00:00:03"), State: overlay.VarpIncomplete, Probing: true, Queue: 3, Ref: 2},
	})
	dp.SetStats([]overlay.CounterSet{
		{Scope: "dataplane", Counters: []overlay.Counter{{Name: "drop_malformed", Value: 4}}},
		{Scope: "port u0 queue 0", Counters: []overlay.Counter{{Name: "rx_frames", Value: 12}, {Name: "tx_frames", Value: 10}}},
	})
	path := startDaemon(t, dp)

	var b strings.Builder
	for _, args := range transcriptRuns {
		r := vn(t, path, args...)
		b.WriteString("$ vn " + strings.Join(args, " ") + "\n")
		b.WriteString(r.stdout)
		for _, line := range strings.SplitAfter(r.stderr, "\n") {
			if line != "" {
				b.WriteString("stderr: " + line)
			}
		}
		b.WriteString("exit " + string(rune('0'+r.code)) + "\n\n")
	}
	got := strings.ReplaceAll(b.String(), path, "SOCKET")

	golden := filepath.Join("testdata", "transcript.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		g, w := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(g), len(w)); i++ {
			var gl, wl string
			if i < len(g) {
				gl = g[i]
			}
			if i < len(w) {
				wl = w[i]
			}
			if gl != wl {
				t.Fatalf("transcript differs from %s at line %d (run go test -update to rewrite it):\n got: %s\nwant: %s", golden, i+1, gl, wl)
			}
		}
	}

	// Every subcommand appears in the transcript, bridges aside.
	for _, sub := range subcommands {
		if sub.name != "bridges" && !strings.Contains(got, "$ vn "+sub.name) {
			t.Errorf("transcript lacks vn %s", sub.name)
		}
	}
}

// TestRejectedConnectionReply checks that vn shows the error reply of a
// daemon that rejects the connection and closes it without reading.
func TestRejectedConnectionReply(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vnetd")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conn.Write([]byte(`(error (code EACCES) (message "permission denied for uid 1000 (pid 7): the command socket accepts only root (run the client as root)"))` + "\n"))
			conn.Close()
		}
	}()
	// Let the reply and the close arrive before vn writes.
	for _, args := range [][]string{{"vnets"}, {"peer-add", "198.18.1.3"}} {
		time.Sleep(10 * time.Millisecond)
		r := vn(t, path, args...)
		if r.code != exitFailed || !strings.Contains(r.stderr, "vn: permission denied for uid 1000") {
			t.Errorf("vn %q against a rejecting daemon: exit %d, stderr %q, want exit 1 and the reply's message", args, r.code, r.stderr)
		}
	}
}
