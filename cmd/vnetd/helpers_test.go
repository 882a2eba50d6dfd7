package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vnet-xdp/vnet/control"
	"github.com/vnet-xdp/vnet/internal/nstest"
)

// lockedBuffer collects the output of a process, which tests read while
// the process still writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ctlClient is one connection to a vnetd command socket that sends
// commands and reads their replies.
type ctlClient struct {
	conn    net.Conn
	decoder *control.Decoder
}

func dialCtl(socket string) (*ctlClient, error) {
	conn, err := net.DialTimeout("unix", socket, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &ctlClient{conn: conn, decoder: control.NewDecoder(conn)}, nil
}

// do sends one command and returns the output expressions of the reply
// and its status, an error for a rejected command.
func (c *ctlClient) do(cmd string) (string, error) {
	c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.conn.Write([]byte(cmd + "\n")); err != nil {
		return "", fmt.Errorf("send %s: %w", cmd, err)
	}
	var out strings.Builder
	for {
		e, src, err := c.decoder.Decode()
		if err != nil {
			return out.String(), fmt.Errorf("read reply to %s: %w", cmd, err)
		}
		if isStatus, statusErr := control.ParseStatus(e); isStatus {
			return out.String(), statusErr
		}
		out.Write(src)
		out.WriteByte('\n')
	}
}

func (c *ctlClient) close() { c.conn.Close() }

// mustCtl runs commands on a new connection to the host's vnetd and
// fails the test if one is rejected.
func (h *host) mustCtl(cmds ...string) string {
	h.t.Helper()
	c, err := dialCtl(h.socket)
	if err != nil {
		h.t.Fatalf("connect to vnetd in %s: %v", h.ns.Name, err)
	}
	defer c.close()
	var out strings.Builder
	for _, cmd := range cmds {
		o, err := c.do(cmd)
		if err != nil {
			h.t.Fatalf("%s on %s: %v", cmd, h.ns.Name, err)
		}
		out.WriteString(o)
	}
	return out.String()
}

// kill ends vnetd with SIGKILL, as a crash would, and waits for it.
func (h *host) kill() {
	h.t.Helper()
	if err := h.cmd.Process.Kill(); err != nil {
		h.t.Fatalf("kill vnetd in %s: %v", h.ns.Name, err)
	}
	select {
	case err := <-h.exited:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			h.t.Fatalf("vnetd in %s ended with %v, want the SIGKILL", h.ns.Name, err)
		}
	case <-time.After(10 * time.Second):
		h.t.Fatalf("vnetd in %s still runs 10 s after SIGKILL", h.ns.Name)
	}
	h.cmd = nil
}

// flowResult counts the datagrams of a flow that arrived.
type flowResult struct {
	sent, received, duplicates, reordered int
	// gaps is the number of runs of consecutive lost datagrams, and
	// longestGap the length of the longest run.
	gaps, longestGap int
}

func (r flowResult) lost() int { return r.sent - r.received }

func (r flowResult) String() string {
	return fmt.Sprintf("%d sent, %d received, %d lost in %d gaps (longest %d), %d duplicates, %d out of order",
		r.sent, r.received, r.lost(), r.gaps, r.longestGap, r.duplicates, r.reordered)
}

// udpFlow sends count datagrams numbered 0 to count-1 at rate per second
// from the namespace from to dst (address:port) in the namespace to,
// and counts those that arrive by sequence number. It returns when the
// last datagram is sent and linger has passed.
func udpFlow(t *testing.T, from, to *nstest.Netns, dst string, count, rate int, linger time.Duration) flowResult {
	t.Helper()
	addr, err := net.ResolveUDPAddr("udp4", dst)
	if err != nil {
		t.Fatal(err)
	}
	var rx, tx *net.UDPConn
	to.Do(t, func() {
		rx, err = net.ListenUDP("udp4", addr)
		if err == nil {
			// Room for two seconds of the flow, so that a slow reader
			// does not drop datagrams that the dataplane delivered.
			err = rx.SetReadBuffer(4 << 20)
		}
	})
	if err != nil {
		t.Fatalf("receiver in %s: %v", to.Name, err)
	}
	defer rx.Close()
	from.Do(t, func() { tx, err = net.DialUDP("udp4", nil, addr) })
	if err != nil {
		t.Fatalf("sender in %s: %v", from.Name, err)
	}
	defer tx.Close()

	seen := make([]bool, count)
	var res flowResult
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		next := uint64(0)
		for {
			n, err := rx.Read(buf)
			if err != nil {
				return
			}
			if n < 8 {
				continue
			}
			seq := binary.BigEndian.Uint64(buf)
			mu.Lock()
			switch {
			case seq >= uint64(count):
			case seen[seq]:
				res.duplicates++
			default:
				seen[seq] = true
				res.received++
				if seq < next {
					res.reordered++
				}
				next = seq + 1
			}
			mu.Unlock()
		}
	}()

	payload := make([]byte, 64)
	start := time.Now()
	for i := 0; i < count; {
		due := int(time.Since(start).Seconds()*float64(rate)) + 1
		for ; i < min(due, count); i++ {
			binary.BigEndian.PutUint64(payload, uint64(i))
			if _, err := tx.Write(payload); err != nil {
				t.Fatalf("send datagram %d: %v", i, err)
			}
		}
		time.Sleep(time.Millisecond)
	}
	res.sent = count
	time.Sleep(linger)
	rx.Close()
	<-done
	mu.Lock()
	defer mu.Unlock()
	run := 0
	for _, ok := range seen {
		if ok {
			run = 0
			continue
		}
		if run == 0 {
			res.gaps++
		}
		run++
		res.longestGap = max(res.longestGap, run)
	}
	return res
}
