package bench

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vnet-xdp/vnet/internal/nstest"
)

// newTestLab returns a lab with a random prefix that is closed when the
// test ends.
func newTestLab(t *testing.T) *Lab {
	t.Helper()
	nstest.RequireRoot(t)
	l, err := NewLab(nstest.Prefix())
	if err != nil {
		t.Fatalf("NewLab: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Lab.Close: %v", err)
		}
	})
	return l
}

func TestLabRefusesExistingNamespaces(t *testing.T) {
	l := newTestLab(t)
	n, err := l.Netns("a")
	if err != nil {
		t.Fatalf("Netns(a): %v", err)
	}
	_, err = NewLab(l.Prefix)
	if err == nil || !strings.Contains(err.Error(), n.Name) {
		t.Errorf("NewLab(%q) with %s present = %v, want an error naming it", l.Prefix, n.Name, err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	names, err := ListNetns()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if name == n.Name {
			t.Errorf("namespace %s still exists after Close", name)
		}
	}
}

// vethPairs creates the pairs a-b inside n, all up.
func vethPairs(t *testing.T, n *Netns, pairs ...[2]string) {
	t.Helper()
	for _, p := range pairs {
		if _, err := n.Run("ip", "link", "add", p[0], "type", "veth", "peer", "name", p[1]); err != nil {
			t.Fatal(err)
		}
		for _, dev := range p {
			if _, err := n.Run("ip", "link", "set", dev, "up"); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// waitFrames waits up to timeout for src to count want frames and
// returns the last count.
func waitFrames(t *testing.T, src Source, want uint64, timeout time.Duration) uint64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n, err := src.Frames()
		if err != nil {
			t.Fatalf("read frames: %v", err)
		}
		if n >= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestGeneratorCountedAtSink(t *testing.T) {
	l := newTestLab(t)
	n, err := l.Netns("gen")
	if err != nil {
		t.Fatal(err)
	}
	vethPairs(t, n, [2]string{"x0", "x1"})
	c, err := NewCounter(ActionDrop)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := n.Do(func() error { return c.Attach("x1") }); err != nil {
		t.Fatal(err)
	}
	f, err := UDPFrame(60, epA, epB)
	if err != nil {
		t.Fatal(err)
	}
	if err := Send(context.Background(), n, "x0", f, 0, 1000, 2*time.Second); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	if got.Frames != 1000 || got.Bytes != 60000 {
		t.Errorf("counter = %d frames, %d bytes; want 1000 frames, 60000 bytes", got.Frames, got.Bytes)
	}
	if len(got.PerCPU) == 0 || got.PerCPU[0] != 1000 {
		t.Errorf("counter per CPU = %v, want all 1000 on CPU 0, the generator's", got.PerCPU)
	}

	// A run bounded by time stops by itself.
	start := time.Now()
	g, err := StartGenerator(context.Background(), GenConfig{Netns: n, Via: "x0", Frame: f, CPUs: []int{0}, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sent, err := g.Wait()
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a 200 ms run took %v", took)
	}
	if sent == 0 {
		t.Errorf("a 200 ms run sent no frame")
	}
}

func TestXSKForwarderDelivers(t *testing.T) {
	for _, out := range []string{"d1", ""} {
		name := "forward"
		if out == "" {
			name = "rx-drop"
		}
		t.Run(name, func(t *testing.T) {
			l := newTestLab(t)
			n, err := l.Netns("fwd")
			if err != nil {
				t.Fatal(err)
			}
			vethPairs(t, n, [2]string{"g0", "d0"}, [2]string{"s1", "d1"})
			sink, err := NewCounter(ActionDrop)
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			if err := n.Do(func() error { return sink.Attach("s1") }); err != nil {
				t.Fatal(err)
			}
			x, err := StartXSK(XSKConfig{Netns: n, In: "d0", Out: out, CPU: -1})
			if err != nil {
				t.Fatalf("StartXSK: %v", err)
			}
			defer x.Close()
			f, err := UDPFrame(60, epA, epB)
			if err != nil {
				t.Fatal(err)
			}
			if err := Send(context.Background(), n, "g0", f, 0, 1000, 2*time.Second); err != nil {
				t.Fatalf("Send: %v", err)
			}
			if got := waitFrames(t, x, 1000, 2*time.Second); got != 1000 {
				t.Errorf("socket received %d frames, want 1000", got)
			}
			want := uint64(1000)
			if out == "" {
				want = 0
			}
			if got := waitFrames(t, sink, want, 2*time.Second); got != want {
				t.Errorf("sink counted %d frames, want %d", got, want)
			}
		})
	}
}

func TestWatchEndsLongCall(t *testing.T) {
	l := newTestLab(t)
	n, err := l.Netns("watch")
	if err != nil {
		t.Fatal(err)
	}
	vethPairs(t, n, [2]string{"x0", "x1"})
	c, err := NewCounter(ActionDrop)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := n.Do(func() error { return c.Attach("x1") }); err != nil {
		t.Fatal(err)
	}
	f, err := UDPFrame(60, epA, epB)
	if err != nil {
		t.Fatal(err)
	}
	var took time.Duration
	err = n.Do(func() error {
		ifindex, err := ifindexByName("x0")
		if err != nil {
			return err
		}
		prog, err := NewRedirect(ifindex)
		if err != nil {
			return err
		}
		defer prog.Close()
		g := &Generator{prog: prog}
		start := time.Now()
		stop := g.watch(context.Background(), unix.Gettid(), start.Add(100*time.Millisecond))
		// About four minutes of frames at 4 million per second, unless
		// the watch ends the call.
		err = runLive(prog.FD(), f, 1<<30, genBatch)
		took = time.Since(start)
		stop()
		return err
	})
	if !errors.Is(err, unix.EINTR) {
		t.Errorf("runLive under a 100 ms watch = %v, want EINTR", err)
	}
	if took > 2*time.Second {
		t.Errorf("runLive under a 100 ms watch returned after %v, want well under 2 s", took)
	}
}

func ifindexByName(name string) (int, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0, err
	}
	return ifi.Index, nil
}
