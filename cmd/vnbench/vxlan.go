package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/vnet-xdp/vnet/bench"
)

func ifindexOf(name string) (int, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0, fmt.Errorf("find interface %s: %w", name, err)
	}
	return ifi.Index, nil
}

// vxlanTopology is two hosts running the kernel's overlay, each with a
// bridge br0 joining a VXLAN device vx0 and a veth tap0 whose peer vm0
// stands for a VM:
//
//	k1: vm0 ==veth== tap0 ─ br0 ─ vx0 (VNI 42) ─ u0 ══veth══ u0 ─ vx0 ─ br0 ─ tap0 ==veth== vm0 :k2
//	    198.18.2.1/24 on u0                        198.18.2.2/24 on u0
type vxlanTopology struct {
	k1, k2 host
}

// vxlanVNI is the VXLAN network identifier of the kernel overlay.
const vxlanVNI = 42

func (h *harness) buildVXLAN() (*vxlanTopology, error) {
	if h.vxlan != nil {
		return h.vxlan, nil
	}
	t := &vxlanTopology{
		k1: host{mac: mustMAC("02:00:00:02:00:01"), addr: [4]byte{198, 18, 2, 1}},
		k2: host{mac: mustMAC("02:00:00:02:00:02"), addr: [4]byte{198, 18, 2, 2}},
	}
	var err error
	if t.k1.ns, err = h.lab.Netns("k1"); err != nil {
		return nil, err
	}
	if t.k2.ns, err = h.lab.Netns("k2"); err != nil {
		return nil, err
	}
	if err := h.linkHosts(t.k1, t.k2); err != nil {
		return nil, err
	}
	for _, p := range []struct{ self, peer host }{{t.k1, t.k2}, {t.k2, t.k1}} {
		for _, args := range [][]string{
			{"ip", "link", "add", "vx0", "mtu", "1500", "type", "vxlan", "id", fmt.Sprint(vxlanVNI), "dstport", fmt.Sprint(bench.VXLANPort),
				"local", p.self.ip(), "remote", p.peer.ip(), "dev", "u0"},
			{"ip", "link", "add", "br0", "type", "bridge"},
			{"ip", "link", "add", "vm0", "type", "veth", "peer", "name", "tap0"},
			{"ip", "link", "set", "vx0", "master", "br0"},
			{"ip", "link", "set", "tap0", "master", "br0"},
			{"ip", "link", "set", "vx0", "up"},
			{"ip", "link", "set", "tap0", "up"},
			{"ip", "link", "set", "vm0", "up"},
			{"ip", "link", "set", "br0", "up"},
		} {
			if _, err := p.self.ns.Run(args...); err != nil {
				return nil, err
			}
		}
	}
	h.vxlan = t
	return t, nil
}

func (t *vxlanTopology) kernelCounters() map[string]uint64 {
	ifs := []string{"u0", "tap0", "vm0"}
	return merge(ethtoolCounters(t.k1.ns, ifs...), ethtoolCounters(t.k2.ns, ifs...))
}

// innerFrame is a frame from the VM on the first host to the VM on the
// second (forward) or back.
func innerFrame(size int, back bool) ([]byte, error) {
	l := bench.Endpoint{MAC: macL, Addr: vmL, Port: 50000}
	r := bench.Endpoint{MAC: macR, Addr: vmR, Port: 9}
	if back {
		return bench.UDPFrame(size, r, l)
	}
	return bench.UDPFrame(size, l, r)
}

