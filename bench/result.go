package bench

import "time"

// Report is everything one harness run measured. It is written as JSON
// and rendered as markdown by WriteMarkdown.
type Report struct {
	Started  time.Time     `json:"started"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	Quick    bool          `json:"quick"`
	Host     Host          `json:"host"`
	Settings Settings      `json:"settings"`
	Cases    []CaseInfo    `json:"cases"`
	Results  []Result      `json:"results"`
	Latency  []Latency     `json:"latency"`
	Micro    []Micro       `json:"micro"`
	// MicroError is set when some micro benchmarks failed to run.
	MicroError string    `json:"micro_error,omitempty"`
	Profiles   []Profile `json:"profiles,omitempty"`
	// Notes are problems met during the run, such as a failed run.
	Notes []string `json:"notes,omitempty"`
}

// Host describes the machine.
type Host struct {
	Kernel    string `json:"kernel"`
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	GoVersion string `json:"go_version"`
	// Revision is the source revision of the binaries measured.
	Revision string `json:"revision"`
	// Background is the use of each CPU during two seconds before the
	// harness started any traffic. It is load from other programs, which
	// distorts every figure.
	Background []CPUUse `json:"background,omitempty"`
	// BackgroundEnd is the same during two seconds after the harness
	// stopped its own processes.
	BackgroundEnd []CPUUse `json:"background_end,omitempty"`
	// LoadStart and LoadEnd are /proc/loadavg at the start and the end;
	// LoadEnd includes the harness's own load.
	LoadStart string `json:"load_start,omitempty"`
	LoadEnd   string `json:"load_end,omitempty"`
}

// Settings are the measurement parameters.
type Settings struct {
	Runs     int           `json:"runs"`
	Warmup   time.Duration `json:"warmup_ns"`
	Interval time.Duration `json:"interval_ns"`
	Samples  int           `json:"samples"`
	Sizes    []int         `json:"sizes"`
	GenCPU   int           `json:"generator_cpu"`
	DUTCPU   int           `json:"dut_cpu"`
}

// CaseInfo describes one measured configuration.
type CaseInfo struct {
	ID string `json:"id"`
	// Group is "kernel", "afxdp", "vxlan" or "vnetd".
	Group string `json:"group"`
	Title string `json:"title"`
	// Path is the way a frame takes, for the report.
	Path string `json:"path"`
	// Placement names the CPU of each thread.
	Placement string `json:"placement"`
	// Direction is "encap", "decap" or "both" for overlays.
	Direction string `json:"direction,omitempty"`
	Security  string `json:"security,omitempty"`
	Workers   int    `json:"workers,omitempty"`
}

// NamedCount is a counter value.
type NamedCount struct {
	Name  string `json:"name"`
	Value uint64 `json:"value"`
}

// Result is the measurement of one case at one frame size.
type Result struct {
	Case string `json:"case"`
	Size int    `json:"size"`
	// Available is false when the case could not run, and Reason then
	// gives the cause, for example "not available in this build".
	Available bool   `json:"available"`
	Reason    string `json:"reason,omitempty"`
	// RunsPPS are the frames per second delivered in each run; PPS is
	// their median, MinPPS and MaxPPS their range.
	RunsPPS []float64 `json:"runs_pps,omitempty"`
	PPS     float64   `json:"pps"`
	MinPPS  float64   `json:"min_pps"`
	MaxPPS  float64   `json:"max_pps"`
	// Gbps is PPS times the inner frame size in bits.
	Gbps float64 `json:"gbps"`
	// OfferedPPS are the generator's sent rates per run; frames that the
	// receiving veth could not take are included.
	OfferedPPS []float64 `json:"offered_pps,omitempty"`
	// Drops are drop and error counters that moved, summed over the runs.
	Drops []NamedCount `json:"drops,omitempty"`
	// CPU, SinkCPU and Threads are from the last run: how each CPU spent
	// the window, on which CPUs the sink counted, and busy threads of the
	// dataplane processes.
	CPU     []CPUUse     `json:"cpu,omitempty"`
	SinkCPU []uint64     `json:"sink_cpu,omitempty"`
	Threads []BusyThread `json:"threads,omitempty"`
	Errors  []string     `json:"errors,omitempty"`
}

// Latency is a round-trip measurement at low load.
type Latency struct {
	Case      string  `json:"case"`
	Title     string  `json:"title"`
	Available bool    `json:"available"`
	Reason    string  `json:"reason,omitempty"`
	Rate      float64 `json:"rate_pps"`
	Sent      int     `json:"sent"`
	Lost      int     `json:"lost"`
	// Round-trip times in microseconds.
	Min float64 `json:"min_us"`
	P50 float64 `json:"p50_us"`
	P90 float64 `json:"p90_us"`
	P99 float64 `json:"p99_us"`
	Max float64 `json:"max_us"`
}

// Profile is a CPU profile summary taken with perf during one run.
type Profile struct {
	Case  string   `json:"case"`
	Size  int      `json:"size"`
	Lines []string `json:"lines"`
	Error string   `json:"error,omitempty"`
}
