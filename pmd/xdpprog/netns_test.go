package xdpprog

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// loadForTest loads the program and closes it when the test ends. It skips
// the test when the process lacks the privileges to load BPF programs.
func loadForTest(t *testing.T, opts Options) *Program {
	t.Helper()
	p := loadOrSkip(t, opts)
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// loadOrSkip loads the program, or skips the test when the process lacks
// the privileges to load BPF programs.
func loadOrSkip(t *testing.T, opts Options) *Program {
	t.Helper()
	p, err := Load(opts)
	if errors.Is(err, unix.EPERM) || errors.Is(err, ebpf.ErrNotSupported) {
		t.Skipf("cannot load BPF programs here (needs root, or CAP_BPF and CAP_NET_ADMIN): %v", err)
	}
	if err != nil {
		t.Fatalf("Load(%+v): %v", opts, err)
	}
	return p
}

// requireNetAdmin skips the test unless it can create network namespaces.
func requireNetAdmin(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces and veth pairs")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2) to create network namespaces")
	}
}

var netnsCount atomic.Int32

// testNetns is a network namespace that one test creates and deletes. Its
// name starts with "xdpprog-" and contains the process id.
type testNetns struct {
	name string
}

func newTestNetns(t *testing.T) *testNetns {
	t.Helper()
	requireNetAdmin(t)
	ns := &testNetns{name: fmt.Sprintf("xdpprog-%d-%d", os.Getpid(), netnsCount.Add(1))}
	runCommand(t, "ip", "netns", "add", ns.name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns.name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns.name, err, out)
		}
	})
	// No IPv6, so that the kernel sends no router or neighbour
	// solicitations that would show up in the counters.
	ns.exec(t, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
	ns.exec(t, "sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1")
	ns.ip(t, "link", "set", "lo", "up")
	return ns
}

func (ns *testNetns) ip(t *testing.T, args ...string) string {
	t.Helper()
	return runCommand(t, "ip", append([]string{"-n", ns.name}, args...)...)
}

func (ns *testNetns) exec(t *testing.T, args ...string) string {
	t.Helper()
	return runCommand(t, "ip", append([]string{"netns", "exec", ns.name}, args...)...)
}

// addVeth creates a veth pair with the given number of queues, brings both
// ends up and returns their ifindexes.
func (ns *testNetns) addVeth(t *testing.T, name, peer string, queues int) (int, int) {
	t.Helper()
	q := strconv.Itoa(queues)
	ns.ip(t, "link", "add", name, "numrxqueues", q, "numtxqueues", q, "address", "02:00:00:00:00:01", "type", "veth",
		"peer", "name", peer, "numrxqueues", q, "numtxqueues", q, "address", "02:00:00:00:00:02")
	ns.ip(t, "link", "set", name, "up")
	ns.ip(t, "link", "set", peer, "up")
	return ns.ifindex(t, name), ns.ifindex(t, peer)
}

func (ns *testNetns) ifindex(t *testing.T, name string) int {
	t.Helper()
	out := ns.ip(t, "-o", "link", "show", "dev", name)
	idx, _, ok := strings.Cut(out, ":")
	n, err := strconv.Atoi(idx)
	if !ok || err != nil {
		t.Fatalf("ip link show dev %s: no ifindex in %q", name, out)
	}
	return n
}

// run calls fn on a thread that has entered the namespace. The thread
// returns to its original namespace afterwards, also when fn calls
// t.Fatal. If it cannot, it stays locked and exits with the goroutine.
func (ns *testNetns) run(t *testing.T, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("get current network namespace: %v", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns.name)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("open network namespace %s: %v", ns.name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("enter network namespace %s: %v", ns.name, err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			t.Errorf("leave network namespace %s: %v", ns.name, err)
			return
		}
		runtime.UnlockOSThread()
	}()
	fn()
}

func runCommand(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// openFDs returns the number of open file descriptors of the process.
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("read /proc/self/fd: %v", err)
	}
	return len(entries)
}
