// Command vnbench measures vnetd beside the kernel's XDP redirect, a
// minimal AF_XDP forwarder and the kernel's bridge and VXLAN overlay, on
// topologies of network namespaces that it builds and removes, and
// writes a markdown report with plots.
//
// Usage (as root, from the module root):
//
//	vnbench [-quick] [-json] [-runs N] [-sizes 60,512,1514] [-out docs/benchmarks.md]
//
// Traffic comes from an XDP live-frames generator pinned to one CPU and
// is counted by XDP programs at the sinks. Every traffic loop is bounded
// in time; Ctrl-C stops the run and removes what it created.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vnet-xdp/vnet/bench"
)

type options struct {
	quick     bool
	json      bool
	runs      int
	sizes     string
	interval  time.Duration
	samples   int
	out       string
	raw       string
	bin       string
	src       string
	prefix    string
	genCPU    int
	dutCPU    int
	only      string
	noMicro   bool
	noLatency bool
	noProfile bool
	verbose   bool
	waitIdle  time.Duration
	render    string
	vnetdArgs stringList
}

// stringList is a flag that may be repeated.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, " ") }

func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("vnbench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: vnbench [options]\n\nvnbench measures vnetd and its alternatives in network namespaces (as root).\n\noptions:\n")
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.quick, "quick", false, "smoke run in under a minute: one run of 60-byte frames, short windows, few micro benchmarks; the report goes under -raw unless -out is given")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON on standard output (progress goes to standard error)")
	fs.IntVar(&o.runs, "runs", 3, "`number` of runs per case and frame size")
	fs.StringVar(&o.sizes, "sizes", "60,512,1514", "comma-separated inner frame `sizes` in bytes, without FCS")
	fs.DurationVar(&o.interval, "interval", 500*time.Millisecond, "sampling `interval` of the sink counters")
	fs.IntVar(&o.samples, "samples", 6, "`number` of sampling intervals per run; the first and last are dropped")
	fs.StringVar(&o.out, "out", "", "markdown report `path`; plots are written beside it (default docs/benchmarks.md)")
	fs.StringVar(&o.raw, "raw", "docs/bench-raw", "`directory` for logs, raw JSON and built binaries")
	fs.StringVar(&o.bin, "bin", "", "`directory` with vnetd and vn (default: build them into -raw)")
	fs.StringVar(&o.src, "src", ".", "module root `directory`, for building and for the micro benchmarks")
	fs.StringVar(&o.prefix, "prefix", "vnb", "`prefix` of the network namespaces")
	fs.IntVar(&o.genCPU, "gen-cpu", 0, "`CPU` of the traffic generator")
	fs.IntVar(&o.dutCPU, "dut-cpu", 1, "`CPU` of the dataplane worker under test")
	fs.StringVar(&o.only, "only", "", "run only the cases whose id matches this `regexp`")
	fs.BoolVar(&o.noMicro, "no-micro", false, "skip the micro benchmarks")
	fs.BoolVar(&o.noLatency, "no-latency", false, "skip the latency measurements")
	fs.BoolVar(&o.noProfile, "no-profile", false, "skip the perf profiles")
	fs.BoolVar(&o.verbose, "v", false, "log every command to standard error")
	fs.StringVar(&o.render, "render", "", "write the report of an earlier run from its results.json `file`, without measuring")
	fs.Var(&o.vnetdArgs, "vnetd-arg", "extra `option` for every vnetd the harness starts, such as --busy-poll (repeat for more)")
	fs.DurationVar(&o.waitIdle, "wait-idle", 0, "wait up to this `duration` for other programs to leave the CPUs idle before measuring (0: do not wait)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (options start with -)", fs.Arg(0))
	}
	if o.runs < 1 || o.samples < 1 || o.interval <= 0 {
		return nil, errors.New("invalid -runs, -samples or -interval (use positive values)")
	}
	return o, nil
}

