package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vnet-xdp/vnet/control/controltest"
	"github.com/vnet-xdp/vnet/overlay"
)

// newNamespace creates a network namespace for the test and deletes it
// when the test ends. It skips the test without root or the ip tool.
func newNamespace(t *testing.T) (string, netns.NsHandle) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip tool (iproute2) to create a network namespace")
	}
	name := fmt.Sprintf("vnctl-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	ns, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("open namespace %s: %v", name, err)
	}
	t.Cleanup(func() { ns.Close() })
	return name, ns
}

// inNamespace runs f on a thread switched to ns, so that vn's netlink
// calls act there.
func inNamespace(t *testing.T, ns netns.NsHandle, f func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("open current namespace: %v", err)
	}
	if err := netns.Set(ns); err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		t.Fatalf("enter namespace: %v", err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			// The thread stays locked, so the runtime discards it
			// when this goroutine ends.
			t.Errorf("restore network namespace: %v", err)
			return
		}
		orig.Close()
		runtime.UnlockOSThread()
	}()
	f()
}

// ipLink returns what "ip -d -j link show DEV" reports in namespace ns.
func ipLink(t *testing.T, ns, dev string) map[string]any {
	t.Helper()
	out, err := exec.Command("ip", "-n", ns, "-d", "-j", "link", "show", "dev", dev).Output()
	if err != nil {
		t.Fatalf("ip link show %s: %v", dev, err)
	}
	var links []map[string]any
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		t.Fatalf("parse ip link show %s: %v: %s", dev, err, out)
	}
	return links[0]
}

func linkExists(t *testing.T, h *netlink.Handle, name string) bool {
	t.Helper()
	_, err := h.LinkByName(name)
	if err != nil && !isNotFound(err) {
		t.Fatalf("look up %s: %v", name, err)
	}
	return err == nil
}

// addVeth creates a veth pair NAME and NAME+"p".
func addVeth(h *netlink.Handle, name string) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	return h.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: name + "p"})
}

