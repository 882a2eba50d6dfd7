package main

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vnet-xdp/vnet/internal/nstest"
)

// hostCount numbers the hosts started, to spread them over the CPUs.
var hostCount atomic.Int32

// binDir holds vnetd and vn, built once for all tests.
var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

func buildBinaries(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "vnet-e2e-bin")
		if binErr != nil {
			return
		}
		for _, pkg := range []string{".", "../vn"} {
			name := filepath.Base(pkg)
			if pkg == "." {
				name = "vnetd"
			}
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, name), pkg).CombinedOutput()
			if err != nil {
				binErr = fmt.Errorf("build %s: %v: %s", pkg, err, out)
				return
			}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// host is a network namespace running vnetd on its underlay interface
// u0, which is a port of the underlay bridge.
type host struct {
	t      *testing.T
	ns     *nstest.Netns
	addr   string
	socket string
	// stateDir is vnetd's --state-dir; start creates one when it is
	// empty, so that the hosts of a test never share one.
	stateDir string
	// cpu is the CPU vnetd's worker is pinned to, kept across restarts.
	cpu *int
	// args are more options for vnetd.
	args   []string
	cmd    *exec.Cmd
	log    *lockedBuffer
	exited chan error
}

// underlay builds a switch namespace with a bridge and n hosts on it,
// with addresses 198.18.0.1 to 198.18.0.n, each running vnetd.
func underlay(t *testing.T, n int) []*host {
	t.Helper()
	nstest.RequireRoot(t)
	bin := buildBinaries(t)
	p := nstest.Prefix()
	sw := nstest.New(t, p+"sw")
	sw.MustRun(t, "ip", "link", "add", "br0", "type", "bridge")
	sw.MustRun(t, "ip", "link", "set", "br0", "up")
	dir := t.TempDir()
	var hosts []*host
	for i := 1; i <= n; i++ {
		h := &host{t: t, ns: nstest.New(t, fmt.Sprintf("%sh%d", p, i)), addr: fmt.Sprintf("198.18.0.%d", i)}
		nstest.Veth(t,
			nstest.VethConfig{Netns: h.ns, Name: "u0", Addr: h.addr + "/24"},
			nstest.VethConfig{Netns: sw, Name: fmt.Sprintf("p%d", i)})
		sw.MustRun(t, "ip", "link", "set", fmt.Sprintf("p%d", i), "master", "br0")
		h.socket = filepath.Join(dir, fmt.Sprintf("h%d.sock", i))
		h.start(bin)
		hosts = append(hosts, h)
	}
	return hosts
}

