package main

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vnet-xdp/vnet/internal/nstest"
)

// lan is an underlay subnet 198.18.N.0/24: a bridge in a switch
// namespace. A router, when there is one, has address .254 on it.
type lan struct {
	t      *testing.T
	sw     *nstest.Netns
	prefix string
	ports  int
	dir    string
}

func newLAN(t *testing.T, p string, n int) *lan {
	t.Helper()
	nstest.RequireRoot(t)
	sw := nstest.New(t, fmt.Sprintf("%ss%d", p, n))
	sw.MustRun(t, "ip", "link", "add", "br0", "type", "bridge")
	sw.MustRun(t, "ip", "link", "set", "br0", "up")
	return &lan{t: t, sw: sw, prefix: fmt.Sprintf("198.18.%d", n), dir: t.TempDir()}
}

// connect adds a port to the LAN's bridge whose other end is ifname in
// ns, with address .num.
func (l *lan) connect(ns *nstest.Netns, ifname string, num int) string {
	l.ports++
	port := fmt.Sprintf("p%d", l.ports)
	addr := fmt.Sprintf("%s.%d", l.prefix, num)
	nstest.Veth(l.t, nstest.VethConfig{Netns: ns, Name: ifname, Addr: addr + "/24"}, nstest.VethConfig{Netns: l.sw, Name: port})
	l.sw.MustRun(l.t, "ip", "link", "set", port, "master", "br0")
	return addr
}

// addHost creates a host namespace on the LAN at address .num, routes
// the rest of 198.18.0.0/16 through .254 and starts vnetd.
func (l *lan) addHost(name string, num int) *host {
	t := l.t
	ns := nstest.New(t, l.sw.Name+name)
	h := &host{t: t, ns: ns, socket: filepath.Join(l.dir, name+".sock")}
	h.addr = l.connect(ns, "u0", num)
	ns.MustRun(t, "ip", "route", "add", "198.18.0.0/16", "via", l.prefix+".254")
	h.start(buildBinaries(t))
	return h
}

