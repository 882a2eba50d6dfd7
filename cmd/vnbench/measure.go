package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/vnet-xdp/vnet/bench"
)

// gen is one generator of a measurement.
type gen struct {
	ns    *bench.Netns
	via   string
	frame []byte
	cpus  []int
	// rate, if above zero, paces each generator thread (frames/s).
	rate float64
}

// spec is the setup of one measurement of one case at one frame size.
type spec struct {
	gens []gen
	// sink counts delivered frames.
	sink bench.Source
	// prime, if set, runs before each run, for example to teach a
	// dataplane where the destination lives.
	prime func(ctx context.Context) error
	// counters, if set, returns drop and error counters by name; the
	// result reports the nonzero differences over all runs.
	counters func() map[string]uint64
	// pids are dataplane processes whose busy threads are reported
	// besides the harness's own.
	pids []int
	// settle is how long to wait after the traffic before reading the
	// counters: the pmd workers copy the kernel's XDP_STATISTICS into
	// their counters once a second.
	settle time.Duration
}

// statsSettle covers the pmd workers' once-a-second refresh of the
// kernel's socket statistics.
const statsSettle = 1100 * time.Millisecond

// measure runs a case at one frame size h.settings.Runs times and
// summarises the runs.
func (h *harness) measure(ctx context.Context, c *caseDef, size int, sp spec) bench.Result {
	res := bench.Result{Case: c.ID, Size: size, Available: true}
	dropTotals := map[string]uint64{}
	for run := 1; run <= h.settings.Runs; run++ {
		if ctx.Err() != nil {
			res.Available, res.Reason = false, "interrupted"
			return res
		}
		r, err := h.runOnce(ctx, sp)
		if err != nil {
			h.notef("%s at %d bytes, run %d: %v", c.ID, size, run, err)
			res.Errors = append(res.Errors, err.Error())
			continue
		}
		res.RunsPPS = append(res.RunsPPS, r.pps)
		res.OfferedPPS = append(res.OfferedPPS, r.offered)
		for k, v := range r.drops {
			dropTotals[k] += v
		}
		res.CPU = r.cpu
		res.SinkCPU = r.sinkCPU
		res.Threads = r.threads
		h.progress("%-24s %5d B  run %d/%d  %8.3f Mpps  (offered %.2f Mpps)", c.ID, size, run, h.settings.Runs, r.pps/1e6, r.offered/1e6)
	}
	if len(res.RunsPPS) == 0 {
		res.Available = false
		if res.Reason == "" {
			res.Reason = "every run failed"
		}
		return res
	}
	res.PPS = bench.Median(res.RunsPPS)
	res.MinPPS, res.MaxPPS = bench.MinMax(res.RunsPPS)
	res.Gbps = res.PPS * float64(size) * 8 / 1e9
	names := make([]string, 0, len(dropTotals))
	for k, v := range dropTotals {
		if v > 0 {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		res.Drops = append(res.Drops, bench.NamedCount{Name: k, Value: dropTotals[k]})
	}
	return res
}

type runResult struct {
	pps, offered float64
	drops        map[string]uint64
	cpu          []bench.CPUUse
	sinkCPU      []uint64
	threads      []bench.BusyThread
}

// runOnce runs the generators for one run and samples the sink.
func (h *harness) runOnce(ctx context.Context, sp spec) (runResult, error) {
	var r runResult
	if sp.prime != nil {
		if err := sp.prime(ctx); err != nil {
			return r, fmt.Errorf("prime: %w", err)
		}
	}
	var before map[string]uint64
	if sp.counters != nil {
		before = sp.counters()
	}
	s := h.settings
	total := s.Warmup + time.Duration(s.Samples)*s.Interval + 100*time.Millisecond
	var gens []*bench.Generator
	for _, g := range sp.gens {
		gg, err := bench.StartGenerator(ctx, bench.GenConfig{Netns: g.ns, Via: g.via, Frame: g.frame, CPUs: g.cpus, Duration: total, Rate: g.rate})
		if err != nil {
			for _, x := range gens {
				x.Wait()
			}
			return r, err
		}
		gens = append(gens, gg)
	}
	started := time.Now()
	sleepCtx(ctx, s.Warmup)

	cpuBefore, _ := bench.ReadCPUTimes()
	// The harness's own threads include the generator and, for the
	// AF_XDP baselines, the pmd worker.
	pids := append([]int{os.Getpid()}, sp.pids...)
	threadsBefore := map[int][]bench.ThreadTimes{}
	for _, pid := range pids {
		threadsBefore[pid], _ = bench.ReadThreadTimes(pid)
	}
	var sinkBefore bench.Count
	counter, perCPU := sp.sink.(*bench.Counter)
	if perCPU {
		sinkBefore, _ = counter.Read()
	}
	var samples []bench.Sample
	var sampleErr error
	t0 := time.Now()
	for i := 0; i <= s.Samples && ctx.Err() == nil; i++ {
		if i > 0 {
			sleepCtx(ctx, time.Until(t0.Add(time.Duration(i)*s.Interval)))
		}
		n, err := sp.sink.Frames()
		if err != nil {
			sampleErr = err
			break
		}
		samples = append(samples, bench.Sample{At: time.Now(), Frames: n})
	}
	window := time.Since(t0).Seconds()
	cpuAfter, _ := bench.ReadCPUTimes()
	if cpuBefore != nil && cpuAfter != nil {
		r.cpu = bench.CPUUsage(cpuBefore, cpuAfter)
	}
	for _, pid := range pids {
		after, _ := bench.ReadThreadTimes(pid)
		r.threads = append(r.threads, bench.BusyThreads(threadsBefore[pid], after, window, 5)...)
	}
	if perCPU {
		if after, err := counter.Read(); err == nil {
			r.sinkCPU = after.Sub(sinkBefore).PerCPU
		}
	}

	var sent uint64
	var genErr error
	for _, g := range gens {
		n, err := g.Wait()
		sent += n
		if err != nil {
			genErr = err
		}
	}
	elapsed := time.Since(started).Seconds()
	sleepCtx(ctx, sp.settle)
	if sp.counters != nil {
		after := sp.counters()
		r.drops = map[string]uint64{}
		for k, v := range after {
			if v >= before[k] {
				r.drops[k] = v - before[k]
			}
		}
	}
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	if sampleErr != nil {
		return r, sampleErr
	}
	if genErr != nil {
		return r, genErr
	}
	rates := bench.Trimmed(bench.Rates(samples))
	if len(rates) == 0 {
		return r, fmt.Errorf("no samples")
	}
	r.pps = bench.Median(rates)
	r.offered = float64(sent) / elapsed
	if math.IsNaN(r.pps) {
		return r, fmt.Errorf("no rate")
	}
	return r, nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// interestingKernel selects the ethtool counters of a veth that the
// report shows: drops and errors. The sink's own XDP_DROP verdicts
// (xdp_drops) are the measurement, not a loss, and are left out.
func interestingKernel(name string) bool {
	if strings.Contains(name, "xdp_drops") {
		return false
	}
	return strings.Contains(name, "drop") || strings.Contains(name, "err")
}

// ethtoolCounters returns the interesting counters of interfaces in n,
// named "ns/ifname/counter". Errors leave the counters out.
func ethtoolCounters(n *bench.Netns, ifnames ...string) map[string]uint64 {
	m := map[string]uint64{}
	for _, ifname := range ifnames {
		out, err := n.Run("ethtool", "-S", ifname)
		if err != nil {
			continue
		}
		for name, v := range parseEthtool(out) {
			if interestingKernel(name) {
				m[shortNs(n)+"/"+ifname+"/"+name] = v
			}
		}
	}
	return m
}

// parseEthtool parses `ethtool -S` output: "     name: value" lines.
func parseEthtool(out string) map[string]uint64 {
	m := map[string]uint64{}
	for _, line := range strings.Split(out, "\n") {
		name, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		var v uint64
		if _, err := fmt.Sscan(strings.TrimSpace(value), &v); err != nil {
			continue
		}
		m[name] = v
	}
	return m
}

// shortNs returns the namespace name without the lab prefix.
func shortNs(n *bench.Netns) string {
	if i := strings.IndexByte(n.Name, '-'); i >= 0 {
		return n.Name[i+1:]
	}
	return n.Name
}

func merge(ms ...map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
