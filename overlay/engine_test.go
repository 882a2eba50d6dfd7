package overlay

import (
	"errors"
	"runtime"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestAutoQueues(t *testing.T) {
	queues := map[string]int{"eth0": 4, "eth1": 2, "big0": 1000}
	saved := rxQueues
	rxQueues = func(name string) (int, error) {
		if n, ok := queues[name]; ok {
			return n, nil
		}
		return 0, errors.New("no such device")
	}
	t.Cleanup(func() { rxQueues = saved })

	cpus := runtime.NumCPU()
	tests := []struct {
		name       string
		interfaces []string
		cpus       []int
		want       int
	}{
		{"smallest of the interfaces", []string{"eth0", "eth1"}, nil, min(2, cpus)},
		{"one per CPU at most", []string{"big0"}, nil, min(1000, cpus)},
		{"unreadable counts one", []string{"gone0"}, nil, 1},
		{"CPUs given", []string{"eth0"}, []int{0, 1, 2}, 3},
	}
	for _, tt := range tests {
		if got := autoQueues(servedQueues(tt.interfaces, zap.NewNop()), tt.cpus, zap.NewNop()); got != tt.want {
			t.Errorf("%s: autoQueues(%q, %v) = %d, want %d", tt.name, tt.interfaces, tt.cpus, got, tt.want)
		}
	}

	// More workers than an interface has queues: one per queue, on the
	// first of the CPUs given.
	c := Config{Interfaces: []string{"eth0", "eth1"}, Queues: 2, CPUs: []int{0, 0}}
	queues["eth1"] = 1
	if err := c.fill(); err != nil {
		t.Fatal(err)
	}
	if c.Queues != 1 || len(c.CPUs) != 1 {
		t.Errorf("fill of 2 workers over interfaces of 4 and 1 queues: %d workers on CPUs %v, want 1 on [0]", c.Queues, c.CPUs)
	}
}

// TestResolverLogIsSampled: the resolver logs a burst of one message,
// then drops the rest of that second's.
func TestResolverLogIsSampled(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	r := newHopResolver(&Engine{log: zap.New(core)})
	for i := 0; i < 3*resolveLogBurst; i++ {
		r.log.Warn("no route to underlay destination")
	}
	r.log.Warn("another message")
	if n := logs.FilterMessage("no route to underlay destination").Len(); n != resolveLogBurst {
		t.Errorf("logged %d lines of a repeated message, want %d", n, resolveLogBurst)
	}
	if n := logs.FilterMessage("another message").Len(); n != 1 {
		t.Errorf("logged %d lines of another message, want 1", n)
	}
}