// harness holds the state of one run.
type harness struct {
	opts     *options
	settings bench.Settings
	lab      *bench.Lab
	raw      string
	bin      string
	only     *regexp.Regexp
	report   *bench.Report
	stderr   io.Writer
	mu       sync.Mutex
	start    time.Time

	// Topologies are built once, by the first suite that needs them.
	vxlan *vxlanTopology
	vnetd *vnetdTopology
	// vnetdHelp caches the output of vnetd --help.
	vnetdHelp string
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	o, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "vnbench:", err)
		return 2
	}
	if o.render != "" {
		if err := render(o); err != nil {
			fmt.Fprintln(os.Stderr, "vnbench:", err)
			return 1
		}
		return 0
	}
	h, err := newHarness(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vnbench:", err)
		return 2
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "\nvnbench: %v: stopping, removing namespaces and processes\n", s)
		cancel()
		// Later signals are caught and ignored, so the cleanup finishes.
		for range sigs {
		}
	}()

	status := 0
	if err := h.runAll(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "vnbench:", err)
		status = 1
	}
	if err := h.lab.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "vnbench: cleanup:", err)
		status = 1
	}
	if ctx.Err() != nil {
		return 130
	}
	h.measureBackgroundEnd(ctx)
	if err := h.write(); err != nil {
		fmt.Fprintln(os.Stderr, "vnbench:", err)
		status = 1
	}
	return status
}

// render writes the markdown report and plots of a results.json.
func render(o *options) error {
	b, err := os.ReadFile(o.render)
	if err != nil {
		return fmt.Errorf("read results: %w", err)
	}
	var r bench.Report
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("decode results %s: %w", o.render, err)
	}
	out := o.out
	if out == "" {
		out = "docs/benchmarks.md"
	}
	return bench.WriteReport(out, &r)
}

func newHarness(o *options) (*harness, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("needs root to create network namespaces, load XDP programs and open AF_XDP sockets (run: sudo make bench)")
	}
	if o.quick {
		if o.out == "" {
			o.out = filepath.Join(o.raw, "quick", "benchmarks.md")
		}
		o.runs = 1
		o.sizes = "60"
		o.interval = 250 * time.Millisecond
		o.samples = 4
	}
	if o.out == "" {
		o.out = "docs/benchmarks.md"
	}
	sizes, err := parseSizes(o.sizes)
	if err != nil {
		return nil, err
	}
	n := runtime.NumCPU()
	if o.genCPU < 0 || o.genCPU >= n || o.dutCPU < 0 || o.dutCPU >= n {
		return nil, fmt.Errorf("invalid -gen-cpu %d or -dut-cpu %d (this machine has CPUs 0 to %d)", o.genCPU, o.dutCPU, n-1)
	}
	var only *regexp.Regexp
	if o.only != "" {
		if only, err = regexp.Compile(o.only); err != nil {
			return nil, fmt.Errorf("invalid -only: %w", err)
		}
	}
	lab, err := bench.NewLab(o.prefix)
	if err != nil {
		return nil, err
	}
	if o.verbose {
		lab.Log = os.Stderr
	}
	raw, err := filepath.Abs(o.raw)
	if err != nil {
		return nil, err
	}
	if o.quick {
		raw = filepath.Join(raw, "quick")
	}
	if err := os.MkdirAll(raw, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", raw, err)
	}
	warmup := 300 * time.Millisecond
	if o.quick {
		warmup = 200 * time.Millisecond
	}
	h := &harness{
		opts: o,
		settings: bench.Settings{
			Runs: o.runs, Warmup: warmup, Interval: o.interval, Samples: o.samples,
			Sizes: sizes, GenCPU: o.genCPU, DUTCPU: o.dutCPU,
		},
		lab:    lab,
		raw:    raw,
		only:   only,
		stderr: os.Stderr,
		start:  time.Now(),
	}
	h.report = &bench.Report{Started: h.start, Quick: o.quick, Settings: h.settings, Host: hostInfo(o.src)}
	return h, nil
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < bench.MinFrame || n > bench.MaxFrame {
			return nil, fmt.Errorf("invalid frame size %q (use %d to %d)", f, bench.MinFrame, bench.MaxFrame)
		}
		out = append(out, n)
	}
	return out, nil
}

// progress prints a line of progress with the time since the start.
func (h *harness) progress(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	el := time.Since(h.start).Truncate(time.Second)
	fmt.Fprintf(h.stderr, "[%6s] %s\n", el, fmt.Sprintf(format, args...))
}

