package overlay

import (
	"context"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/vnet-xdp/vnet/internal/pcapfile"
	"github.com/vnet-xdp/vnet/overlay/wire"
	"github.com/vnet-xdp/vnet/pmd"
	"github.com/vnet-xdp/vnet/ring"
)

// Frames that the XDP program steers to the dataplane never reach the
// kernel's packet taps, so tcpdump on an underlay interface or a vnet's
// dataplane end does not see them. A capture copies them from inside the
// data path instead: a vnet's inner frames, or an underlay interface's
// outer frames, in one direction or both.

// CaptureDirection selects frames by the way they travel.
type CaptureDirection uint8

const (
	// CaptureIn is frames arriving: from the underlay on an interface,
	// from the VMs on a vnet.
	CaptureIn CaptureDirection = 1 << iota
	// CaptureOut is frames leaving: to the underlay on an interface, to
	// the VMs on a vnet.
	CaptureOut
	CaptureBoth = CaptureIn | CaptureOut
)

// ParseCaptureDirection parses "in", "out" or "both".
func ParseCaptureDirection(s string) (CaptureDirection, error) {
	switch s {
	case "in":
		return CaptureIn, nil
	case "out":
		return CaptureOut, nil
	case "both":
		return CaptureBoth, nil
	}
	return 0, fmt.Errorf("invalid capture direction %q: %w (use in, out or both)", s, ErrInvalid)
}

func (d CaptureDirection) String() string {
	switch d {
	case CaptureIn:
		return "in"
	case CaptureOut:
		return "out"
	case CaptureBoth:
		return "both"
	}
	return fmt.Sprintf("direction(%d)", uint8(d))
}

// CaptureStream is a running capture as the command socket sees it.
type CaptureStream interface {
	// WritePcap writes the frames as a pcap file until the capture's
	// count or duration is reached, the context ends or w fails.
	WritePcap(ctx context.Context, w io.Writer) error
	// Close stops the capture.
	Close() error
}

// OpenCapture is StartCapture for the command socket.
func (e *Engine) OpenCapture(spec CaptureSpec) (CaptureStream, error) {
	return e.StartCapture(spec)
}

// CaptureSpec says what a capture records.
type CaptureSpec struct {
	// Vnet selects a vnet's inner frames; Interface an underlay
	// interface's frames. Exactly one is set.
	Vnet      wire.VnetID
	Interface string
	Direction CaptureDirection
	// Count stops the capture after this many frames; 0 means no limit.
	Count int
	// Duration stops the capture after this long; 0 means no limit.
	Duration time.Duration
	// Snaplen is the number of bytes kept of each frame; 0 keeps whole
	// frames.
	Snaplen int
}

// Capture buffers per worker. A worker that finds no free slot drops
// the copy and counts it, so a slow reader never slows the data path.
const (
	captureSlots   = 512
	captureSnaplen = 2048
)

type captureSlot struct {
	buf     []byte
	n, orig int
	at      time.Time
}

// captureQueue is one worker's pair of slot rings: the worker takes free
// slots and hands filled ones to the reader, which gives them back.
type captureQueue struct {
	free, full *ring.SPSC[*captureSlot]
	dropped    counter
	captured   counter
}

// Capture is a running capture.
type Capture struct {
	e      *Engine
	spec   CaptureSpec
	vn     *vnet
	port   int
	queues []*captureQueue
	done   chan struct{}
	closed bool
}

