package bench

import (
	"testing"
)

const procStat = `cpu  200 0 100 1000 0 0 10 0 0 0
cpu0 100 0 50 500 0 0 5 0 0 0
cpu1 100 0 50 500 0 0 5 0 0 0
intr 12345
ctxt 999
`

func TestParseProcStat(t *testing.T) {
	got, err := parseProcStat(procStat)
	if err != nil {
		t.Fatalf("parseProcStat: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("parseProcStat returned %d CPUs, want 2", len(got))
	}
	want := CPUTimes{User: 100, System: 50, Idle: 500, SoftIRQ: 5}
	if got[1] != want {
		t.Errorf("CPU 1 = %+v, want %+v", got[1], want)
	}
	if _, err := parseProcStat("cpu 1 2 3\nintr 5\n"); err == nil {
		t.Errorf("parseProcStat without per-CPU lines = nil error, want an error")
	}
	if _, err := parseProcStat("cpu0 1 2 x 4 5 6 7 8\n"); err == nil {
		t.Errorf("parseProcStat with a non-number = nil error, want an error")
	}
}

func TestCPUUsage(t *testing.T) {
	before := []CPUTimes{{User: 100, System: 100, Idle: 800}}
	after := []CPUTimes{{User: 150, System: 110, Idle: 820, SoftIRQ: 20}}
	got := CPUUsage(before, after)
	if len(got) != 1 {
		t.Fatalf("CPUUsage returned %d CPUs, want 1", len(got))
	}
	u := got[0]
	if u.User != 50 || u.System != 10 || u.SoftIRQ != 20 || u.Idle != 20 {
		t.Errorf("CPUUsage = %+v, want user 50, system 10, softirq 20, idle 20", u)
	}
	if u.Busy() != 80 {
		t.Errorf("Busy() = %v, want 80", u.Busy())
	}
}

func TestParseTaskStat(t *testing.T) {
	// A command name with spaces and parentheses, as comm allows.
	fields := "S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 100 1000 10 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 0 1"
	got, err := parseTaskStat("4242 (a (b) c) " + fields)
	if err != nil {
		t.Fatalf("parseTaskStat: %v", err)
	}
	want := ThreadTimes{TID: 4242, Name: "a (b) c", Ticks: 300, CPU: 1}
	if got != want {
		t.Errorf("parseTaskStat = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"", "12 no name", "x (n) S 1 2", "12 (n) S 1 2 3"} {
		if _, err := parseTaskStat(bad); err == nil {
			t.Errorf("parseTaskStat(%q) = nil error, want an error", bad)
		}
	}
}

func TestBusyThreads(t *testing.T) {
	before := []ThreadTimes{{TID: 1, Ticks: 100}, {TID: 2, Ticks: 100}, {TID: 3, Ticks: 0}}
	after := []ThreadTimes{{TID: 1, Ticks: 150, CPU: 1}, {TID: 2, Ticks: 101}, {TID: 3, Ticks: 90, CPU: 0}}
	got := BusyThreads(before, after, 1, 5)
	if len(got) != 2 {
		t.Fatalf("BusyThreads = %+v, want 2 threads", got)
	}
	if got[0].TID != 3 || got[0].Use != 90 || got[1].TID != 1 || got[1].Use != 50 {
		t.Errorf("BusyThreads = %+v, want thread 3 at 90%% then thread 1 at 50%%", got)
	}
}
