// Package nstest builds network namespaces and veth pairs for tests and
// removes them when the test ends.
package nstest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

// RequireRoot skips the test in -short mode, and unless it runs as root
// with the ip command available.
func RequireRoot(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped in -short mode: builds network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root for network namespaces, XDP and AF_XDP")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: the ip command (iproute2) is not installed")
	}
}

// Prefix returns a short random prefix for names of namespaces and links,
// so that concurrent test runs do not collide.
func Prefix() string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "vt" + hex.EncodeToString(b[:])
}

// Netns is a named network namespace created for a test.
type Netns struct {
	Name string
}

// New creates the namespace name with its loopback up and IPv6
// disabled, and deletes it when the test ends.
func New(t testing.TB, name string) *Netns {
	t.Helper()
	MustRun(t, "ip", "netns", "add", name)
	n := &Netns{Name: name}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Logf("delete namespace %s: %v: %s", name, err, out)
		}
	})
	n.MustRun(t, "ip", "link", "set", "lo", "up")
	// Without IPv6 the namespace sends nothing by itself (no router
	// solicitations or MLD reports), so tests see only their own
	// traffic.
	n.MustRun(t, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	return n
}

// Do runs fn on an OS thread that has entered the namespace. Sockets and
// netlink handles fn creates belong to the namespace.
func (n *Netns) Do(t testing.TB, fn func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		// The thread is left locked when the goroutine ends, so the
		// runtime discards it instead of reusing a thread in another
		// namespace.
		runtime.LockOSThread()
		h, err := netns.GetFromName(n.Name)
		if err != nil {
			errc <- fmt.Errorf("open namespace %s: %w", n.Name, err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- fmt.Errorf("enter namespace %s: %w", n.Name, err)
			return
		}
		fn()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// Command returns a command that runs inside the namespace.
func (n *Netns) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Run runs a command inside the namespace and returns its combined
// output.
func (n *Netns) Run(name string, args ...string) (string, error) {
	out, err := n.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s in %s: %w: %s", name, strings.Join(args, " "), n.Name, err, out)
	}
	return string(out), nil
}

// MustRun is Run that fails the test on error.
func (n *Netns) MustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := n.Run(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// MustRun runs a command in the test's own namespace and fails the test
// on error.
func MustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// VethConfig describes one end of a veth pair.
type VethConfig struct {
	Netns *Netns
	Name  string
	// MAC and Addr (CIDR form) are optional.
	MAC  string
	Addr string
	// Queues sets numrxqueues and numtxqueues when above zero.
	Queues int
}

// Veth creates a veth pair between two namespaces and brings both ends
// up. Deleting either namespace removes the pair.
func Veth(t testing.TB, a, b VethConfig) {
	t.Helper()
	tmp := "t" + Prefix()
	args := []string{"link", "add", tmp}
	args = append(args, queueArgs(a.Queues)...)
	if a.MAC != "" {
		args = append(args, "address", a.MAC)
	}
	args = append(args, "type", "veth", "peer", "name", tmp+"p")
	args = append(args, queueArgs(b.Queues)...)
	if b.MAC != "" {
		args = append(args, "address", b.MAC)
	}
	MustRun(t, "ip", args...)
	for _, e := range []struct {
		dev string
		cfg VethConfig
	}{{tmp, a}, {tmp + "p", b}} {
		MustRun(t, "ip", "link", "set", e.dev, "netns", e.cfg.Netns.Name)
		e.cfg.Netns.MustRun(t, "ip", "link", "set", e.dev, "name", e.cfg.Name)
		if e.cfg.Addr != "" {
			e.cfg.Netns.MustRun(t, "ip", "addr", "add", e.cfg.Addr, "dev", e.cfg.Name)
		}
		e.cfg.Netns.MustRun(t, "ip", "link", "set", e.cfg.Name, "up")
	}
}

func queueArgs(n int) []string {
	if n <= 0 {
		return nil
	}
	return []string{"numrxqueues", fmt.Sprint(n), "numtxqueues", fmt.Sprint(n)}
}