// StartCapture starts recording frames as spec says. Read them with
// WritePcap; Close stops the capture.
func (e *Engine) StartCapture(spec CaptureSpec) (*Capture, error) {
	if spec.Direction == 0 {
		spec.Direction = CaptureBoth
	}
	if spec.Direction&^CaptureBoth != 0 {
		return nil, fmt.Errorf("invalid capture direction %d: %w", spec.Direction, ErrInvalid)
	}
	if spec.Snaplen <= 0 || spec.Snaplen > captureSnaplen {
		spec.Snaplen = captureSnaplen
	}
	if spec.Count < 0 || spec.Duration < 0 {
		return nil, fmt.Errorf("invalid capture limits: count %d, duration %s: %w", spec.Count, spec.Duration, ErrInvalid)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := &Capture{e: e, spec: spec, port: -1, done: make(chan struct{})}
	switch {
	case spec.Interface != "" && spec.Vnet != wire.VnetIDZero:
		return nil, fmt.Errorf("capture: give a vnet or an interface, not both: %w", ErrInvalid)
	case spec.Interface != "":
		for i, us := range e.underlay {
			if us.port.name == spec.Interface {
				c.port = i
			}
		}
		if c.port < 0 {
			return nil, fmt.Errorf("capture on %s: %w (it is not an underlay interface of this vnetd)", spec.Interface, ErrNotFound)
		}
	case spec.Vnet != wire.VnetIDZero:
		vs, ok := e.vnets[spec.Vnet]
		if !ok {
			return nil, fmt.Errorf("capture on vnet %s: %w", spec.Vnet, ErrNotFound)
		}
		c.vn = vs.vn
	default:
		return nil, fmt.Errorf("capture: no vnet or interface given: %w", ErrInvalid)
	}
	for range e.workers {
		q := &captureQueue{}
		var err error
		if q.free, err = ring.NewSPSC[*captureSlot](captureSlots); err != nil {
			return nil, err
		}
		if q.full, err = ring.NewSPSC[*captureSlot](captureSlots); err != nil {
			return nil, err
		}
		for i := 0; i < captureSlots-1; i++ {
			q.free.Enqueue(&captureSlot{buf: make([]byte, spec.Snaplen)})
		}
		c.queues = append(c.queues, q)
	}
	e.update(func(cfg *config) {
		cfg.captures = append(append([]*Capture(nil), cfg.captures...), c)
	})
	e.log.Info("capture started", spec.LogFields()...)
	return c, nil
}

// Close stops the capture. It is idempotent.
func (c *Capture) Close() error {
	e := c.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	close(c.done)
	e.update(func(cfg *config) {
		var keep []*Capture
		for _, o := range cfg.captures {
			if o != c {
				keep = append(keep, o)
			}
		}
		cfg.captures = keep
	})
	captured, dropped := c.Counts()
	e.log.Info("capture stopped", zap.Uint64("frames", captured), zap.Uint64("dropped", dropped))
	return nil
}

// Counts returns how many frames the workers copied and how many they
// dropped because the reader fell behind.
func (c *Capture) Counts() (captured, dropped uint64) {
	for _, q := range c.queues {
		captured += q.captured.load()
		dropped += q.dropped.load()
	}
	return captured, dropped
}

// WritePcap writes the captured frames to w as a pcap file until the
// count or duration is reached, the context ends or w fails, and then
// stops the capture.
func (c *Capture) WritePcap(ctx context.Context, w io.Writer) error {
	defer c.Close()
	pw, err := pcapfile.NewNanosecondWriter(w, 1, uint32(c.spec.Snaplen))
	if err != nil {
		return err
	}
	var deadline <-chan time.Time
	if c.spec.Duration > 0 {
		t := time.NewTimer(c.spec.Duration)
		defer t.Stop()
		deadline = t.C
	}
	written := 0
	idle := time.NewTicker(time.Millisecond)
	defer idle.Stop()
	for {
		moved := false
		for _, q := range c.queues {
			for {
				s, ok := q.full.Dequeue()
				if !ok {
					break
				}
				moved = true
				err := pw.Write(s.at, s.buf[:s.n], s.orig)
				q.free.Enqueue(s)
				if err != nil {
					return fmt.Errorf("write capture: %w", err)
				}
				written++
				if c.spec.Count > 0 && written >= c.spec.Count {
					return nil
				}
			}
		}
		if moved {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-deadline:
			return nil
		case <-c.done:
			return nil
		case <-idle.C:
		}
	}
}

// tap copies a frame into every matching capture.
func (p *pipeline) tap(cfg *config, vn *vnet, port int, dir CaptureDirection, d pmd.Desc) {
	var frame []byte
	for _, c := range cfg.captures {
		if c.spec.Direction&dir == 0 || c.vn != vn || (vn == nil && c.port != port) {
			continue
		}
		q := c.queues[p.worker]
		s, ok := q.free.Dequeue()
		if !ok {
			q.dropped.inc()
			continue
		}
		if frame == nil {
			frame = p.umem.Frame(d)
		}
		s.n = copy(s.buf, frame)
		s.orig = len(frame)
		s.at = time.Now()
		q.full.Enqueue(s)
		q.captured.inc()
	}
}

// toUnderlay transmits a frame on an underlay port.
func (p *pipeline) toUnderlay(w *pmd.Worker, cfg *config, up *underlayPort, d pmd.Desc) {
	if len(cfg.captures) > 0 {
		p.tap(cfg, nil, cfg.underlayIndex(up), CaptureOut, d)
	}
	w.Transmit(up.ports[p.worker], d)
}

// toDevice transmits a frame to the VMs of vn.
func (p *pipeline) toDevice(w *pmd.Worker, cfg *config, vn *vnet, d pmd.Desc) {
	if len(cfg.captures) > 0 {
		p.tap(cfg, vn, -1, CaptureOut, d)
	}
	w.Transmit(vn.ports[p.worker], d)
}

// LogFields describes the capture for a log line: its vnet or its
// interface, the direction and the limits.
func (s CaptureSpec) LogFields() []zap.Field {
	fields := make([]zap.Field, 0, 4)
	if s.Interface != "" {
		fields = append(fields, zap.String("interface", s.Interface))
	} else {
		fields = append(fields, zap.Stringer("vnet", s.Vnet))
	}
	return append(fields, zap.Stringer("direction", s.Direction), zap.Int("count", s.Count), zap.Duration("duration", s.Duration))
}
