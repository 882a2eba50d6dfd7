package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/vnet-xdp/vnet/bench"
)

// profileLines is the number of perf report lines kept per profile.
const profileLines = 30

// profile runs one extra run of a case while perf samples every CPU for
// two seconds, and records the busiest symbols per CPU and command.
func (h *harness) profile(ctx context.Context, c *caseDef, size int, sp spec) {
	if ctx.Err() != nil {
		return
	}
	p := bench.Profile{Case: c.ID, Size: size}
	defer func() {
		h.mu.Lock()
		h.report.Profiles = append(h.report.Profiles, p)
		h.mu.Unlock()
	}()
	if _, err := exec.LookPath("perf"); err != nil {
		p.Error = "perf is not installed (Debian package linux-perf)"
		return
	}
	data := h.logPath(c.ID + ".perf.data")
	done := make(chan error, 1)
	go func() {
		sleepCtx(ctx, h.settings.Warmup)
		out, err := exec.CommandContext(ctx, "perf", "record", "-a", "-F", "999", "-o", data, "--", "sleep", "2").CombinedOutput()
		if err != nil {
			err = fmt.Errorf("perf record: %w: %s", err, strings.TrimSpace(string(out)))
		}
		done <- err
	}()
	h.progress("%-24s %5d B  profiling with perf", c.ID, size)
	if _, err := h.runOnce(ctx, sp); err != nil {
		p.Error = err.Error()
	}
	if err := <-done; err != nil {
		p.Error = err.Error()
		return
	}
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(rctx, "perf", "report", "-i", data, "--stdio", "--no-children", "-q",
		"--sort", "cpu,comm,dso,sym", "--percent-limit", "1").Output()
	if err != nil {
		p.Error = fmt.Sprintf("perf report: %v", err)
		return
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() && len(p.Lines) < profileLines {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			p.Lines = append(p.Lines, strings.Join(strings.Fields(line), " "))
		}
	}
}

// runMicro runs the in-process benchmarks of the pipeline stages and of
// the pmd worker scaling.
func (h *harness) runMicro(ctx context.Context) error {
	if h.opts.noMicro || !h.selected("micro") {
		return nil
	}
	cfg := bench.MicroConfig{
		Dir:       h.opts.src,
		Packages:  []string{"./overlay/", "./overlay/wire/", "./ring/", "./bench/"},
		Bench:     ".",
		Benchtime: "1s",
	}
	if h.opts.quick {
		cfg.Packages = []string{"./overlay/", "./bench/"}
		cfg.Bench = "Pipeline|Workers"
		cfg.Benchtime = "2000x"
	}
	raw := h.logPath("micro.txt")
	f, err := createFile(raw)
	if err != nil {
		return err
	}
	defer f.Close()
	cfg.Log = f
	h.progress("running go test -bench on %s", strings.Join(cfg.Packages, " "))
	res, err := bench.RunMicro(ctx, cfg)
	h.mu.Lock()
	h.report.Micro = res
	if err != nil {
		h.report.MicroError = err.Error()
	}
	h.mu.Unlock()
	h.progress("%d micro benchmark results", len(res))
	return err
}
