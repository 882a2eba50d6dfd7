package pmd

import (
	"strings"
	"testing"

	"github.com/vnet-xdp/vnet/internal/nstest"
)

// TestRxQueuesVeth reads the receive channels of a veth created with four
// queues, which uses all four, and after ethtool -L has set another count.
func TestRxQueuesVeth(t *testing.T) {
	nstest.RequireRoot(t)
	p := nstest.Prefix()
	a := nstest.New(t, p+"a")
	b := nstest.New(t, p+"b")
	nstest.Veth(t, nstest.VethConfig{Netns: a, Name: "va", Queues: 4}, nstest.VethConfig{Netns: b, Name: "vb", Queues: 4})

	check := func(want int) {
		t.Helper()
		var n int
		var err error
		a.Do(t, func() { n, err = RxQueues("va") })
		if err != nil || n != want {
			t.Errorf("RxQueues(va) = %d, %v, want %d", n, err, want)
		}
	}
	check(4)
	a.MustRun(t, "ethtool", "-L", "va", "rx", "3")
	check(3)
}

func TestRxQueuesErrors(t *testing.T) {
	nstest.RequireRoot(t)
	a := nstest.New(t, nstest.Prefix()+"a")
	for _, tt := range []struct{ name, want string }{
		{"lo", "does not report them"},
		{"nosuchif0", "no such device"},
		{strings.Repeat("x", 16), "longer than 15 bytes"},
	} {
		var err error
		a.Do(t, func() { _, err = RxQueues(tt.name) })
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("RxQueues(%q) = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}