func (h *harness) runVXLAN(ctx context.Context) error {
	s := h.settings
	type vxCase struct {
		c   *caseDef
		rps bool
	}
	var cases []vxCase
	for _, rps := range []bool{false, true} {
		if rps && h.opts.quick {
			continue
		}
		for _, dir := range []string{"encap", "decap", "both"} {
			id, title, place := "vxlan-"+dir, "kernel bridge+VXLAN, ", fmt.Sprintf("generator CPU%d, which also runs the kernel's softirq work of the whole path", s.GenCPU)
			if rps {
				id = "vxlan-rps-" + dir
				title = "kernel bridge+VXLAN with RPS, "
				place = fmt.Sprintf("generator CPU%d; receive packet steering moves the stack's work after the first veth to CPU%d", s.GenCPU, s.DUTCPU)
			}
			c := &caseDef{ID: id, Group: "vxlan", Direction: dir, Placement: place}
			switch dir {
			case "encap":
				c.Title = title + "encapsulation"
				c.Path = "generator → vm0 ⇒ tap0 (XDP_PASS) → br0 → vx0 → u0 ⇒ u0 of k2: counted"
			case "decap":
				c.Title = title + "decapsulation"
				c.Path = "generator → u0 of k2 ⇒ u0 (XDP_PASS) → UDP 4789 → vx0 → br0 → tap0 ⇒ vm0: counted"
			case "both":
				c.Title = title + "two hosts"
				c.Path = "generator → vm0 ⇒ tap0 → br0 → vx0 → u0 ⇒ u0 → vx0 → br0 → tap0 ⇒ vm0 of k2: counted"
			}
			if h.selected(id) {
				cases = append(cases, vxCase{c, rps})
			}
		}
	}
	if len(cases) == 0 {
		return nil
	}
	t, err := h.buildVXLAN()
	if err != nil {
		return err
	}
	for _, vc := range cases {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := h.runVXLANCase(ctx, t, vc.c, vc.rps); err != nil {
			h.unavailable(vc.c, err.Error())
		}
	}
	return nil
}

// runVXLANCase attaches the programs a direction needs, measures every
// size and removes them again. A veth that receives redirected frames
// needs a native XDP program, so the first veth of each path gets a
// counting XDP_PASS program.
func (h *harness) runVXLANCase(ctx context.Context, t *vxlanTopology, c *caseDef, rps bool) error {
	var cs counters
	defer cs.close()
	var sink *bench.Counter
	var err error
	var rpsOn []rpsTarget
	switch c.Direction {
	case "encap":
		if _, err = cs.attach(t.k1.ns, "tap0", bench.ActionPass); err != nil {
			return err
		}
		sink, err = cs.attach(t.k2.ns, "u0", bench.ActionDrop)
		rpsOn = []rpsTarget{{t.k1.ns, "tap0"}}
	case "decap":
		if _, err = cs.attach(t.k1.ns, "u0", bench.ActionPass); err != nil {
			return err
		}
		sink, err = cs.attach(t.k1.ns, "vm0", bench.ActionDrop)
		rpsOn = []rpsTarget{{t.k1.ns, "u0"}}
	case "both":
		if _, err = cs.attach(t.k1.ns, "tap0", bench.ActionPass); err != nil {
			return err
		}
		sink, err = cs.attach(t.k2.ns, "vm0", bench.ActionDrop)
		rpsOn = []rpsTarget{{t.k1.ns, "tap0"}}
	}
	if err != nil {
		return err
	}
	if rps {
		mask := fmt.Sprintf("%x", 1<<h.settings.DUTCPU)
		for _, r := range rpsOn {
			if err := writeRPS(r.ns, r.ifname, mask); err != nil {
				return err
			}
			defer writeRPS(r.ns, r.ifname, "0")
		}
	}
	h.runSizes(ctx, c, func(size int) (spec, error) {
		inner, err := innerFrame(size, c.Direction == "decap")
		if err != nil {
			return spec{}, err
		}
		g := gen{ns: t.k1.ns, via: "vm0", frame: inner, cpus: []int{h.settings.GenCPU}}
		if c.Direction == "decap" {
			src := bench.Endpoint{MAC: t.k2.mac, Addr: t.k2.addr, Port: 50000}
			dst := bench.Endpoint{MAC: t.k1.mac, Addr: t.k1.addr, Port: bench.VXLANPort}
			g = gen{ns: t.k2.ns, via: "u0", frame: bench.VXLANFrame(inner, src, dst, vxlanVNI), cpus: []int{h.settings.GenCPU}}
		}
		return spec{gens: []gen{g}, sink: sink, counters: t.kernelCounters}, nil
	})
	return nil
}

type rpsTarget struct {
	ns     *bench.Netns
	ifname string
}

// writeRPS writes the RPS CPU mask of every receive queue of ifname.
// The sysfs of a namespace is reached through ip netns exec, which
// mounts a sysfs of the namespace.
func writeRPS(n *bench.Netns, ifname, mask string) error {
	out, err := n.Run("sh", "-c", fmt.Sprintf("for q in /sys/class/net/%s/queues/rx-*; do echo %s > $q/rps_cpus || exit 1; done", ifname, mask))
	if err != nil {
		return fmt.Errorf("set RPS on %s: %w: %s", ifname, err, out)
	}
	return nil
}

// logPath returns a file name under the raw directory.
func (h *harness) logPath(name string) string {
	p := filepath.Join(h.raw, "logs", name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	return p
}
