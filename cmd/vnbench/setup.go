package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vnet-xdp/vnet/bench"
	"github.com/vnet-xdp/vnet/overlay/wire"
)

// prepareBinaries builds vnetd and vn unless -bin names a directory that
// has them.
func (h *harness) prepareBinaries(ctx context.Context) error {
	if h.opts.bin != "" {
		dir, err := filepath.Abs(h.opts.bin)
		if err != nil {
			return err
		}
		for _, name := range []string{"vnetd", "vn"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("find %s in -bin %s: %w (run: make build)", name, dir, err)
			}
		}
		h.bin = dir
		return nil
	}
	h.bin = filepath.Join(h.raw, "bin")
	for _, name := range []string{"vnetd", "vn"} {
		h.progress("building %s", name)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(h.bin, name), "./cmd/"+name)
		cmd.Dir = h.opts.src
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %w: %s", name, err, out)
		}
	}
	return nil
}

// hostInfo describes the machine and the source revision.
func hostInfo(src string) bench.Host {
	h := bench.Host{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				h.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	git := func(args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir = src
		// Read-only: no index refresh.
		cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0")
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	h.LoadStart = loadAvg()
	if rev, err := git("rev-parse", "--short", "HEAD"); err == nil {
		h.Revision = rev
		if st, err := git("status", "--porcelain", "--untracked-files=no"); err == nil && st != "" {
			h.Revision += " with local changes"
		}
	}
	return h
}

// loadAvg returns the first three fields of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// Addresses and names of the topologies. All addresses are in
// 198.18.0.0/15, the range reserved for benchmarking (RFC 2544).
var (
	macGen  = mustMAC("02:00:00:00:00:01")
	macDUT  = mustMAC("02:00:00:00:00:02")
	macOut  = mustMAC("02:00:00:00:01:02")
	macSink = mustMAC("02:00:00:00:01:01")

	// Inner (VM) addresses: L is on the first host, R on the second.
	macL  = mustMAC("02:00:00:aa:00:01")
	macR  = mustMAC("02:00:00:bb:00:01")
	vmL   = [4]byte{198, 19, 0, 1}
	vmR   = [4]byte{198, 19, 0, 2}
	vnet1 = wire.VnetIDFromUint16(0x1500)
)

func mustMAC(s string) wire.MAC {
	m, err := wire.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// host is one end of an underlay link: a namespace with interface u0.
type host struct {
	ns   *bench.Netns
	mac  wire.MAC
	addr [4]byte
}

func (x host) ip() string {
	return fmt.Sprintf("%d.%d.%d.%d", x.addr[0], x.addr[1], x.addr[2], x.addr[3])
}

// underlayMTU leaves room for 64 bytes of encapsulation around a
// 1514-byte inner frame, and stays below 3506, the largest peer MTU a
// veth accepts for an XDP program without multi-buffer support.
const underlayMTU = 1600

// linkHosts creates a veth pair u0-u0 between two hosts, with two queues
// on each end, addresses, and permanent neighbour entries so that no ARP
// crosses the link.
func (h *harness) linkHosts(a, b host) error {
	err := h.lab.Cmd("ip", "link", "add", "u0", "netns", a.ns.Name, "numrxqueues", "2", "numtxqueues", "2",
		"address", a.mac.String(), "mtu", fmt.Sprint(underlayMTU),
		"type", "veth", "peer", "name", "u0", "netns", b.ns.Name, "numrxqueues", "2", "numtxqueues", "2",
		"address", b.mac.String(), "mtu", fmt.Sprint(underlayMTU))
	if err != nil {
		return err
	}
	for _, p := range []struct{ self, peer host }{{a, b}, {b, a}} {
		for _, args := range [][]string{
			{"ip", "addr", "add", p.self.ip() + "/24", "dev", "u0"},
			{"ip", "link", "set", "u0", "up"},
			{"ip", "neigh", "replace", p.peer.ip(), "lladdr", p.peer.mac.String(), "dev", "u0", "nud", "permanent"},
		} {
			if _, err := p.self.ns.Run(args...); err != nil {
				return err
			}
		}
	}
	return nil
}

// attachCounter loads a counter and attaches it to ifname in n.
func attachCounter(n *bench.Netns, ifname string, action bench.Action) (*bench.Counter, error) {
	c, err := bench.NewCounter(action)
	if err != nil {
		return nil, err
	}
	if err := n.Do(func() error { return c.Attach(ifname) }); err != nil {
		c.Close()
		return nil, fmt.Errorf("in %s: %w", n.Name, err)
	}
	return c, nil
}

// counters is a set of attached counters that closes together.
type counters []*bench.Counter

func (cs *counters) attach(n *bench.Netns, ifname string, action bench.Action) (*bench.Counter, error) {
	c, err := attachCounter(n, ifname, action)
	if err != nil {
		return nil, err
	}
	*cs = append(*cs, c)
	return c, nil
}

func (cs *counters) close() {
	for _, c := range *cs {
		c.Close()
	}
	*cs = nil
}

// createFile creates path and its directory.
func createFile(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create directory of %s: %w", path, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return f, nil
}
