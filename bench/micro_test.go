package bench

import (
	"strings"
	"testing"
)

const benchOutput = `goos: linux
goarch: amd64
pkg: github.com/vnet-xdp/vnet/overlay
cpu: AMD EPYC
BenchmarkPipelineDecap60-2          	 5000000	       234.5 ns/op	 255.86 MB/s	       0 B/op	       0 allocs/op
BenchmarkVarpLookup-2               	100000000	        10.77 ns/op	       0 B/op	       0 allocs/op
PASS
ok  	github.com/vnet-xdp/vnet/overlay	3.210s
pkg: github.com/vnet-xdp/vnet/bench
BenchmarkWorkersEncap/2-2   	  200000	        58.17 ns/op	1031.43 MB/s	        17.19 Mframes/s	      16 B/op	       1 allocs/op
BenchmarkNoMem-8   	  1000	  12 ns/op
--- FAIL: BenchmarkBroken
BenchmarkWeird-2   	  abc	  12 ns/op
ok  	github.com/vnet-xdp/vnet/bench	0.075s
`

func TestParseBenchOutput(t *testing.T) {
	got, err := ParseBenchOutput(strings.NewReader(benchOutput))
	if err != nil {
		t.Fatalf("ParseBenchOutput: %v", err)
	}
	want := []Micro{
		{Package: "github.com/vnet-xdp/vnet/overlay", Name: "BenchmarkPipelineDecap60", Procs: 2, N: 5000000, NsPerOp: 234.5, MBPerSec: 255.86, HasAllocs: true},
		{Package: "github.com/vnet-xdp/vnet/overlay", Name: "BenchmarkVarpLookup", Procs: 2, N: 100000000, NsPerOp: 10.77, HasAllocs: true},
		{Package: "github.com/vnet-xdp/vnet/bench", Name: "BenchmarkWorkersEncap/2", Procs: 2, N: 200000, NsPerOp: 58.17, MBPerSec: 1031.43,
			BytesPerOp: 16, AllocsPerOp: 1, HasAllocs: true, Other: map[string]float64{"Mframes/s": 17.19}},
		{Package: "github.com/vnet-xdp/vnet/bench", Name: "BenchmarkNoMem", Procs: 8, N: 1000, NsPerOp: 12},
	}
	if len(got) != len(want) {
		t.Fatalf("ParseBenchOutput returned %d results %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Package != w.Package || g.Name != w.Name || g.Procs != w.Procs || g.N != w.N {
			t.Errorf("result %d = %s %s-%d N=%d, want %s %s-%d N=%d", i, g.Package, g.Name, g.Procs, g.N, w.Package, w.Name, w.Procs, w.N)
		}
		if g.NsPerOp != w.NsPerOp || g.MBPerSec != w.MBPerSec || g.BytesPerOp != w.BytesPerOp || g.AllocsPerOp != w.AllocsPerOp || g.HasAllocs != w.HasAllocs {
			t.Errorf("result %d metrics = %+v, want %+v", i, g, w)
		}
		if len(g.Other) != len(w.Other) || g.Other["Mframes/s"] != w.Other["Mframes/s"] {
			t.Errorf("result %d other metrics = %v, want %v", i, g.Other, w.Other)
		}
	}
}

func TestParseBenchLineRejects(t *testing.T) {
	for _, line := range []string{
		"",
		"BenchmarkX-2",
		"BenchmarkX-2 10",
		"BenchmarkX-2 0 5 ns/op",
		"BenchmarkX-2 10 5 ns/op 3",
		"BenchmarkX-2 10 five ns/op",
		"BenchmarkX-2 10 0 ns/op",
		"Something 10 5 ns/op",
	} {
		if m, ok := parseBenchLine(line); ok {
			t.Errorf("parseBenchLine(%q) = %+v, true; want false", line, m)
		}
	}
}

func FuzzParseBenchOutput(f *testing.F) {
	f.Add(benchOutput)
	f.Add("BenchmarkA-1 1 1 ns/op 1 x/y")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseBenchOutput(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, m := range got {
			if m.NsPerOp <= 0 || m.N <= 0 || m.Procs <= 0 || !strings.HasPrefix(m.Name, "Benchmark") {
				t.Errorf("ParseBenchOutput(%q) returned %+v", s, m)
			}
		}
	})
}