func TestBridgeCommandsInNamespace(t *testing.T) {
	nsName, ns := newNamespace(t)
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("netlink handle in namespace: %v", err)
	}
	t.Cleanup(h.Close)

	// The fake creates and deletes a veth device in the namespace where
	// the daemon would create its vnet device. Veth rather than dummy,
	// because kernels without the dummy driver are common in VMs.
	dp := controltest.New()
	dp.AfterAddVnet = func(v overlay.VnetInfo) error { return addVeth(h, v.Device) }
	dp.BeforeDeleteVnet = func(v overlay.VnetInfo) error {
		link, err := h.LinkByName(v.Device)
		if err != nil {
			return err
		}
		return h.LinkDel(link)
	}
	path := startDaemon(t, dp)

	inNamespace(t, ns, func() {
		// Create: the bridge is made with STP off and forward delay 0,
		// and the device joins it.
		mustVN(t, path, "vnet-create", "-b", "vnbr0", "1500")
		br := ipLink(t, nsName, "vnbr0")
		data, _ := br["linkinfo"].(map[string]any)["info_data"].(map[string]any)
		if data["stp_state"] != float64(0) || data["forward_delay"] != float64(0) {
			t.Errorf("bridge vnbr0: stp_state %v, forward_delay %v, want 0 and 0", data["stp_state"], data["forward_delay"])
		}
		if flags, _ := br["flags"].([]any); !slices.Contains(flags, any("UP")) {
			t.Errorf("bridge vnbr0 flags %v, want UP", flags)
		}
		dev := ipLink(t, nsName, "vnif1500")
		if dev["master"] != "vnbr0" {
			t.Errorf("vnif1500 master %v, want vnbr0", dev["master"])
		}
		if flags, _ := dev["flags"].([]any); !slices.Contains(flags, any("UP")) {
			t.Errorf("vnif1500 flags %v, want UP", flags)
		}

		// Listings show the device and the bridge.
		long := mustVN(t, path, "vnets", "-l", "1500")
		if !strings.Contains(long, "(vnif (name vnif1500) (state up)") || !strings.Contains(long, "(bridge vnbr0) (bridge_ports vnif1500))") {
			t.Errorf("vn vnets -l 1500:\n%s\nwant the device up on bridge vnbr0", long)
		}
		if got := mustVN(t, path, "bridges"); got != "(bridge (name vnbr0) (ports vnif1500))\n" {
			t.Errorf("vn bridges = %q, want vnbr0 with port vnif1500", got)
		}
		v := decodeJSON(t, mustVN(t, path, "bridges", "-l", "--json"))
		bridges, _ := v["bridge"].([]any)
		if len(bridges) != 1 {
			t.Fatalf("vn bridges -l --json lists %d bridges, want 1", len(bridges))
		}
		if b := bridges[0].(map[string]any); b["name"] != "vnbr0" || b["state"] != "up" || b["mtu"] != float64(1500) {
			t.Errorf("bridge in JSON = %v, want vnbr0, up, MTU 1500", b)
		}
		v = decodeJSON(t, mustVN(t, path, "vnifs", "--json", "vnif1500"))
		vnif := v["vnif"].([]any)[0].(map[string]any)
		if vnif["bridge"] != "vnbr0" || vnif["vnet"] != id1500 {
			t.Errorf("vnifs --json = %v, want vnet %s on bridge vnbr0", vnif, id1500)
		}

		// vif-add -i takes the MAC of a device.
		mustVN(t, path, "vif-add", "-i", "1500", "vnif1500")
		mac := dev["address"].(string)
		if calls := dp.Calls(); calls[len(calls)-1] != "AddVif "+id1500+" "+mac {
			t.Errorf("last dataplane call %q, want AddVif with %s", calls[len(calls)-1], mac)
		}

		// A bridge with another port is kept.
		if err := addVeth(h, "vnport1"); err != nil {
			t.Fatal(err)
		}
		port, _ := h.LinkByName("vnport1")
		bridge, _ := h.LinkByName("vnbr0")
		if err := h.LinkSetMaster(port, bridge); err != nil {
			t.Fatal(err)
		}
		r := vn(t, path, "vnet-delete", "-b", "1500")
		if r.code != exitOK {
			t.Fatalf("vn vnet-delete -b 1500: exit %d, stderr %q", r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "vn: bridge vnbr0 still has ports vnport1; not deleted") {
			t.Errorf("vn vnet-delete -b 1500: stderr %q, want a note that vnbr0 still has vnport1", r.stderr)
		}
		if !linkExists(t, h, "vnbr0") {
			t.Error("bridge vnbr0 was deleted although vnport1 is still attached")
		}
		if linkExists(t, h, "vnif1500") {
			t.Error("vnif1500 still exists after vnet-delete")
		}

		// An existing bridge is reused, and deleted with its last port.
		mustVN(t, path, "vnet-create", "-v", "vnbr-dev", "-b", "vnbr0", "1501")
		if dev := ipLink(t, nsName, "vnbr-dev"); dev["master"] != "vnbr0" {
			t.Errorf("vnbr-dev master %v, want vnbr0", dev["master"])
		}
		if err := h.LinkSetNoMaster(port); err != nil {
			t.Fatal(err)
		}
		r = vn(t, path, "vnet-delete", "-b", "vnbr-dev")
		if r.code != exitOK || r.stderr != "" {
			t.Errorf("vn vnet-delete -b vnbr-dev: exit %d, stderr %q, want 0 and no message", r.code, r.stderr)
		}
		if linkExists(t, h, "vnbr0") {
			t.Error("bridge vnbr0 still exists after deleting its last port's vnet with -b")
		}

		// Without -b the device is detached and the bridge kept.
		mustVN(t, path, "vnet-create", "-b", "vnbr1", "1502")
		mustVN(t, path, "vnet-delete", "1502")
		if !linkExists(t, h, "vnbr1") {
			t.Error("bridge vnbr1 was deleted by vnet-delete without -b")
		}
		if got := mustVN(t, path, "bridges"); got != "(bridge (name vnbr1) (ports))\n" {
			t.Errorf("vn bridges = %q, want vnbr1 without ports", got)
		}

		// A device that is not a bridge cannot be used as one. The vnet
		// is created all the same, and the error reports that.
		r = vn(t, path, "vnet-create", "-b", "vnport1", "1503")
		if r.code != exitFailed || !strings.Contains(r.stderr, "was created, but use vnport1 as a bridge: it is a veth device") {
			t.Errorf("vn vnet-create -b vnport1: exit %d, stderr %q, want exit 1 naming the veth device", r.code, r.stderr)
		}
		r = vn(t, path, "vnet-delete", "-b", "1503")
		if r.code != exitOK || !strings.Contains(r.stderr, "device vnif1503 is not attached to a bridge") {
			t.Errorf("vn vnet-delete -b 1503: exit %d, stderr %q, want a note that there is no bridge", r.code, r.stderr)
		}

		// A device in another namespace than vn's: no bridge is made
		// here, the vnet is deleted again, and the error names vnetd's
		// namespace as the place to run vn.
		dp.AfterAddVnet, dp.BeforeDeleteVnet = nil, nil
		r = vn(t, path, "vnet-create", "-b", "vnbr4", "1504")
		if r.code != exitFailed || !strings.Contains(r.stderr, "vnet "+"0000:0000:0000:0000:0000:0000:0000:1504 not created: device vnif1504 is not in this network namespace (run vn in vnetd's namespace") {
			t.Errorf("vn vnet-create -b vnbr4 with the device elsewhere: exit %d, stderr %q, want exit 1 saying where to run vn", r.code, r.stderr)
		}
		if out := mustVN(t, path, "vnets"); strings.Contains(out, "1504") {
			t.Errorf("vnet 1504 is listed after vnet-create -b failed to attach it:\n%s", out)
		}
		if linkExists(t, h, "vnbr4") {
			t.Error("vn vnet-create -b created bridge vnbr4 although the device is not in its namespace")
		}
	})
}
