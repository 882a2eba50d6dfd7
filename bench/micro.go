package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
)

// Micro is one result line of `go test -bench`.
type Micro struct {
	Package string `json:"package"`
	// Name is the benchmark's name without the GOMAXPROCS suffix.
	Name  string `json:"name"`
	Procs int    `json:"procs"`
	N     int64  `json:"n"`
	// A metric that the line lacks is 0.
	NsPerOp     float64 `json:"ns_per_op"`
	MBPerSec    float64 `json:"mb_per_s,omitempty"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
	// Other holds the custom metrics (b.ReportMetric) by unit.
	Other map[string]float64 `json:"other,omitempty"`
	// HasAllocs is set when the line reported allocs/op (b.ReportAllocs
	// or -benchmem).
	HasAllocs bool `json:"has_allocs"`
}

// ParseBenchOutput reads the output of `go test -bench` and returns its
// result lines in order. Lines that are not results are skipped; a
// "pkg:" line sets the package of the results after it.
func ParseBenchOutput(r io.Reader) ([]Micro, error) {
	var out []Micro
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		m, ok := parseBenchLine(line)
		if !ok {
			continue
		}
		m.Package = pkg
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read benchmark output: %w", err)
	}
	return out, nil
}

// parseBenchLine parses "BenchmarkName-P  N  V unit  V unit ...".
func parseBenchLine(line string) (Micro, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return Micro{}, false
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || n <= 0 {
		return Micro{}, false
	}
	m := Micro{Name: f[0], Procs: 1, N: n}
	if i := strings.LastIndexByte(f[0], '-'); i > 0 {
		if p, err := strconv.Atoi(f[0][i+1:]); err == nil && p > 0 {
			m.Name, m.Procs = f[0][:i], p
		}
	}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return Micro{}, false
		}
		switch unit := f[i+1]; unit {
		case "ns/op":
			m.NsPerOp = v
		case "MB/s":
			m.MBPerSec = v
		case "B/op":
			m.BytesPerOp = v
		case "allocs/op":
			m.AllocsPerOp = v
			m.HasAllocs = true
		default:
			if m.Other == nil {
				m.Other = map[string]float64{}
			}
			m.Other[unit] = v
		}
	}
	return m, m.NsPerOp > 0
}

// MicroConfig selects the benchmarks RunMicro runs.
type MicroConfig struct {
	// Dir is the module root.
	Dir string
	// Packages are package patterns such as "./overlay/...".
	Packages []string
	// Bench is the -bench regular expression; Benchtime the -benchtime.
	Bench, Benchtime string
	// Log, if set, receives the raw output.
	Log io.Writer
}

// RunMicro runs `go test -run ^$ -bench` with -benchmem on the packages
// and parses the results. A package whose benchmarks fail makes the
// error non-nil, but the results of the others are returned.
func RunMicro(ctx context.Context, cfg MicroConfig) ([]Micro, error) {
	args := []string{"test", "-run", "^$", "-bench", cfg.Bench, "-benchmem", "-count", "1"}
	if cfg.Benchtime != "" {
		args = append(args, "-benchtime", cfg.Benchtime)
	}
	args = append(args, cfg.Packages...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = cfg.Dir
	out, runErr := cmd.CombinedOutput()
	if cfg.Log != nil {
		cfg.Log.Write(out)
	}
	results, err := ParseBenchOutput(strings.NewReader(string(out)))
	if err != nil {
		return results, err
	}
	if runErr != nil {
		return results, fmt.Errorf("run go %s: %w (output in the raw log)", strings.Join(args, " "), runErr)
	}
	return results, nil
}
