package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vnet-xdp/vnet/bench"
)

// vm is a namespace with interface eth0 whose veth peer is a port of the
// bridge br0 of a host: the client or server of the latency probes.
type vm struct {
	ns   *bench.Netns
	addr string
}

// addVM creates namespace name with eth0 at addr/24, and its peer port on
// br0 in host.
func (h *harness) addVM(name string, host *bench.Netns, port, addr string) (*vm, error) {
	ns, err := h.lab.Netns(name)
	if err != nil {
		return nil, err
	}
	if err := h.lab.Cmd("ip", "link", "add", "eth0", "netns", ns.Name, "type", "veth", "peer", "name", port, "netns", host.Name); err != nil {
		return nil, err
	}
	for _, c := range []struct {
		ns   *bench.Netns
		args []string
	}{
		{host, []string{"ip", "link", "set", port, "master", "br0"}},
		{host, []string{"ip", "link", "set", port, "up"}},
		{ns, []string{"ip", "addr", "add", addr + "/24", "dev", "eth0"}},
		{ns, []string{"ip", "link", "set", "eth0", "up"}},
	} {
		if _, err := c.ns.Run(c.args...); err != nil {
			return nil, err
		}
	}
	return &vm{ns: ns, addr: addr}, nil
}

func (h *harness) echoConfig() (count int, interval time.Duration) {
	if h.opts.quick {
		return 200, time.Millisecond
	}
	return 3000, time.Millisecond
}

// echo measures the round trip from a to b at a low fixed rate.
func (h *harness) echo(ctx context.Context, id, title string, a, b *vm) bench.Latency {
	lat := bench.Latency{Case: id, Title: title}
	count, interval := h.echoConfig()
	lat.Rate = float64(time.Second / interval)
	srv, err := bench.StartEchoServer(b.ns, b.addr)
	if err != nil {
		lat.Reason = err.Error()
		return lat
	}
	defer srv.Close()
	res, err := bench.RunEcho(ctx, bench.EchoConfig{Netns: a.ns, Src: a.addr, Dst: b.addr, Count: count, Warmup: 50,
		Interval: interval, Wait: 300 * time.Millisecond})
	if err != nil {
		lat.Reason = err.Error()
		return lat
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	lat.Available = len(res.RTTs) > 0
	lat.Sent, lat.Lost = res.Sent, res.Lost()
	if !lat.Available {
		lat.Reason = "no probe returned"
		return lat
	}
	lat.Min = us(res.RTTs[0])
	lat.P50 = us(bench.Percentile(res.RTTs, 50))
	lat.P90 = us(bench.Percentile(res.RTTs, 90))
	lat.P99 = us(bench.Percentile(res.RTTs, 99))
	lat.Max = us(res.RTTs[len(res.RTTs)-1])
	h.progress("%-24s p50 %.1f µs  p90 %.1f µs  p99 %.1f µs  lost %d/%d", id, lat.P50, lat.P90, lat.P99, lat.Lost, lat.Sent)
	return lat
}

func (h *harness) addLatency(l bench.Latency) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.report.Latency = append(h.report.Latency, l)
	if !l.Available {
		h.progress("%-24s not measured: %s", l.Case, l.Reason)
	}
}

func (h *harness) runLatency(ctx context.Context) error {
	if h.opts.noLatency {
		return nil
	}
	var errs []error
	if h.selected("latency-vnetd") {
		l, err := h.latencyVnetd(ctx)
		if err != nil {
			l = bench.Latency{Case: "latency-vnetd", Title: l.Title, Reason: err.Error()}
			errs = append(errs, err)
		}
		h.addLatency(l)
	}
	if h.selected("latency-vxlan") && ctx.Err() == nil {
		l, err := h.latencyVXLAN(ctx)
		if err != nil {
			l = bench.Latency{Case: "latency-vxlan", Title: l.Title, Reason: err.Error()}
			errs = append(errs, err)
		}
		h.addLatency(l)
	}
	return errors.Join(errs...)
}

func (h *harness) latencyVnetd(ctx context.Context) (bench.Latency, error) {
	title := "vnetd, two hosts, security none, 1 worker each"
	t, err := h.buildVnetd()
	if err != nil {
		return bench.Latency{Title: title}, err
	}
	first, second, _ := h.cpus(1)
	cfg := vnetdConfig{"none", 1}
	defer stopAll(t.h1, t.h2)
	for i, x := range []*vnetdHost{t.h1, t.h2} {
		if err := x.start(h, [][]int{first, second}[i], "latency"); err != nil {
			return bench.Latency{Title: title}, err
		}
		// vn creates br0 and attaches the vnet device to it.
		if out, err := x.vn(h, "vnet-create", "-s", cfg.security, "-b", "br0", "1500"); err != nil {
			return bench.Latency{Title: title}, fmt.Errorf("create vnet on %s: %v: %s", x.name, err, out)
		}
	}
	a, err := h.addVM("vm1", t.h1.ns, "tap1", "198.19.1.1")
	if err != nil {
		return bench.Latency{Title: title}, err
	}
	b, err := h.addVM("vm2", t.h2.ns, "tap1", "198.19.1.2")
	if err != nil {
		return bench.Latency{Title: title}, err
	}
	return h.echo(ctx, "latency-vnetd", title, a, b), nil
}

func (h *harness) latencyVXLAN(ctx context.Context) (bench.Latency, error) {
	title := "kernel bridge+VXLAN, two hosts"
	t, err := h.buildVXLAN()
	if err != nil {
		return bench.Latency{Title: title}, err
	}
	a, err := h.addVM("kvm1", t.k1.ns, "lat1", "198.19.2.1")
	if err != nil {
		return bench.Latency{Title: title}, err
	}
	b, err := h.addVM("kvm2", t.k2.ns, "lat1", "198.19.2.2")
	if err != nil {
		return bench.Latency{Title: title}, err
	}
	return h.echo(ctx, "latency-vxlan", title, a, b), nil
}