func (h *host) start(bin string) {
	t := h.t
	h.log = &lockedBuffer{}
	if h.stateDir == "" {
		h.stateDir = t.TempDir()
	}
	if h.cpu == nil {
		// Hosts take turns over the CPUs, as they would run on machines
		// of their own; two workers spinning on one CPU starve each other.
		cpu := int(hostCount.Add(1)) % runtime.NumCPU()
		h.cpu = &cpu
	}
	args := append([]string{"--iface", "u0", "--socket", h.socket, "--state-dir", h.stateDir,
		"--cpus", strconv.Itoa(*h.cpu), "--log-level", "debug"}, h.args...)
	h.cmd = h.ns.Command(filepath.Join(bin, "vnetd"), args...)
	h.cmd.Stdout = h.log
	h.cmd.Stderr = h.log
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("start vnetd in %s: %v", h.ns.Name, err)
	}
	h.exited = make(chan error, 1)
	go func() { h.exited <- h.cmd.Wait() }()
	t.Cleanup(func() {
		if err := h.stop(); err != nil {
			t.Errorf("vnetd in %s: %v", h.ns.Name, err)
		}
		if t.Failed() {
			t.Logf("vnetd log of %s:\n%s", h.ns.Name, h.log.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("unix", h.socket); err == nil {
			c.Close()
			return
		}
		select {
		case err := <-h.exited:
			h.exited <- err
			t.Fatalf("vnetd in %s exited at start: %v\n%s", h.ns.Name, err, h.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("vnetd in %s did not open its socket within 10 s:\n%s", h.ns.Name, h.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit, killing vnetd after
// 10 s.
func (h *host) stop() error {
	if h.cmd == nil || h.cmd.Process == nil {
		return nil
	}
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-h.exited:
		h.exited <- err
		h.cmd = nil
		if err != nil {
			return fmt.Errorf("exited with %v", err)
		}
		return nil
	case <-time.After(10 * time.Second):
		_ = h.cmd.Process.Kill()
		h.cmd = nil
		return errors.New("did not stop within 10 s of SIGTERM; killed")
	}
}

// vn runs the vn tool against this host's vnetd.
func (h *host) vn(args ...string) (string, error) {
	cmd := h.ns.Command(filepath.Join(binDir, "vn"), args...)
	cmd.Env = append(os.Environ(), "VNETD_SOCKET="+h.socket)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (h *host) mustVn(args ...string) string {
	h.t.Helper()
	out, err := h.vn(args...)
	if err != nil {
		h.t.Fatalf("vn %s on %s: %v\n%s", strings.Join(args, " "), h.ns.Name, err, out)
	}
	return out
}

// addVM creates a namespace with interface eth0 at addr (CIDR) whose
// veth peer is a port of the bridge in the host. eth0 gets the MTU of
// the vnet device, as a VM on a vnet must: the bridge drops frames
// larger than a port's MTU.
func (h *host) addVM(name, bridge, device, addr string) *nstest.Netns {
	t := h.t
	vm := nstest.New(t, h.ns.Name+name)
	port := "t" + name
	nstest.Veth(t, nstest.VethConfig{Netns: vm, Name: "eth0", Addr: addr}, nstest.VethConfig{Netns: h.ns, Name: port})
	mtu := strings.TrimSpace(h.ns.MustRun(t, "cat", "/sys/class/net/"+device+"/mtu"))
	vm.MustRun(t, "ip", "link", "set", "eth0", "mtu", mtu)
	h.ns.MustRun(t, "ip", "link", "set", port, "mtu", mtu, "master", bridge)
	return vm
}

func ping(vm *nstest.Netns, addr string, count int) error {
	_, err := vm.Run("ping", "-c", fmt.Sprint(count), "-i", "0.2", "-W", "1", addr)
	return err
}

// tcpTransfer sends size random bytes over TCP from the namespace from to
// addr, port 5001, in the namespace to, and checks that they all arrive.
func tcpTransfer(t *testing.T, from, to *nstest.Netns, addr string, size int) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	want := sha256.Sum256(data)
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	listen := to.Command("timeout", "20", "socat", "-u", "TCP-LISTEN:5001,reuseaddr", "OPEN:"+dst+",creat,trunc")
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if out, err := from.Run("timeout", "20", "socat", "-u", "OPEN:"+src, "TCP:"+addr+":5001"); err != nil {
		t.Fatalf("TCP transfer to %s: %v %s", addr, err, out)
	}
	if err := listen.Wait(); err != nil {
		t.Fatalf("TCP receiver at %s: %v", addr, err)
	}
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != want {
		t.Errorf("TCP transfer to %s: received %d bytes with another hash, want the %d bytes sent", addr, len(got), len(data))
	}
}

// TestOverlayThreeHosts runs two vnets across three hosts: ping and a TCP
// transfer between VMs of one vnet on different hosts work, VMs of
// different vnets cannot reach each other, and VARP learned the remote
// MACs.
func TestOverlayThreeHosts(t *testing.T) {
	hs := underlay(t, 3)
	for _, h := range hs[:2] {
		h.mustVn("vnet-create", "-b", "br1500", "1500")
	}
	for _, h := range hs[1:] {
		h.mustVn("vnet-create", "-b", "br2a00", "-v", "vnet2a00", "0:0:0:0:0:0:1:2a00")
	}
	a1 := hs[0].addVM("a", "br1500", "vnif1500", "198.19.0.1/24")
	a2 := hs[1].addVM("a", "br1500", "vnif1500", "198.19.0.2/24")
	// b3 has the address of a2, but is on the other vnet.
	b3 := hs[2].addVM("b", "br2a00", "vnet2a00", "198.19.0.2/24")
	b2 := hs[1].addVM("b", "br2a00", "vnet2a00", "198.19.0.3/24")

	if err := ping(a1, "198.19.0.2", 3); err != nil {
		t.Fatalf("ping across vnet 1500: %v", err)
	}
	if err := ping(b2, "198.19.0.2", 3); err != nil {
		t.Fatalf("ping across vnet 0:0:0:0:0:0:1:2a00: %v", err)
	}
	if err := ping(a1, "198.19.0.3", 2); err == nil {
		t.Errorf("a VM of vnet 1500 reached a VM of another vnet")
	}
	mac := strings.TrimSpace(b3.MustRun(t, "cat", "/sys/class/net/eth0/address"))
	if out := a1.MustRun(t, "ip", "neigh"); strings.Contains(out, mac) {
		t.Errorf("vnet 1500 learned the MAC %s of a VM on another vnet:\n%s", mac, out)
	}

	// TCP with the sender's checksum offload on: the dataplane completes
	// the partial checksums.
	tcpTransfer(t, a1, a2, "198.19.0.2", 4<<20)

	varp := hs[0].mustVn("varp")
	a2mac := strings.TrimSpace(a2.MustRun(t, "cat", "/sys/class/net/eth0/address"))
	if !strings.Contains(varp, a2mac) || !strings.Contains(varp, "198.18.0.2") {
		t.Errorf("vn varp on host 1 does not show %s at 198.18.0.2:\n%s", a2mac, varp)
	}
}

// TestCommandErrors checks that rejected commands leave the daemon
// running and report why.
func TestCommandErrors(t *testing.T) {
	hs := underlay(t, 1)
	h := hs[0]
	h.mustVn("vnet-create", "1500")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"vnet-create", "1500"}, "exists"},
		{[]string{"vnet-create", "-s", "conf", "1501"}, "needs a key"},
		{[]string{"vnet-create", "-v", "averyveryverylongname", "1502"}, "14"},
		{[]string{"vnet-create", "12345"}, "12345"},
		{[]string{"vnet-create", "1"}, "reserved"},
		{[]string{"vnet-delete", "1503"}, "not found"},
		{[]string{"raw", "(vnet.add (id"}, "EINVAL"},
		{[]string{"raw", "(no.such.command)"}, "ENOSYS"},
	} {
		out, err := h.vn(c.args...)
		if err == nil {
			t.Errorf("vn %s succeeded, want an error:\n%s", strings.Join(c.args, " "), out)
			continue
		}
		if !strings.Contains(out, c.want) {
			t.Errorf("vn %s = %q, want a message containing %q", strings.Join(c.args, " "), out, c.want)
		}
	}
	out := h.mustVn("vnets")
	if !strings.Contains(out, "0000:0000:0000:0000:0000:0000:0000:1500") {
		t.Errorf("vnet 1500 missing after rejected commands:\n%s", out)
	}
	h.mustVn("vnet-delete", "1500")
	if _, err := h.ns.Run("ip", "link", "show", "vnif1500"); err == nil {
		t.Errorf("vnif1500 still exists after vnet-delete")
	}
	if _, err := h.ns.Run("ip", "link", "show", "vnif1500+"); err == nil {
		t.Errorf("vnif1500+ still exists after vnet-delete")
	}
}

// TestRestartAdoptsDevices kills vnetd, starts a new one and creates the
// same vnet: the new vnetd takes over the veth pair that the killed one
// left behind, so the VM's bridge port survives and traffic resumes.
func TestRestartAdoptsDevices(t *testing.T) {
	hs := underlay(t, 2)
	for _, h := range hs {
		h.mustVn("vnet-create", "-b", "br1500", "1500")
	}
	a1 := hs[0].addVM("a", "br1500", "vnif1500", "198.19.0.1/24")
	hs[1].addVM("a", "br1500", "vnif1500", "198.19.0.2/24")
	if err := ping(a1, "198.19.0.2", 2); err != nil {
		t.Fatalf("ping before the restart: %v", err)
	}

	h := hs[0]
	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-h.exited
	h.cmd = nil
	if _, err := h.ns.Run("ip", "link", "show", "vnif1500+"); err != nil {
		t.Fatalf("the killed vnetd left no devices behind, so nothing is adopted: %v", err)
	}
	h.start(buildBinaries(t))
	// A vnetd with saved state restores the vnet itself.
	if !strings.Contains(h.mustVn("vnets"), "vnif1500") {
		h.mustVn("vnet-create", "1500")
	}
	out := h.ns.MustRun(t, "ip", "link", "show", "vnif1500")
	if !strings.Contains(out, "master br1500") {
		t.Errorf("vnif1500 lost its bridge across the restart:\n%s", out)
	}
	if err := ping(a1, "198.19.0.2", 3); err != nil {
		t.Errorf("ping after the restart: %v", err)
	}
}

// TestCleanRestartKeepsDevices stops vnetd with SIGTERM and starts it
// again: with saved state the vnet devices stay, on their bridge or in
// the namespace they were moved to, and the VMs keep their connectivity.
func TestCleanRestartKeepsDevices(t *testing.T) {
	hs := underlay(t, 2)
	a1 := vnetPair(t, hs[0], hs[1])
	h := hs[0]

	// vnet 1501's device itself is the VM's interface, as a container's.
	h.mustVn("vnet-create", "1501")
	hs[1].mustVn("vnet-create", "-b", "br1501", "1501")
	c1 := nstest.New(t, h.ns.Name+"c")
	h.ns.MustRun(t, "ip", "link", "set", "vnif1501", "netns", c1.Name)
	c1.MustRun(t, "ip", "addr", "add", "198.19.1.1/24", "dev", "vnif1501")
	c1.MustRun(t, "ip", "link", "set", "vnif1501", "up")
	hs[1].addVM("c", "br1501", "vnif1501", "198.19.1.2/24")
	if err := ping(c1, "198.19.1.2", 2); err != nil {
		t.Fatalf("ping from the container before the restart: %v", err)
	}

	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if out, err := h.ns.Run("ip", "link", "show", "vnif1500"); err != nil || !strings.Contains(out, "master br1500") {
		t.Errorf("vnif1500 after a clean stop: %v %s, want it kept on br1500", err, out)
	}
	if !strings.Contains(h.log.String(), "vnet devices kept for the next start") {
		t.Errorf("the clean stop did not log that it kept the devices:\n%s", h.log.String())
	}
	h.start(buildBinaries(t))
	adopted := waitFor(5*time.Second, func() bool {
		return strings.Contains(h.log.String(), "adopted left-over vnet devices")
	})
	if !adopted {
		t.Errorf("the restarted vnetd did not adopt the devices:\n%s", h.log.String())
	}
	if err := ping(a1, "198.19.0.2", 3); err != nil {
		t.Errorf("ping from the bridged VM after the restart: %v", err)
	}
	if err := ping(c1, "198.19.1.2", 3); err != nil {
		t.Errorf("ping from the container after the restart: %v", err)
	}

	// vnet-delete still removes the devices.
	h.mustVn("vnet-delete", "1500")
	if _, err := h.ns.Run("ip", "link", "show", "vnif1500"); err == nil {
		t.Errorf("vnif1500 exists after vnet-delete")
	}
}
