package main

import (
	"context"
	"fmt"

	"github.com/vnet-xdp/vnet/bench"
)

type caseDef = bench.CaseInfo

// addCase records a case in the report once.
func (h *harness) addCase(c *caseDef) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, x := range h.report.Cases {
		if x.ID == c.ID {
			return
		}
	}
	h.report.Cases = append(h.report.Cases, *c)
}

// medianPPS returns the median rate of case id at size, or 0.
func (h *harness) medianPPS(id string, size int) float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.report.Results {
		if r.Case == id && r.Size == size && r.Available {
			return r.PPS
		}
	}
	return 0
}

func (h *harness) addResult(r bench.Result) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.report.Results = append(h.report.Results, r)
}

// unavailable records a case as not measured, at every frame size.
func (h *harness) unavailable(c *caseDef, reason string) {
	h.addCase(c)
	h.progress("%-24s not measured: %s", c.ID, reason)
	for _, size := range h.settings.Sizes {
		h.addResult(bench.Result{Case: c.ID, Size: size, Reason: reason})
	}
}

// runSizes measures a case at every frame size; specFor builds the
// measurement of one size.
func (h *harness) runSizes(ctx context.Context, c *caseDef, specFor func(size int) (spec, error)) {
	h.addCase(c)
	for _, size := range h.settings.Sizes {
		if ctx.Err() != nil {
			return
		}
		sp, err := specFor(size)
		if err != nil {
			h.notef("%s at %d bytes: %v", c.ID, size, err)
			h.addResult(bench.Result{Case: c.ID, Size: size, Reason: err.Error()})
			continue
		}
		h.addResult(h.measure(ctx, c, size, sp))
	}
}

// baseTopology is a generator namespace and a device-under-test
// namespace joined by two veth pairs:
//
//	gen: g0 ==veth== d0 :dut
//	gen: s1 ==veth== d1 :dut
//
// Frames enter the DUT at d0; the forwarding cases send them out of d1 to
// the sink s1.
type baseTopology struct {
	gen, dut *bench.Netns
}

