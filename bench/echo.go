package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"
)

// EchoPort is the UDP port of the latency echo server.
const EchoPort = 7007

// echoPayload is the UDP payload size of a probe: a sequence number, the
// send time, and padding.
const echoPayload = 64

// EchoServer returns every UDP datagram it receives to its sender.
type EchoServer struct {
	conn *net.UDPConn
	done chan struct{}
}

// StartEchoServer listens on addr:EchoPort inside the namespace n.
func StartEchoServer(n *Netns, addr string) (*EchoServer, error) {
	var conn *net.UDPConn
	err := n.Do(func() error {
		var err error
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(addr), Port: EchoPort})
		if err != nil {
			return fmt.Errorf("listen on %s:%d in %s: %w", addr, EchoPort, n.Name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s := &EchoServer{conn: conn, done: make(chan struct{})}
	go s.serve()
	return s, nil
}

func (s *EchoServer) serve() {
	defer close(s.done)
	buf := make([]byte, 2048)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		_, _ = s.conn.WriteToUDPAddrPort(buf[:n], from)
	}
}

// Close stops the server.
func (s *EchoServer) Close() error {
	err := s.conn.Close()
	<-s.done
	return err
}

// EchoConfig describes one latency measurement.
type EchoConfig struct {
	// Netns and Src are the client's namespace and address; Dst is the
	// server's address.
	Netns    *Netns
	Src, Dst string
	// Count probes are sent, one every Interval; the first Warmup probes
	// are not counted (they resolve addresses along the path).
	Count, Warmup int
	Interval      time.Duration
	// Wait is how long the client waits for the last replies.
	Wait time.Duration
}

// EchoResult holds the round-trip times of the probes that returned.
type EchoResult struct {
	Sent int
	RTTs []time.Duration // sorted
}

// Lost returns the number of probes without a reply.
func (r EchoResult) Lost() int { return r.Sent - len(r.RTTs) }

// RunEcho sends probes at a fixed rate and times each reply in the
// sender. It first waits up to 3 s for one warm-up probe to come back.
func RunEcho(ctx context.Context, cfg EchoConfig) (EchoResult, error) {
	if cfg.Count <= 0 || cfg.Interval <= 0 {
		return EchoResult{}, fmt.Errorf("run echo: invalid count %d or interval %v", cfg.Count, cfg.Interval)
	}
	// Probe 0 is the one repeated until the path works.
	cfg.Warmup = max(cfg.Warmup, 1)
	var conn *net.UDPConn
	err := cfg.Netns.Do(func() error {
		var err error
		conn, err = net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(cfg.Src)}, &net.UDPAddr{IP: net.ParseIP(cfg.Dst), Port: EchoPort})
		if err != nil {
			return fmt.Errorf("open echo client from %s to %s in %s: %w", cfg.Src, cfg.Dst, cfg.Netns.Name, err)
		}
		return nil
	})
	if err != nil {
		return EchoResult{}, err
	}
	defer conn.Close()

	total := cfg.Warmup + cfg.Count
	start := time.Now()
	sentAt := make([]time.Duration, total)
	got := make([]time.Duration, total)
	var mu sync.Mutex
	first := make(chan struct{})
	var firstOnce sync.Once
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 2048)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			at := time.Since(start)
			if n < 8 {
				continue
			}
			seq := binary.BigEndian.Uint64(buf[:8])
			if seq >= uint64(total) {
				continue
			}
			mu.Lock()
			if got[seq] == 0 {
				got[seq] = at - sentAt[seq]
			}
			mu.Unlock()
			firstOnce.Do(func() { close(first) })
		}
	}()

	probe := make([]byte, echoPayload)
	send := func(seq int) error {
		binary.BigEndian.PutUint64(probe[:8], uint64(seq))
		mu.Lock()
		sentAt[seq] = time.Since(start)
		mu.Unlock()
		_, err := conn.Write(probe)
		return err
	}

	// Warm-up: repeat the first probe until one reply arrives.
	warm := time.NewTicker(100 * time.Millisecond)
	defer warm.Stop()
	deadline := time.After(3 * time.Second)
	_ = send(0)
wait:
	for {
		select {
		case <-first:
			break wait
		case <-warm.C:
			_ = send(0)
		case <-deadline:
			conn.Close()
			<-readDone
			return EchoResult{}, fmt.Errorf("run echo from %s to %s: no reply within 3 s", cfg.Src, cfg.Dst)
		case <-ctx.Done():
			conn.Close()
			<-readDone
			return EchoResult{}, ctx.Err()
		}
	}

	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	var sendErr error
	for seq := 1; seq < total; seq++ {
		select {
		case <-tick.C:
		case <-ctx.Done():
			conn.Close()
			<-readDone
			return EchoResult{}, ctx.Err()
		}
		if err := send(seq); err != nil && sendErr == nil {
			sendErr = err
		}
	}
	time.Sleep(cfg.Wait)
	conn.Close()
	<-readDone

	res := EchoResult{Sent: cfg.Count}
	mu.Lock()
	for seq := cfg.Warmup; seq < total; seq++ {
		if got[seq] > 0 {
			res.RTTs = append(res.RTTs, got[seq])
		}
	}
	mu.Unlock()
	slices.Sort(res.RTTs)
	if sendErr != nil && !errors.Is(sendErr, net.ErrClosed) {
		return res, fmt.Errorf("send echo probe: %w", sendErr)
	}
	return res, nil
}
