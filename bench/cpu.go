package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// CPUTimes are the cumulative times of one CPU from /proc/stat, in clock
// ticks.
type CPUTimes struct {
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ, Steal uint64
}

func (t CPUTimes) total() uint64 {
	return t.User + t.Nice + t.System + t.Idle + t.IOWait + t.IRQ + t.SoftIRQ + t.Steal
}

// ReadCPUTimes returns the times of each CPU, indexed by CPU number.
func ReadCPUTimes() ([]CPUTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, fmt.Errorf("read CPU times: %w", err)
	}
	return parseProcStat(string(b))
}

func parseProcStat(s string) ([]CPUTimes, error) {
	var out []CPUTimes
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		n, err := strconv.Atoi(f[0][3:])
		if err != nil || n < 0 || n > 4096 {
			return nil, fmt.Errorf("parse /proc/stat: invalid CPU name %q", f[0])
		}
		var v [8]uint64
		for i := range v {
			if v[i], err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
				return nil, fmt.Errorf("parse /proc/stat line %q: %w", line, err)
			}
		}
		for len(out) <= n {
			out = append(out, CPUTimes{})
		}
		out[n] = CPUTimes{User: v[0], Nice: v[1], System: v[2], Idle: v[3], IOWait: v[4], IRQ: v[5], SoftIRQ: v[6], Steal: v[7]}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("parse /proc/stat: no per-CPU lines")
	}
	return out, nil
}

// CPUUse is the split of one CPU's time over an interval, in percent.
type CPUUse struct {
	CPU     int     `json:"cpu"`
	User    float64 `json:"user"`
	System  float64 `json:"system"`
	SoftIRQ float64 `json:"softirq"`
	Idle    float64 `json:"idle"`
}

// Busy returns the percentage of the interval the CPU was not idle.
func (u CPUUse) Busy() float64 { return 100 - u.Idle }

// CPUUsage returns how each CPU spent the interval between two readings.
func CPUUsage(before, after []CPUTimes) []CPUUse {
	var out []CPUUse
	for i := range after {
		if i >= len(before) {
			break
		}
		a, b := after[i], before[i]
		total := float64(a.total() - b.total())
		if total <= 0 {
			continue
		}
		pct := func(x, y uint64) float64 { return 100 * float64(x-y) / total }
		out = append(out, CPUUse{
			CPU:     i,
			User:    pct(a.User+a.Nice, b.User+b.Nice),
			System:  pct(a.System, b.System),
			SoftIRQ: pct(a.SoftIRQ+a.IRQ, b.SoftIRQ+b.IRQ),
			Idle:    pct(a.Idle+a.IOWait, b.Idle+b.IOWait),
		})
	}
	return out
}

// ThreadTimes are one thread's cumulative CPU time in clock ticks and
// the CPU it last ran on, from /proc/PID/task/TID/stat.
type ThreadTimes struct {
	TID   int
	Name  string
	Ticks uint64
	CPU   int
}

// ReadThreadTimes returns the times of every thread of process pid.
func ReadThreadTimes(pid int) ([]ThreadTimes, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list threads of process %d: %w", pid, err)
	}
	var out []ThreadTimes
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "stat"))
		if err != nil {
			// The thread exited between the listing and the read.
			continue
		}
		t, err := parseTaskStat(string(b))
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// parseTaskStat parses the fields of proc_pid_stat(5) that ThreadTimes
// holds: pid (1), comm (2), utime (14), stime (15) and processor (39).
func parseTaskStat(s string) (ThreadTimes, error) {
	open := strings.IndexByte(s, '(')
	end := strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return ThreadTimes{}, fmt.Errorf("parse task stat %q: no command name", s)
	}
	tid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil {
		return ThreadTimes{}, fmt.Errorf("parse task stat %q: invalid id: %w", s, err)
	}
	// Fields after the command name start with field 3 (state).
	f := strings.Fields(s[end+1:])
	if len(f) < 37 {
		return ThreadTimes{}, fmt.Errorf("parse task stat %q: %d fields after the name, want at least 37", s, len(f))
	}
	utime, err1 := strconv.ParseUint(f[14-3], 10, 64)
	stime, err2 := strconv.ParseUint(f[15-3], 10, 64)
	cpu, err3 := strconv.Atoi(f[39-3])
	if err1 != nil || err2 != nil || err3 != nil {
		return ThreadTimes{}, fmt.Errorf("parse task stat %q: invalid times or processor", s)
	}
	return ThreadTimes{TID: tid, Name: s[open+1 : end], Ticks: utime + stime, CPU: cpu}, nil
}

// ClockTicks is the unit of /proc CPU times, USER_HZ, which is 100 on
// every Linux architecture that vnet supports.
const ClockTicks = 100

// BusyThread is a thread that used CPU time during an interval.
type BusyThread struct {
	TID  int     `json:"tid"`
	Name string  `json:"name"`
	CPU  int     `json:"cpu"`
	Use  float64 `json:"use_percent"`
}

// BusyThreads returns the threads that used at least minPercent of one
// CPU between two readings that are seconds apart, busiest first.
func BusyThreads(before, after []ThreadTimes, seconds, minPercent float64) []BusyThread {
	prev := map[int]uint64{}
	for _, t := range before {
		prev[t.TID] = t.Ticks
	}
	var out []BusyThread
	for _, t := range after {
		use := 100 * float64(t.Ticks-prev[t.TID]) / ClockTicks / seconds
		if use >= minPercent {
			out = append(out, BusyThread{TID: t.TID, Name: t.Name, CPU: t.CPU, Use: use})
		}
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Use > out[j-1].Use; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
