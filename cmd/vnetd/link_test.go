package main

import (
	"strings"
	"testing"
	"time"

	"github.com/vnet-xdp/vnet/internal/nstest"
)

// waitFor polls cond every 100 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// vnetPair creates vnet 1500 on two hosts, each with a VM on bridge
// br1500, at 198.19.0.1 and 198.19.0.2, checks that they reach each
// other, and returns the first VM.
func vnetPair(t *testing.T, h1, h2 *host) *nstest.Netns {
	t.Helper()
	for _, h := range []*host{h1, h2} {
		h.mustVn("vnet-create", "-b", "br1500", "1500")
	}
	a1 := h1.addVM("a", "br1500", "vnif1500", "198.19.0.1/24")
	h2.addVM("a", "br1500", "vnif1500", "198.19.0.2/24")
	if err := ping(a1, "198.19.0.2", 2); err != nil {
		t.Fatalf("ping before the change: %v", err)
	}
	return a1
}

// TestUnderlayDownAndUp: traffic resumes once the underlay interface is
// up again, and the change is counted.
func TestUnderlayDownAndUp(t *testing.T) {
	hs := underlay(t, 2)
	a1 := vnetPair(t, hs[0], hs[1])

	hs[0].ns.MustRun(t, "ip", "link", "set", "u0", "down")
	down := waitFor(3*time.Second, func() bool {
		return counterIn(t, hs[0].mustVn("stats"), "underlay u0", "up") == 0
	})
	if !down {
		t.Errorf("underlay u0 not reported down within 3 s:\n%s", hs[0].mustVn("stats"))
	}
	if err := ping(a1, "198.19.0.2", 1); err == nil {
		t.Errorf("ping succeeded while the underlay interface was down")
	}
	hs[0].ns.MustRun(t, "ip", "link", "set", "u0", "up")
	if err := ping(a1, "198.19.0.2", 5); err != nil {
		t.Errorf("ping after the underlay interface came back up: %v", err)
	}
	stats := hs[0].mustVn("stats")
	if n := counterIn(t, stats, "underlay u0", "up"); n != 1 {
		t.Errorf("underlay u0 up = %d after ip link set up, want 1", n)
	}
	if n := counterIn(t, stats, "underlay u0", "down_events"); n != 1 {
		t.Errorf("underlay u0 down_events = %d, want 1", n)
	}
}

// TestVnetDevicesDeleted: vnetd creates a vnet's devices again when they
// are deleted under it, and the vnet works once the device is back on its
// bridge.
func TestVnetDevicesDeleted(t *testing.T) {
	hs := underlay(t, 2)
	a1 := vnetPair(t, hs[0], hs[1])

	h := hs[1]
	h.ns.MustRun(t, "ip", "link", "del", "vnif1500")
	back := waitFor(3*time.Second, func() bool {
		_, err := h.ns.Run("ip", "link", "show", "vnif1500")
		return err == nil
	})
	if !back {
		t.Fatalf("vnif1500 not created again within 3 s")
	}
	h.ns.MustRun(t, "ip", "link", "set", "vnif1500", "master", "br1500")
	if err := ping(a1, "198.19.0.2", 5); err != nil {
		t.Errorf("ping after the devices were created again: %v", err)
	}
	if n := counterIn(t, h.mustVn("stats"), "vnet 0000:0000:0000:0000:0000:0000:0000:1500", "devices_replaced"); n != 1 {
		t.Errorf("devices_replaced = %d, want 1", n)
	}

	// vnet.del still removes the vnet and its new devices.
	h.mustVn("vnet-delete", "1500")
	if _, err := h.ns.Run("ip", "link", "show", "vnif1500"); err == nil {
		t.Errorf("vnif1500 exists after vnet-delete")
	}
	if out := h.mustVn("vnets"); strings.Contains(out, "vnif1500") {
		t.Errorf("vnet 1500 still listed after vnet-delete:\n%s", out)
	}
}