// router joins LANs with IPv4 forwarding and no multicast routing, so
// group traffic stays in each LAN.
func router(t *testing.T, p string, lans ...*lan) {
	t.Helper()
	r := nstest.New(t, p+"rt")
	for i, l := range lans {
		l.connect(r, fmt.Sprintf("r%d", i), 254)
	}
	r.MustRun(t, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
}

// counterIn returns a counter of the stats block whose scope starts with
// scope.
func counterIn(t *testing.T, stats, scope, name string) uint64 {
	t.Helper()
	i := strings.Index(stats, `(scope "`+scope)
	if i < 0 {
		i = strings.Index(stats, "(scope "+scope)
	}
	if i < 0 {
		t.Fatalf("no stats block %q in:\n%s", scope, stats)
	}
	block := stats[i:]
	if j := strings.Index(block, "\n)"); j >= 0 {
		block = block[:j]
	}
	return counter(t, block, name)
}

// TestResolutionAfterFlush: with the VARP cache empty, a unicast frame
// waits while a VARP request finds the host of its destination.
func TestResolutionAfterFlush(t *testing.T) {
	l := newLAN(t, nstest.Prefix(), 0)
	h1, h2 := l.addHost("h1", 1), l.addHost("h2", 2)
	a1 := vnetPair(t, h1, h2)
	h1.mustVn("varp-flush")
	if strings.Contains(h1.mustVn("varp"), "ventry") {
		t.Fatalf("VARP cache not empty after varp-flush")
	}
	// The VM still knows the MAC, so the next ping is unicast to a MAC
	// the host no longer knows.
	if err := ping(a1, "198.19.0.2", 2); err != nil {
		t.Fatalf("ping after the flush: %v", err)
	}
	s1, s2 := h1.mustVn("stats"), h2.mustVn("stats")
	if n := counterIn(t, s1, "dataplane", "varp_requests_out"); n == 0 {
		t.Errorf("host 1 sent no VARP request")
	}
	if n := counterIn(t, s2, "dataplane", "varp_replies_out"); n == 0 {
		t.Errorf("host 2 sent no VARP reply")
	}
	if !strings.Contains(h1.mustVn("varp"), "198.18.0.2") {
		t.Errorf("host 1 did not learn where the VM is")
	}
}

// TestMACMoveBetweenHosts moves a VM from host 2 to host 3: once it has
// sent a frame from host 3, it is reachable there within a round trip,
// and host 2 no longer replies for it.
func TestMACMoveBetweenHosts(t *testing.T) {
	l := newLAN(t, nstest.Prefix(), 0)
	hs := []*host{l.addHost("h1", 1), l.addHost("h2", 2), l.addHost("h3", 3)}
	for _, h := range hs {
		h.mustVn("vnet-create", "-b", "br1500", "1500")
	}
	a1 := hs[0].addVM("a", "br1500", "vnif1500", "198.19.0.1/24")
	m := hs[1].addVM("m", "br1500", "vnif1500", "198.19.0.2/24")
	if err := ping(a1, "198.19.0.2", 2); err != nil {
		t.Fatalf("ping before the move: %v", err)
	}
	mac := strings.TrimSpace(m.MustRun(t, "cat", "/sys/class/net/eth0/address"))

	// The VM moves: its namespace on host 2 goes, one with the same MAC
	// and address comes up on host 3.
	if _, err := m.Run("ip", "link", "del", "eth0"); err != nil {
		t.Fatal(err)
	}
	moved := hs[2].addVM("n", "br1500", "vnif1500", "198.19.0.2/24")
	moved.MustRun(t, "ip", "link", "set", "eth0", "address", mac)
	// Its first frame announces it; a1 reaches it at once.
	moved.Run("ping", "-c", "1", "-W", "1", "198.19.0.1")
	if err := ping(a1, "198.19.0.2", 1); err != nil {
		t.Errorf("first ping after the move: %v", err)
	}
	if out := hs[1].mustVn("vifs"); strings.Contains(out, mac) {
		t.Errorf("host 2 still lists %s as local after it moved:\n%s", mac, out)
	}
	varp := hs[0].mustVn("varp")
	i := strings.Index(varp, mac)
	if i < 0 || !strings.Contains(varp[max(0, i-200):i], "198.18.0.3") {
		t.Errorf("host 1 does not map %s to host 3:\n%s", mac, varp)
	}
}

// TestPeersAcrossSubnets joins two subnets without multicast routing
// through one forwarder in each: VMs on plain hosts in both subnets
// reach each other.
func TestPeersAcrossSubnets(t *testing.T) {
	p := nstest.Prefix()
	l1, l2 := newLAN(t, p, 1), newLAN(t, p, 2)
	router(t, p, l1, l2)
	h1, f1 := l1.addHost("h", 1), l1.addHost("f", 2)
	h2, f2 := l2.addHost("h", 1), l2.addHost("f", 2)
	f1.mustVn("peer-add", f2.addr)
	f2.mustVn("peer-add", f1.addr)
	for _, h := range []*host{h1, h2} {
		h.mustVn("vnet-create", "-b", "br1500", "1500")
	}
	a1 := h1.addVM("a", "br1500", "vnif1500", "198.19.0.1/24")
	h2.addVM("a", "br1500", "vnif1500", "198.19.0.2/24")
	if err := ping(a1, "198.19.0.2", 3); err != nil {
		t.Fatalf("ping across the forwarders: %v", err)
	}
	for _, f := range []*host{f1, f2} {
		s := f.mustVn("stats")
		if counterIn(t, s, "dataplane", "forwarded_out") == 0 || counterIn(t, s, "dataplane", "forwarded_in") == 0 {
			t.Errorf("forwarder %s relayed nothing:\n%s", f.addr, s)
		}
	}
	if out := f1.mustVn("peers"); !strings.Contains(out, f2.addr) {
		t.Errorf("peers of f1 lack %s:\n%s", f2.addr, out)
	}
	// h2 learned a1's host at its real address, not the forwarder's.
	if out := h2.mustVn("varp"); !strings.Contains(out, h1.addr) {
		t.Errorf("host in subnet 2 does not map the VM to %s:\n%s", h1.addr, out)
	}
}

// TestForwarderTriangle peers three forwarders in three subnets with each
// other. Every VM receives each broadcast exactly once: no loss and no
// loop.
func TestForwarderTriangle(t *testing.T) {
	p := nstest.Prefix()
	lans := []*lan{newLAN(t, p, 1), newLAN(t, p, 2), newLAN(t, p, 3)}
	router(t, p, lans...)
	var fs []*host
	for _, l := range lans {
		fs = append(fs, l.addHost("f", 1))
	}
	plain := lans[0].addHost("h", 2)
	for i, f := range fs {
		for j, g := range fs {
			if i != j {
				f.mustVn("peer-add", g.addr)
			}
		}
	}
	var vms []*nstest.Netns
	for i, h := range append(fs, plain) {
		h.mustVn("vnet-create", "-b", "br1500", "1500")
		vms = append(vms, h.addVM("v", "br1500", "vnif1500", fmt.Sprintf("198.19.0.%d/24", i+1)))
	}
	// Prime ARP everywhere through the overlay.
	for i := 1; i < len(vms); i++ {
		if err := ping(vms[0], fmt.Sprintf("198.19.0.%d", i+1), 1); err != nil {
			t.Fatalf("ping VM %d: %v", i+1, err)
		}
	}

	const n = 20
	dir := t.TempDir()
	var receivers []*exec.Cmd
	for i, vm := range vms[1:] {
		file := filepath.Join(dir, fmt.Sprintf("rx%d", i))
		r := vm.Command("timeout", "6", "socat", "-u", "UDP4-RECV:5000,reuseaddr", "OPEN:"+file+",creat,append")
		if err := r.Start(); err != nil {
			t.Fatal(err)
		}
		receivers = append(receivers, r)
	}
	time.Sleep(300 * time.Millisecond)
	script := fmt.Sprintf("for i in $(seq %d); do echo $i | socat -u - UDP4-DATAGRAM:198.19.0.255:5000,broadcast; sleep 0.05; done", n)
	if out, err := vms[0].Run("sh", "-c", script); err != nil {
		t.Fatalf("send broadcasts: %v %s", err, out)
	}
	for _, r := range receivers {
		r.Wait()
	}
	for i := range receivers {
		b, _ := readFile(filepath.Join(dir, fmt.Sprintf("rx%d", i)))
		if got := strings.Count(b, "\n"); got != n {
			t.Errorf("VM %d received %d broadcasts, want %d", i+2, got, n)
		}
	}
	// No copy keeps circulating: once the test traffic stops, only the
	// hosts' own occasional multicast (IPv6 neighbour discovery, MLD) is
	// relayed, a few copies a second, where a loop would send thousands.
	before := make([]uint64, len(fs))
	for i, f := range fs {
		before[i] = counterIn(t, f.mustVn("stats"), "dataplane", "forwarded_out")
	}
	time.Sleep(time.Second)
	for i, f := range fs {
		if now := counterIn(t, f.mustVn("stats"), "dataplane", "forwarded_out"); now-before[i] > 20 {
			t.Errorf("forwarder %d sent %d copies in an idle second, want a few at most", i+1, now-before[i])
		}
	}
}

// TestRandomMACFlood floods one vnet with frames from random source
// MACs: its tables stay within their limits and the other vnet keeps
// working.
func TestRandomMACFlood(t *testing.T) {
	l := newLAN(t, nstest.Prefix(), 0)
	h1, h2 := l.addHost("h1", 1), l.addHost("h2", 2)
	for _, h := range []*host{h1, h2} {
		h.mustVn("vnet-create", "-b", "bra", "-v", "vnifa", "a")
		h.mustVn("vnet-create", "-b", "brb", "-v", "vnifb", "b")
	}
	flooder := h1.addVM("fa", "bra", "vnifa", "198.19.0.1/24")
	h2.addVM("fa", "bra", "vnifa", "198.19.0.2/24")
	b1 := h1.addVM("fb", "brb", "vnifb", "198.19.1.1/24")
	h2.addVM("fb", "brb", "vnifb", "198.19.1.2/24")
	if err := ping(b1, "198.19.1.2", 2); err != nil {
		t.Fatalf("ping on vnet b before the flood: %v", err)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		flooder.Do(t, func() { floodRandomMACs(t, "eth0", 20000) })
	}()
	out, err := b1.Run("ping", "-c", "20", "-i", "0.05", "-W", "1", "198.19.1.2")
	<-done
	if err != nil {
		t.Errorf("ping on vnet b during the flood: %v\n%s", err, out)
	} else if !strings.Contains(out, " 0% packet loss") {
		t.Errorf("vnet b lost packets during the flood:\n%s", out)
	}

	s := h2.mustVn("stats")
	vnetA := "vnet 0000:0000:0000:0000:0000:0000:0000:000a"
	entries := counterIn(t, s, vnetA, "varp_entries")
	if entries > 8192 {
		t.Errorf("vnet a has %d VARP entries, over its limit of 8192", entries)
	}
	if counterIn(t, s, vnetA, "drop_learn_rate") == 0 {
		t.Errorf("20000 random MACs learned without hitting the learning rate limit")
	}
	if n := counterIn(t, s, "vnet 0000:0000:0000:0000:0000:0000:0000:000b", "varp_entries"); n == 0 {
		t.Errorf("vnet b lost its VARP entries in the flood on vnet a")
	}
}

// floodRandomMACs sends n broadcast frames with random source MACs out of
// ifname, at most 20000 a second.
func floodRandomMACs(t *testing.T, ifname string, n int) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		t.Error(err)
		return
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Error(err)
		return
	}
	defer unix.Close(fd)
	to := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6, Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	frame := make([]byte, 60)
	copy(frame, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	binary.BigEndian.PutUint16(frame[12:], 0x88b5)
	start := time.Now()
	for i := 0; i < n; i++ {
		rand.Read(frame[6:12])
		frame[6] = frame[6]&0xfe | 0x02 // unicast, locally administered
		if err := unix.Sendto(fd, frame, 0, to); err != nil {
			t.Errorf("send frame %d: %v", i, err)
			return
		}
		if ahead := time.Duration(i)*50*time.Microsecond - time.Since(start); ahead > 0 {
			time.Sleep(ahead)
		}
	}
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

// TestCaptureEndToEnd captures a vnet's frames and the underlay's from
// inside the dataplane while VMs ping, and reads both files with
// tcpdump, which cannot see these frames on the interfaces themselves.
func TestCaptureEndToEnd(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("skipped: tcpdump is not installed (apt-get install tcpdump)")
	}
	l := newLAN(t, nstest.Prefix(), 0)
	h1, h2 := l.addHost("h1", 1), l.addHost("h2", 2)
	for _, h := range []*host{h1, h2} {
		h.mustVn("vnet-create", "-b", "br1500", "1500")
	}
	a1 := h1.addVM("a", "br1500", "vnif1500", "198.19.0.1/24")
	h2.addVM("a", "br1500", "vnif1500", "198.19.0.2/24")
	if err := ping(a1, "198.19.0.2", 1); err != nil {
		t.Fatalf("ping: %v", err)
	}

	dir := t.TempDir()
	inner, outer := filepath.Join(dir, "inner.pcap"), filepath.Join(dir, "outer.pcap")
	captures := []*exec.Cmd{
		h1.ns.Command(filepath.Join(binDir, "vn"), "--socket", h1.socket, "capture", "-t", "2.5", "-w", inner, "1500"),
		h1.ns.Command(filepath.Join(binDir, "vn"), "--socket", h1.socket, "capture", "-i", "u0", "-d", "out", "-c", "2", "-t", "10", "-w", outer),
	}
	for _, c := range captures {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if err := ping(a1, "198.19.0.2", 3); err != nil {
		t.Fatalf("ping during the capture: %v", err)
	}
	for _, c := range captures {
		if err := c.Wait(); err != nil {
			t.Fatalf("vn capture: %v", err)
		}
	}
	out, err := exec.Command("tcpdump", "-nr", inner).CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump -r %s: %v\n%s", inner, err, out)
	}
	// The bridges' own IGMP reports are in the capture too.
	if n := strings.Count(string(out), "ICMP echo"); n != 6 {
		t.Errorf("inner capture has %d ICMP echo frames, want 6 (3 requests, 3 replies):\n%s", n, out)
	}
	out, err = exec.Command("tcpdump", "-nr", outer).CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump -r %s: %v\n%s", outer, err, out)
	}
	if n := strings.Count(string(out), "198.18.0.1."); n < 2 || !strings.Contains(string(out), ".1798:") {
		t.Errorf("underlay capture does not show 2 packets from 198.18.0.1 to port 1798:\n%s", out)
	}
}
