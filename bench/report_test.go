package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sampleReport has a forwarder, a VXLAN and a vnetd result at 60 bytes,
// and a security level that was not available.
func sampleReport() *Report {
	r := &Report{
		Started:  time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC),
		Settings: Settings{Runs: 3, Sizes: []int{60}, Interval: time.Second / 2, Samples: 6},
		Cases: []CaseInfo{
			{ID: "xsk-fwd", Group: "afxdp", Title: "AF_XDP forwarder (pmd)"},
			{ID: "vxlan-encap", Group: "vxlan", Title: "kernel encap", Direction: "encap"},
			{ID: "vnetd-encap-none-1w", Group: "vnetd", Title: "vnetd encap none", Direction: "encap"},
			{ID: "vnetd-encap-conf-1w", Group: "vnetd", Title: "vnetd encap conf", Direction: "encap"},
		},
		Results: []Result{
			{Case: "xsk-fwd", Size: 60, Available: true, PPS: 800e3, MinPPS: 700e3, MaxPPS: 900e3},
			{Case: "vxlan-encap", Size: 60, Available: true, PPS: 300e3, MinPPS: 290e3, MaxPPS: 310e3},
			{Case: "vnetd-encap-none-1w", Size: 60, Available: true, PPS: 720e3, MinPPS: 700e3, MaxPPS: 750e3,
				Drops: []NamedCount{{Name: "h1/port u0 queue 0/tx_ring_full", Value: 12}}},
			{Case: "vnetd-encap-conf-1w", Size: 60, Reason: "not available in this build: security conf rejected"},
		},
		Latency: []Latency{{Case: "latency-vnetd", Title: "vnetd pair", Available: true, Rate: 1000, Sent: 100, P50: 40, P90: 60, P99: 90}},
		Micro: []Micro{
			{Package: "github.com/vnet-xdp/vnet/overlay", Name: "BenchmarkPipelineEncapUnicast60", Procs: 2, N: 10, NsPerOp: 100, HasAllocs: true},
			{Package: "github.com/vnet-xdp/vnet/bench", Name: "BenchmarkWorkersEncap/1", Procs: 2, N: 10, NsPerOp: 90, HasAllocs: true},
			{Package: "github.com/vnet-xdp/vnet/bench", Name: "BenchmarkWorkersEncap/2", Procs: 2, N: 10, NsPerOp: 60, HasAllocs: true},
		},
	}
	return r
}

func TestRatio(t *testing.T) {
	r := sampleReport()
	if got, ok := r.Ratio("vnetd-encap-none-1w", "xsk-fwd", 60); !ok || got != 0.9 {
		t.Errorf("Ratio(vnetd, forwarder) = %v, %v; want 0.9, true", got, ok)
	}
	if _, ok := r.Ratio("vnetd-encap-conf-1w", "xsk-fwd", 60); ok {
		t.Errorf("Ratio of an unavailable case = ok, want not ok")
	}
	if _, ok := r.Ratio("vnetd-encap-none-1w", "xsk-fwd", 512); ok {
		t.Errorf("Ratio at a size without results = ok, want not ok")
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	WriteMarkdown(&b, sampleReport())
	md := b.String()
	for _, want := range []string{
		"| vnetd encapsulation, security none / forwarder ≥ 0.9 | 0.90 | yes |",
		"| vnetd encapsulation, security none / VXLAN encapsulation ≥ 2 | 2.40 | yes |",
		"not measured: vnetd-encap-conf-1w: not available in this build",
		"| zero allocations per frame in the pipeline and worker benchmarks | 0 allocs/op in 3 benchmarks | yes |",
		"**0.720** [0.700–0.750]",
		"h1/port u0 queue 0/tx_ring_full 12",
		"| vnetd pair | 1000/s | 100 | 0 |",
		"move frames 1.50 times as fast as one",
		"![Throughput at 60 bytes](bench-throughput-60.svg)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown does not contain %q", want)
		}
	}
}

func TestAllocTargetFailsOnAllocations(t *testing.T) {
	r := sampleReport()
	r.Micro[0].AllocsPerOp = 2
	got := allocTarget(r)
	if got.met != "**no**" || !strings.Contains(got.measured, "BenchmarkPipelineEncapUnicast60") {
		t.Errorf("allocTarget with 2 allocs/op = %+v, want not met, naming the benchmark", got)
	}
}

func TestWriteReportFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "benchmarks.md")
	if err := WriteReport(path, sampleReport()); err != nil {
		t.Fatalf("WriteReport: %v", err)
	}
	for _, name := range []string{"benchmarks.md", "bench-throughput-60.svg", "bench-latency.svg"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() == 0 {
			t.Errorf("WriteReport did not write %s: %v", name, err)
		}
	}
}

func TestIsLossCounter(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"h1/port u0 queue 0/tx_ring_full", true},
		{"h1/port vnif1500+ queue 0/xdp_rx_fill_ring_empty_descs", true},
		{"h1/vnet 1500/drop_no_route", true},
		{"h1/vnet 1500/flooded", true},
		{"dut/d0/rx_queue_0_drops", true},
		{"dut/d1/kick_retries", true},
		{"h1/port u0 queue 0/xdp_tx_ring_empty_descs", false},
		{"h1/port u0 queue 0/rx_batch_size_64", false},
		{"h1/worker 0/empty_polls", false},
		{"gen/s1/rx_queue_0_xdp_drops", false},
		{"h1/port u0 queue 0/tx_frames", false},
		{"h1/vnet 1500/unicast", false},
	}
	for _, tc := range tests {
		if got := IsLossCounter(tc.name); got != tc.want {
			t.Errorf("IsLossCounter(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestWriteBackground(t *testing.T) {
	quiet := []CPUUse{{CPU: 0, Idle: 99}, {CPU: 1, Idle: 98}}
	busy := []CPUUse{{CPU: 0, Idle: 99}, {CPU: 1, Idle: 40}}
	const warning = "Other programs were using the CPUs"
	tests := []struct {
		name        string
		start, end  []CPUUse
		loadEnd     string
		wantWarning bool
		wantText    string
	}{
		{"quiet before and after, busy harness", quiet, quiet, "2.26 2.52 1.83", false, "and in the two seconds after the last CPU0 1%, CPU1 2%"},
		{"busy before", busy, quiet, "0.10 0.10 0.10", true, "CPU1 60%"},
		{"busy after", quiet, busy, "0.10 0.10 0.10", true, "after the last CPU0 1%, CPU1 60%"},
		{"no reading after", quiet, nil, "", false, "the load average, which includes the harness, was 0.5 at the start and – at the end"},
	}
	for _, tt := range tests {
		var b strings.Builder
		r := &Report{Host: Host{Background: tt.start, BackgroundEnd: tt.end, LoadStart: "0.5", LoadEnd: tt.loadEnd}}
		writeBackground(&b, r)
		if got := strings.Contains(b.String(), warning); got != tt.wantWarning {
			t.Errorf("%s: warning %v, want %v:\n%s", tt.name, got, tt.wantWarning, b.String())
		}
		if !strings.Contains(b.String(), tt.wantText) {
			t.Errorf("%s: text lacks %q:\n%s", tt.name, tt.wantText, b.String())
		}
	}
}