// notef records a problem in the report and shows it.
func (h *harness) notef(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	h.mu.Lock()
	h.report.Notes = append(h.report.Notes, msg)
	h.mu.Unlock()
	h.progress("NOTE: %s", msg)
}

func (h *harness) selected(id string) bool {
	return h.only == nil || h.only.MatchString(id)
}

// runAll runs every suite; a suite that fails to build its topology is
// noted and the others still run.
func (h *harness) runAll(ctx context.Context) error {
	if err := h.prepareBinaries(ctx); err != nil {
		return err
	}
	h.waitForIdle(ctx)
	suites := []struct {
		name string
		run  func(context.Context) error
	}{
		{"kernel and AF_XDP baselines", h.runBaselines},
		{"kernel VXLAN", h.runVXLAN},
		{"vnetd", h.runVnetd},
		{"latency", h.runLatency},
		{"micro benchmarks", h.runMicro},
	}
	for _, s := range suites {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		h.progress("== %s", s.name)
		if err := s.run(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			h.notef("%s: %v", s.name, err)
		}
	}
	return nil
}

// idleBusy is the CPU use, in percent of each CPU, below which the
// machine counts as idle for -wait-idle.
const idleBusy = 10

// waitForIdle waits, up to -wait-idle, until no CPU is more than idleBusy
// percent busy over two seconds, and records the load it last saw.
func (h *harness) waitForIdle(ctx context.Context) {
	deadline := time.Now().Add(h.opts.waitIdle)
	for {
		use, ok := cpuUse(ctx)
		if !ok {
			return
		}
		busiest := 0.0
		for _, u := range use {
			busiest = max(busiest, u.Busy())
		}
		h.mu.Lock()
		h.report.Host.Background = use
		h.mu.Unlock()
		if busiest <= idleBusy || h.opts.waitIdle <= 0 {
			return
		}
		if time.Now().After(deadline) {
			h.notef("other programs kept a CPU %.0f%% busy until -wait-idle %v ran out; the figures are lower and noisier than on an idle machine", busiest, h.opts.waitIdle)
			return
		}
		h.progress("waiting for other programs to leave the CPUs idle (busiest CPU %.0f%%)", busiest)
	}
}

// measureBackgroundEnd records the CPU use of other programs during two
// seconds after the harness stopped its own processes. The load average
// cannot show it: it still counts the harness's last minute.
func (h *harness) measureBackgroundEnd(ctx context.Context) {
	use, ok := cpuUse(ctx)
	if !ok {
		return
	}
	h.mu.Lock()
	h.report.Host.BackgroundEnd = use
	h.mu.Unlock()
}

// cpuUse returns how each CPU spent the next two seconds, and false when
// /proc/stat cannot be read or ctx ends first.
func cpuUse(ctx context.Context) ([]bench.CPUUse, bool) {
	before, err := bench.ReadCPUTimes()
	if err != nil {
		return nil, false
	}
	sleepCtx(ctx, 2*time.Second)
	after, err := bench.ReadCPUTimes()
	if err != nil || ctx.Err() != nil {
		return nil, false
	}
	return bench.CPUUsage(before, after), true
}

// write writes the raw JSON, the markdown report and its plots, and the
// JSON on standard output when asked.
func (h *harness) write() error {
	h.report.Elapsed = time.Since(h.start)
	h.report.Host.LoadEnd = loadAvg()
	b, err := json.MarshalIndent(h.report, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	rawJSON := filepath.Join(h.raw, "results.json")
	if err := os.WriteFile(rawJSON, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", rawJSON, err)
	}
	if err := os.MkdirAll(filepath.Dir(h.opts.out), 0o755); err != nil {
		return fmt.Errorf("create report directory: %w", err)
	}
	if err := bench.WriteReport(h.opts.out, h.report); err != nil {
		return err
	}
	h.progress("report written to %s, raw results to %s", h.opts.out, rawJSON)
	if h.opts.json {
		os.Stdout.Write(append(b, '\n'))
	} else {
		bench.WriteSummary(os.Stdout, h.report)
	}
	return nil
}