func (h *harness) buildBase() (*baseTopology, error) {
	t := &baseTopology{}
	var err error
	if t.gen, err = h.lab.Netns("gen"); err != nil {
		return nil, err
	}
	if t.dut, err = h.lab.Netns("dut"); err != nil {
		return nil, err
	}
	for _, p := range []struct {
		a, b       string
		macA, macB string
	}{{"g0", "d0", macGen.String(), macDUT.String()}, {"s1", "d1", macSink.String(), macOut.String()}} {
		if err := h.lab.Cmd("ip", "link", "add", p.a, "netns", t.gen.Name, "address", p.macA,
			"type", "veth", "peer", "name", p.b, "netns", t.dut.Name, "address", p.macB); err != nil {
			return nil, err
		}
		if _, err := t.gen.Run("ip", "link", "set", p.a, "up"); err != nil {
			return nil, err
		}
		if _, err := t.dut.Run("ip", "link", "set", p.b, "up"); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *baseTopology) frame(size int) ([]byte, error) {
	return bench.UDPFrame(size,
		bench.Endpoint{MAC: macGen, Addr: [4]byte{198, 18, 0, 1}, Port: 50000},
		bench.Endpoint{MAC: macDUT, Addr: [4]byte{198, 18, 0, 2}, Port: 9})
}

func (t *baseTopology) kernelCounters() map[string]uint64 {
	return merge(ethtoolCounters(t.gen, "g0", "s1"), ethtoolCounters(t.dut, "d0", "d1"))
}

func (h *harness) runBaselines(ctx context.Context) error {
	cases := []*caseDef{
		{ID: "xdp-drop", Group: "kernel", Title: "kernel XDP_DROP",
			Path: "generator → g0 ⇒ d0: XDP program counts and drops"},
		{ID: "xdp-redirect", Group: "kernel", Title: "kernel XDP redirect",
			Path: "generator → g0 ⇒ d0: XDP bpf_redirect(d1) → d1 ⇒ s1: counted"},
		{ID: "xsk-rxdrop", Group: "afxdp", Title: "AF_XDP rx-drop (pmd)",
			Path: "generator → g0 ⇒ d0: XDP → AF_XDP socket → pmd worker releases; counted by the socket"},
		{ID: "xsk-fwd", Group: "afxdp", Title: "AF_XDP forwarder (pmd)",
			Path: "generator → g0 ⇒ d0: XDP → AF_XDP socket → pmd worker → AF_XDP socket on d1 ⇒ s1: counted"},
	}
	var any bool
	for _, c := range cases {
		any = any || h.selected(c.ID)
	}
	if !any {
		return nil
	}
	t, err := h.buildBase()
	if err != nil {
		return err
	}
	s := h.settings
	genOnly := fmt.Sprintf("generator CPU%d; the XDP program runs on the generator's CPU", s.GenCPU)
	pmdPlace := fmt.Sprintf("generator CPU%d (also the receive XDP program and the copy into the UMEM); pmd worker CPU%d", s.GenCPU, s.DUTCPU)
	gens := func(size int) ([]gen, error) {
		f, err := t.frame(size)
		if err != nil {
			return nil, err
		}
		return []gen{{ns: t.gen, via: "g0", frame: f, cpus: []int{s.GenCPU}}}, nil
	}

	if c := cases[0]; h.selected(c.ID) {
		c.Placement = genOnly
		var cs counters
		sink, err := cs.attach(t.dut, "d0", bench.ActionDrop)
		if err != nil {
			h.unavailable(c, err.Error())
		} else {
			h.runSizes(ctx, c, func(size int) (spec, error) {
				g, err := gens(size)
				return spec{gens: g, sink: sink, counters: t.kernelCounters}, err
			})
		}
		cs.close()
	}

	if c := cases[1]; h.selected(c.ID) {
		c.Placement = genOnly + " (redirect and the sink's program too)"
		if err := h.runRedirect(ctx, c, t, gens); err != nil {
			h.unavailable(c, err.Error())
		}
	}

	for _, c := range cases[2:] {
		if !h.selected(c.ID) {
			continue
		}
		c.Placement = pmdPlace
		if err := h.runXSK(ctx, c, t, gens); err != nil {
			h.unavailable(c, err.Error())
		}
	}
	return nil
}

func (h *harness) runRedirect(ctx context.Context, c *caseDef, t *baseTopology, gens func(int) ([]gen, error)) error {
	var cs counters
	defer cs.close()
	sink, err := cs.attach(t.gen, "s1", bench.ActionDrop)
	if err != nil {
		return err
	}
	var ifindex int
	err = t.dut.Do(func() error {
		var err error
		ifindex, err = ifindexOf("d1")
		return err
	})
	if err != nil {
		return err
	}
	prog, err := bench.NewRedirect(ifindex)
	if err != nil {
		return err
	}
	defer prog.Close()
	// d1 transmits the redirected frames; its own XDP program is not
	// needed, but its peer s1 has the counter.
	var detach func() error
	err = t.dut.Do(func() error {
		l, err := bench.AttachNative(prog, "d0")
		if err != nil {
			return err
		}
		detach = l.Close
		return nil
	})
	if err != nil {
		return err
	}
	defer detach()
	h.runSizes(ctx, c, func(size int) (spec, error) {
		g, err := gens(size)
		return spec{gens: g, sink: sink, counters: t.kernelCounters}, err
	})
	return nil
}

func (h *harness) runXSK(ctx context.Context, c *caseDef, t *baseTopology, gens func(int) ([]gen, error)) error {
	var cs counters
	defer cs.close()
	cfg := bench.XSKConfig{Netns: t.dut, In: "d0", CPU: h.settings.DUTCPU}
	var sink bench.Source
	var counterSink *bench.Counter
	if c.ID == "xsk-fwd" {
		cfg.Out = "d1"
		var err error
		if counterSink, err = cs.attach(t.gen, "s1", bench.ActionDrop); err != nil {
			return err
		}
		sink = counterSink
	}
	x, err := bench.StartXSK(cfg)
	if err != nil {
		return err
	}
	defer x.Close()
	if sink == nil {
		sink = x
	}
	counters := func() map[string]uint64 {
		m := t.kernelCounters()
		for k, v := range x.Counters() {
			if interestingPort(k) {
				m["dut/"+k] = v
			}
		}
		return m
	}
	h.runSizes(ctx, c, func(size int) (spec, error) {
		g, err := gens(size)
		return spec{gens: g, sink: sink, counters: counters, settle: statsSettle}, err
	})
	if !h.opts.noProfile && !h.opts.quick && c.ID == "xsk-fwd" {
		g, err := gens(h.settings.Sizes[0])
		if err == nil {
			h.profile(ctx, c, h.settings.Sizes[0], spec{gens: g, sink: sink})
		}
	}
	return nil
}

// interestingPort selects the pmd port counters that count losses.
func interestingPort(name string) bool { return bench.IsLossCounter(name) }