// TestUnderlayDeletedAndBack: a deleted underlay interface is taken out of
// the data path, and used again when an interface of that name with the
// same address is back.
func TestUnderlayDeletedAndBack(t *testing.T) {
	l := newLAN(t, nstest.Prefix(), 0)
	h1, h2 := l.addHost("h1", 1), l.addHost("h2", 2)
	a1 := vnetPair(t, h1, h2)

	h2.ns.MustRun(t, "ip", "link", "del", "u0")
	gone := waitFor(3*time.Second, func() bool {
		return counterIn(t, h2.mustVn("stats"), "underlay u0", "present") == 0
	})
	if !gone {
		t.Fatalf("underlay u0 still present 3 s after deletion:\n%s", h2.mustVn("stats"))
	}
	if err := ping(a1, "198.19.0.2", 1); err == nil {
		t.Errorf("ping succeeded while the underlay interface was deleted")
	}

	l.connect(h2.ns, "u0", 2)
	present := waitFor(5*time.Second, func() bool {
		return counterIn(t, h2.mustVn("stats"), "underlay u0", "present") == 1
	})
	if !present {
		t.Fatalf("underlay u0 not used again within 5 s of coming back:\n%s", h2.log.String())
	}
	if err := ping(a1, "198.19.0.2", 5); err != nil {
		t.Errorf("ping after the underlay interface came back: %v", err)
	}
	if n := counterIn(t, h2.mustVn("stats"), "underlay u0", "deleted_events"); n != 1 {
		t.Errorf("deleted_events = %d, want 1", n)
	}
}

// TestUnderlayMTULowered: after the underlay MTU drops below what the
// vnet devices were sized for, a VM's packet that no longer fits is
// fragmented when it allows it, and otherwise gets ICMP "fragmentation
// needed" with the new limit, instead of vanishing.
func TestUnderlayMTULowered(t *testing.T) {
	hs := underlay(t, 2)
	a1 := vnetPair(t, hs[0], hs[1])
	for _, h := range hs {
		h.ns.MustRun(t, "ip", "link", "set", "u0", "mtu", "1400")
	}
	for _, h := range hs {
		noticed := waitFor(3*time.Second, func() bool { return strings.Contains(h.log.String(), "underlay MTU lowered") })
		if !noticed {
			t.Fatalf("vnetd in %s did not notice the MTU change within 3 s:\n%s", h.ns.Name, h.log.String())
		}
	}

	if out, err := a1.Run("ping", "-c", "2", "-i", "0.2", "-W", "1", "-M", "dont", "-s", "1400", "198.19.0.2"); err != nil {
		t.Errorf("ping -M dont -s 1400 after the MTU change: %v\n%s", err, out)
	}
	// 1400 bytes of underlay less 64 of encapsulation leave 1336 for
	// the inner IPv4 packet.
	out, err := a1.Run("ping", "-c", "1", "-W", "1", "-M", "do", "-s", "1400", "198.19.0.2")
	if err == nil || !strings.Contains(out, "mtu = 1336") {
		t.Errorf("ping -M do -s 1400 = %v:\n%s\nwant an ICMP fragmentation needed with mtu = 1336", err, out)
	}
	stats := hs[0].mustVn("stats")
	scope := "vnet 0000:0000:0000:0000:0000:0000:0000:1500"
	if n := counterIn(t, stats, scope, "fragmented"); n == 0 {
		t.Errorf("fragmented = 0 after packets without DF that did not fit")
	}
	if n := counterIn(t, stats, scope, "too_big"); n == 0 {
		t.Errorf("too_big = 0 after a packet with DF that did not fit")
	}
}

// TestMoreWorkersThanQueues: with more workers requested than the
// underlay has receive queues, vnetd runs one worker per queue, logs a
// warning, and vnets work.
func TestMoreWorkersThanQueues(t *testing.T) {
	hs := underlay(t, 2)
	h := hs[0]
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	h.args = []string{"--cpus", "0,1"}
	h.start(buildBinaries(t))
	a1 := vnetPair(t, hs[0], hs[1])
	if !strings.Contains(h.log.String(), "more workers than the underlay interfaces have receive queues") {
		t.Errorf("vnetd with two workers on a one-queue interface did not say so:\n%s", h.log.String())
	}
	if err := ping(a1, "198.19.0.2", 3); err != nil {
		t.Errorf("ping: %v", err)
	}
	if stats := h.mustVn("stats"); strings.Contains(stats, `(scope "worker 1")`) {
		t.Errorf("vnetd runs a second worker with no underlay queue:\n%s", stats)
	}
}
