package control

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vnet-xdp/vnet/control/controltest"
	"github.com/vnet-xdp/vnet/overlay"
)

// transcriptCommands exercise every command, with its successes and its
// kinds of errors, on one connection. The syntax error comes last because
// it closes the connection.
var transcriptCommands = []string{
	"(vnet.list)",
	"(vnet.add (id 1500))",
	"(vnet.add (id 1500))",
	"(vnet.add (id 0:0:0:0:0:0:1:2a00) (vnetif vn2a00) (security none))",
	"(vnet.add (id 1501) (vnetif vn2a00))",
	"(vnet.add (id 1) (vnetif phys))",
	"(vnet.add (id 12345))",
	"(vnet.add (id 1502) (vnetif abcdefghijklmno))",
	"(vnet.add (id 1502) (security secret))",
	"(vnet.add (id 1502) (security conf) (key 00112233445566778899aabbccddeeff))",
	"(vnet.add (id 1502) (bridge br0))",
	"(vnet.list)",
	"(vif.add (vnet 1500) (vmac 02:a8:b7:7b:5f:d3))",
	"(vif.add (vnet 1500) (vmac 02-a8-b7-7b-5f-d4))",
	"(vif.add (vnet 1503) (vmac 02:a8:b7:7b:5f:d3))",
	"(vif.add (vnet 1500) (vmac ff:ff:ff:ff:ff:ff))",
	"(vif.add (vnet 1500) (vmac 02:a8:b7:7b:5f))",
	"(vif.list)",
	"(vif.del (vnet 1500) (vmac 02-a8-b7-7b-5f-d4))",
	"(vif.del (vnet 1500) (vmac 02-a8-b7-7b-5f-d4))",
	"(vif.list)",
	"(peer.add (addr 198.18.1.3))",
	"(peer.add (addr 198.18.1.4) (port 1799))",
	"(peer.add (addr 198.18.1.4) (port 0x706))",
	"(peer.add (addr 10.1))",
	"(peer.add (addr 224.10.0.1))",
	"(peer.list)",
	"(peer.del (addr 198.18.1.4))",
	"(peer.del (addr 198.18.1.4))",
	"(peer.list)",
	"(varp.mcaddr (addr 224.10.0.2))",
	"(varp.mcaddr (addr 198.18.0.1))",
	"(varp.list)",
	"(varp.flush)",
	"(varp.limits (entries 100) (learn_rate 0))",
	"(varp.limits (entries 0))",
	"(varp.limits (flood_rate fast))",
	"(varp.list)",
	"(vnet.keys (id 1500))",
	"(vnet.keys (id 1599))",
	"(vnet.keys (id 1502))",
	"(capture)",
	"(capture (vnet 1500) (iface u0))",
	"(capture (vnet 1500) (count 0))",
	"(capture (iface u0) (direction sideways))",
	"(stats.list)",
	"(vnet.del (id 0:0:0:0:0:0:1:2a00))",
	"(vnet.del (id 0:0:0:0:0:0:1:2a00))",
	"(vnet.del (id 1))",
	"(vnet.list)",
	"(varp.print)",
	"vnet.list",
	"(vnet.add (id 1504)",
}

// transcriptDataplane returns a fake with a VARP cache and counters, which
// no command creates.
func transcriptDataplane(t *testing.T) *controltest.Dataplane {
	dp := controltest.New()
	dp.SetVarpEntries([]overlay.VarpEntry{
		{Vnet: mustVnetID(t, "1500"), MAC: mustMAC(t, "02:00:00:00:00:09"), Addr: netip.MustParseAddr("198.18.0.9"), State: overlay.VarpReachable, Age: 1500 * time.Millisecond, Ref: 1},
		{Vnet: mustVnetID(t, "1500"), MAC: mustMAC(t, "02:00:00:00:00:03"), State: overlay.VarpIncomplete, Probing: true, Queue: 3, Ref: 2},
	})
	dp.SetStats([]overlay.CounterSet{
		{Scope: "dataplane", Counters: []overlay.Counter{{Name: "drop_malformed", Value: 4}, {Name: "drop_not_from_peer", Value: 1}}},
		{Scope: "vnet " + id1500, Counters: []overlay.Counter{{Name: "rx_frames", Value: 10}, {Name: "tx_frames", Value: 12}}},
	})
	return dp
}

// TestTranscriptGolden sends every command on one connection and
// compares the replies with testdata/transcript.golden, where each
// command follows "> ". Run with -update to rewrite it.
func TestTranscriptGolden(t *testing.T) {
	_, path := startServer(t, Config{Dataplane: transcriptDataplane(t)})
	conn := dial(t, path)
	d := NewDecoder(conn)
	var b strings.Builder
	for i, cmd := range transcriptCommands {
		if _, err := conn.Write([]byte(cmd + "\n")); err != nil {
			t.Fatalf("write %s: %v", cmd, err)
		}
		b.WriteString("> " + cmd + "\n")
		if i == len(transcriptCommands)-1 {
			// The unfinished last command ends with the end of input.
			conn.CloseWrite()
		}
		b.WriteString(readReply(t, d))
	}
	expectEOF(t, conn)

	golden := filepath.Join("testdata", "transcript.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("transcript differs from %s (run go test -update to rewrite it):\n%s", golden, diffLines(got, string(want)))
	}

	// Every command head appears in the transcript.
	for _, name := range commandNames() {
		if !strings.Contains(b.String(), "> ("+name) {
			t.Errorf("transcript lacks command %s", name)
		}
	}
}

// diffLines returns the first differing line of got and want with its
// number.
func diffLines(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + strconv.Itoa(i+1) + ":\n got: " + gl + "\nwant: " + wl
		}
	}
	return "(no line differs)"
}
