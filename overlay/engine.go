package overlay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/vnet-xdp/vnet/overlay/esp"
	"github.com/vnet-xdp/vnet/overlay/wire"
	"github.com/vnet-xdp/vnet/pmd"
	"github.com/vnet-xdp/vnet/pmd/xdpprog"
	"github.com/vnet-xdp/vnet/ring"
)

// Config configures an Engine.
type Config struct {
	// Interfaces are the underlay interfaces, each with an IPv4 address.
	Interfaces []string
	// Group is the multicast group for broadcast, multicast and unknown
	// unicast frames; the zero value selects wire.DefaultGroup.
	Group netip.Addr
	// GroupTTL is the IPv4 TTL of packets sent to the group; 0 selects 1,
	// so group traffic stays on the local segment (peers relay it
	// further).
	GroupTTL int
	// Queues is the number of queues served on each underlay interface,
	// one worker per queue. 0 selects one per CPU in CPUs if given, and
	// otherwise the largest receive queue count of the interfaces, at
	// most one per CPU.
	Queues int
	// KeepDevices makes Close leave the vnets' veth pairs in place, with
	// their bridges and namespaces, so that a vnetd started with the
	// same configuration adopts them and the VMs stay attached.
	KeepDevices bool
	// CPUs lists the CPU each worker is pinned to. Empty pins worker i to
	// the (i+1)-th last CPU, so that CPU 0 is left to the control
	// goroutine and the kernel when there are enough CPUs.
	CPUs []int
	// BindMode selects zero-copy or copy mode for the underlay sockets.
	BindMode pmd.BindMode
	// XDPMode selects native or generic XDP on the underlay interfaces.
	XDPMode xdpprog.AttachMode
	// Umem sizes each worker's UMEM. A zero frame count selects
	// DefaultUmemFrames, and a zero frame size the smaller of 2048 and
	// 4096 bytes that fits the largest underlay MTU.
	Umem pmd.UmemConfig
	// Limits bound each vnet's tables and flooding; the zero value
	// selects DefaultLimits.
	Limits Limits
	// Flood makes unknown unicast frames go to the group, as the original
	// did, instead of waiting for a VARP reply. Hosts that run the
	// original vnetd reply to VARP requests only for MACs that sent a
	// frame in the last minute or two, so a vnet shared with them may
	// need it.
	Flood bool
	// EntryTTL is how long VARP and vif entries live after they were last
	// confirmed; 0 selects 60 s, the original's value.
	EntryTTL time.Duration
	// SpinPolls is passed to each worker (see pmd.WorkerConfig).
	SpinPolls int
	// BusyPoll keeps the workers polling without ever sleeping, for the
	// lowest latency at the cost of one full CPU per worker.
	BusyPoll bool
	// WorkerNice is the nice value of the worker threads (see
	// pmd.WorkerConfig.Nice); 0 leaves it as inherited.
	WorkerNice int
	Logger     *zap.Logger
}

// Defaults of Config.
const (
	DefaultEntryTTL = 60 * time.Second
	// DefaultGroupTTL keeps group traffic on the local segment, as the
	// original vnetd's sends through a kernel socket did.
	DefaultGroupTTL = 1
	// maxVnets is the number of vnet indices a table key can hold.
	maxVnets = 1<<16 - 1
)

// Ring sizes of the sockets. Underlay ports carry the traffic of every
// vnet; device ports one vnet's. Each port holds up to its fill target
// plus its TX ring in frames, so with DefaultUmemFrames a worker serves
// one underlay interface and about 77 vnets. The fill target is what a
// port can receive while its worker does not run: 512 frames last
// 170 ms at 3000 frames per second and 0.5 ms at a million, which covers
// a worker that shares its CPU with other busy threads.
var (
	underlayRings = pmd.RingConfig{Fill: 4096, Completion: 2048, Rx: 2048, Tx: 2048}
	deviceRings   = pmd.RingConfig{Fill: 1024, Completion: 256, Rx: 1024, Tx: 256}
)

const deviceFillTarget = 512

// idleTick is how long an idle worker sleeps between ticks. The timers
// that ticks drive are coarser: VARP probes every 3 s, reassembly
// timeouts of 2 s.
const idleTick = 250 * time.Millisecond

// txBudget sets XDP_MAX_TX_SKB_BUDGET, the descriptors one kick sends in
// copy mode. The kernel's default of 32 is less than a worker queues per
// loop, so the TX ring backs up; 256 measured up to 20% faster than 32
// for forwarding between veths (Linux 6.18, 2-core KVM guest).
const txBudget = 256

// DefaultUmemFrames is the default number of frames of each worker's
// UMEM: 128 MiB of 2048-byte frames.
const DefaultUmemFrames = 65536

// Tailroom reserved at the end of every frame for the ESP trailer and
// ICV that a secure vnet appends in place.
const frameTailroom = 64

// Engine is the vnet dataplane: workers polling AF_XDP sockets on the
// underlay interfaces and on each vnet's device, and the control state
// that configures them. It implements the command socket's Dataplane.
type Engine struct {
	cfg  atomic.Pointer[config]
	conf Config
	log  *zap.Logger

	// mu serialises configuration changes.
	mu       sync.Mutex
	prog     *xdpprog.Program
	workers  []*engineWorker
	underlay []*underlayState
	vnets    map[wire.VnetID]*vnetState
	peers    []*peer
	slots    *slotAllocator
	indices  *indexAllocator
	limits   Limits

	// sad holds the inbound ESP security associations of every secure
	// vnet; each worker opens packets through an Opener of it.
	sad *esp.SAD

	resolveQ *ring.MPSC[[4]byte]
	// resolveWake tells the next hop resolver that resolveQ has work;
	// workers send to it without blocking.
	resolveWake chan struct{}
	hops        *hopResolver

	start time.Time
	stop  chan struct{}
	// failed receives the error of the first worker that stops on its
	// own.
	failed   chan error
	bg       sync.WaitGroup
	started  bool
	closed   bool
	closeErr error
}

type engineWorker struct {
	w    *pmd.Worker
	pipe *pipeline
	cpu  int
	done chan error
}

// New sets up the underlay interfaces and the workers. The dataplane
// starts moving frames when Start is called.
func New(c Config) (*Engine, error) {
	if err := c.fill(); err != nil {
		return nil, err
	}
	q, err := ring.NewMPSC[[4]byte](1024)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		conf:        c,
		log:         c.Logger,
		vnets:       make(map[wire.VnetID]*vnetState),
		limits:      c.Limits,
		sad:         esp.NewSAD(esp.Config{}),
		resolveQ:    q,
		resolveWake: make(chan struct{}, 1),
		start:       time.Now(),
		stop:        make(chan struct{}),
		failed:      make(chan error, 1),
		indices:     newIndexAllocator(maxVnets),
	}
	if err := e.setup(); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (c *Config) fill() error {
	if len(c.Interfaces) == 0 {
		return errors.New("no underlay interface given (use --iface NAME)")
	}
	seen := map[string]bool{}
	for _, name := range c.Interfaces {
		if seen[name] {
			return fmt.Errorf("underlay interface %s given twice (give each interface once)", name)
		}
		seen[name] = true
	}
	if !c.Group.IsValid() {
		c.Group = wire.DefaultGroup
	}
	if err := wire.CheckGroup(c.Group); err != nil {
		return fmt.Errorf("invalid multicast group: %w", err)
	}
	if c.GroupTTL == 0 {
		c.GroupTTL = DefaultGroupTTL
	}
	if c.WorkerNice < -20 || c.WorkerNice > 19 {
		return fmt.Errorf("invalid worker nice value %d (use -20 to 19)", c.WorkerNice)
	}
	if c.GroupTTL < 1 || c.GroupTTL > 255 {
		return fmt.Errorf("invalid group TTL %d (use 1 to 255)", c.GroupTTL)
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	limit := servedQueues(c.Interfaces, c.Logger)
	if c.Queues == 0 {
		c.Queues = autoQueues(limit, c.CPUs, c.Logger)
	}
	if limit > 0 && c.Queues > limit {
		c.Logger.Warn("more workers than the underlay interfaces have receive queues; running one worker per queue",
			zap.Int("workers", c.Queues), zap.Int("queues", limit),
			zap.String("fix", "give the interfaces more queues with ethtool -L, then restart vnetd"))
		c.Queues = limit
		if len(c.CPUs) > limit {
			c.CPUs = c.CPUs[:limit]
		}
	}
	if c.Queues < 1 || c.Queues > 256 {
		return fmt.Errorf("invalid queue count %d (use 1 to 256)", c.Queues)
	}
	if len(c.CPUs) == 0 {
		n := runtime.NumCPU()
		for i := 0; i < c.Queues; i++ {
			c.CPUs = append(c.CPUs, ((n-1-i)%n+n)%n)
		}
	}
	if len(c.CPUs) != c.Queues {
		return fmt.Errorf("%d CPUs given for %d queues (give one CPU per queue)", len(c.CPUs), c.Queues)
	}
	if err := checkCPUs(c.CPUs); err != nil {
		return err
	}
	if c.Umem.Frames == 0 {
		c.Umem.Frames = DefaultUmemFrames
	}
	if c.Limits == (Limits{}) {
		c.Limits = DefaultLimits
	}
	if err := c.Limits.Validate(); err != nil {
		return err
	}
	if c.EntryTTL == 0 {
		c.EntryTTL = DefaultEntryTTL
	}
	if c.BusyPoll {
		c.SpinPolls = -1
	}
	return nil
}

// checkCPUs checks that the process may run on each CPU, so that a worker
// does not fail to pin itself after the dataplane started.
func checkCPUs(cpus []int) error {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return fmt.Errorf("read the CPUs this process may use: %w", err)
	}
	var list []string
	// CPU_SETSIZE of glibc and of unix.CPUSet.
	for i := 0; i < 1024; i++ {
		if allowed.IsSet(i) {
			list = append(list, strconv.Itoa(i))
		}
	}
	for _, cpu := range cpus {
		if cpu < 0 || !allowed.IsSet(cpu) {
			return fmt.Errorf("invalid CPU %d (this process may use CPUs %s)", cpu, strings.Join(list, ","))
		}
	}
	return nil
}

// rxQueues reads an interface's receive queue count; tests replace it.
var rxQueues = pmd.RxQueues

// autoQueues returns the worker count when none is configured: one per
// CPU in cpus if given, otherwise one per served queue (see
// servedQueues; 0 counts one), at most one per CPU.
func autoQueues(served int, cpus []int, log *zap.Logger) int {
	if len(cpus) > 0 {
		return len(cpus)
	}
	n := max(served, 1)
	if cpus := runtime.NumCPU(); n > cpus {
		log.Info("more receive queues than CPUs; one worker per CPU", zap.Int("queues", n), zap.Int("cpus", cpus))
		n = cpus
	}
	return min(n, 256)
}

// servedQueues returns the smallest receive queue count of the
// interfaces, or 0 when none could be read. Every worker needs a socket
// on every underlay interface, since a worker transmits only on its own
// sockets, and a socket binds only to a queue in use.
func servedQueues(interfaces []string, log *zap.Logger) int {
	n := 0
	for _, name := range interfaces {
		q, err := rxQueues(name)
		if err != nil {
			log.Warn("cannot read the interface's receive queues", zap.String("interface", name), zap.Error(err))
			continue
		}
		if n == 0 || q < n {
			n = q
		}
	}
	return n
}

// clock returns the table clock: whole seconds since the engine started.
func (e *Engine) clock(now time.Time) uint32 {
	return uint32(now.Sub(e.start) / time.Second)
}

// nanos returns nanoseconds since the engine started, the clock of the
// rate limiters and resolution timers.
func (e *Engine) nanos(now time.Time) int64 {
	return int64(now.Sub(e.start))
}

// frameSize returns the smallest frame size whose frames fit a frame of
// the largest underlay MTU after the headroom and tailroom.
func frameSize(interfaces []string) uint32 {
	largest := 0
	for _, name := range interfaces {
		if l, err := netlink.LinkByName(name); err == nil && l.Attrs().MTU > largest {
			largest = l.Attrs().MTU
		}
	}
	if largest+wire.EthHeaderLen+4 <= 2048-pmd.FrameHeadroom-frameTailroom {
		return 2048
	}
	return 4096
}

func (e *Engine) setup() error {
	if e.conf.Umem.FrameSize == 0 {
		e.conf.Umem.FrameSize = frameSize(e.conf.Interfaces)
	}
	if err := e.conf.Umem.Validate(); err != nil {
		return err
	}
	if err := underlayRings.Validate(e.conf.Umem); err != nil {
		return err
	}
	prog, err := xdpprog.Load(xdpprog.Options{})
	if err != nil {
		return err
	}
	e.prog = prog
	e.slots = newSlotAllocator(xdpprog.DefaultMaxSockets)

	cfg := &config{
		group:    e.conf.Group.As4(),
		groupMAC: wire.MulticastMAC(e.conf.Group.As4()),
		groupTTL: uint8(e.conf.GroupTTL),
		resolve:  !e.conf.Flood,
		vnets:    map[wire.VnetID]*vnet{},
		nextHops: map[[4]byte]nextHop{},
		bindings: make([][]binding, e.conf.Queues),
	}
	for i := 0; i < e.conf.Queues; i++ {
		u, err := pmd.NewUmem(e.conf.Umem)
		if err != nil {
			return err
		}
		pipe := newPipeline(e, i, u)
		w, err := pmd.NewWorker(pmd.WorkerConfig{
			ID:           i,
			CPU:          e.conf.CPUs[i],
			SpinPolls:    e.conf.SpinPolls,
			SleepTimeout: idleTick,
			Nice:         e.conf.WorkerNice,
			Logf:         e.log.Sugar().Warnf,
		}, u, pipe)
		if err != nil {
			u.Close()
			return err
		}
		e.workers = append(e.workers, &engineWorker{w: w, pipe: pipe, cpu: e.conf.CPUs[i]})
	}
	for i, name := range e.conf.Interfaces {
		us, err := e.openUnderlay(i, name)
		if err != nil {
			return err
		}
		e.underlay = append(e.underlay, us)
		cfg.underlay = append(cfg.underlay, us.port)
		cfg.local = append(cfg.local, us.port.addr)
		for wi, pid := range us.port.ports {
			if pid >= 0 {
				setBinding(cfg, wi, pid, binding{kind: bindUnderlay, underlay: i})
			}
		}
	}
	cfg.learnInterval, cfg.floodInterval = e.intervals(e.limits)
	e.cfg.Store(cfg)
	for _, us := range e.underlay {
		if err := us.activate(e); err != nil {
			return err
		}
	}
	e.hops = newHopResolver(e)
	return nil
}

func setBinding(cfg *config, worker int, port pmd.PortID, b binding) {
	bs := cfg.bindings[worker]
	for len(bs) <= int(port) {
		bs = append(bs, binding{})
	}
	bs[port] = b
	cfg.bindings[worker] = bs
}

// update applies change to a copy of the current snapshot and publishes
// it. The caller holds e.mu.
func (e *Engine) update(change func(c *config)) {
	c := e.cfg.Load().clone()
	change(c)
	e.cfg.Store(c)
}

// cloneBindings copies the binding tables, so that a change does not
// write into the published snapshot.
func cloneBindings(bs [][]binding) [][]binding {
	out := make([][]binding, len(bs))
	for i, b := range bs {
		out[i] = append([]binding(nil), b...)
	}
	return out
}

// Start starts the workers and the background tasks: next hop
// resolution, the expiry of table entries and the link watcher.
func (e *Engine) Start() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return errors.New("start dataplane: already started")
	}
	e.started = true
	for _, ew := range e.workers {
		ew.done = make(chan error, 1)
		now := time.Now()
		ew.pipe.now, ew.pipe.nowNano = e.clock(now), e.nanos(now)
		go func(ew *engineWorker) {
			e.log.Info("worker started", zap.Int("worker", ew.w.ID()), zap.Int("cpu", ew.cpu))
			err := ew.w.Run()
			if err != nil {
				e.log.Error("worker stopped", zap.Int("worker", ew.w.ID()), zap.Error(err))
				select {
				case e.failed <- fmt.Errorf("worker %d: %w", ew.w.ID(), err):
				default:
				}
			} else {
				e.log.Info("worker stopped", zap.Int("worker", ew.w.ID()))
			}
			ew.done <- err
		}(ew)
	}
	e.bg.Add(3)
	go e.hops.run()
	go e.sweep()
	go e.watchLinks()
	return nil
}

// espRejectInterval is the shortest time between two warnings about ESP
// packets that no key opened.
const espRejectInterval = time.Minute

// espRejects watches the ESP packets that were rejected because no SA or
// key of this host opened them, the sign of a host with another key for
// a secure vnet. The counters alone do not say so.
type espRejects struct {
	last     uint64
	reported time.Time
}

// check warns, at most once per espRejectInterval, when packets were
// rejected since the last warning.
func (r *espRejects) check(e *Engine, now time.Time) {
	if now.Sub(r.reported) < espRejectInterval {
		return
	}
	var total, from uint64
	for _, ew := range e.workers {
		total += ew.pipe.stats.esp[esp.ReasonNoSA].load() + ew.pipe.stats.esp[esp.ReasonAuth].load()
		if a := ew.pipe.stats.espRejectedFrom.load(); a != 0 {
			from = a
		}
	}
	if total > r.last {
		var src [4]byte
		binary.BigEndian.PutUint32(src[:], uint32(from))
		e.log.Warn("ESP packets that no key of this host opened; the sender may have another key for a secure vnet (vn stats counts them as esp_rejected_no_sa and esp_rejected_auth)",
			zap.Uint64("packets_since_last_warning", total-r.last), zap.Stringer("last_sender", netip.AddrFrom4(src)))
		r.last, r.reported = total, now
	}
}

// Failed returns a channel that receives an error when a worker stops
// on its own: the dataplane no longer moves all of its traffic, and the
// daemon should stop so that it can be restarted.
func (e *Engine) Failed() <-chan error { return e.failed }

// sweep removes table entries that were not confirmed within the entry
// TTL.
func (e *Engine) sweep() {
	defer e.bg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	ttl := uint32(e.conf.EntryTTL / time.Second)
	var rejects espRejects
	for {
		select {
		case <-e.stop:
			return
		case now := <-t.C:
			rejects.check(e, now)
			clock := e.clock(now)
			n, m := 0, 0
			for _, vn := range e.cfg.Load().vnets {
				n += vn.varp.removeIf(func(k macKey, v entryValue, seen uint32) bool {
					return v.flags()&flagProbing == 0 && clock-seen > ttl
				})
				m += vn.vifs.removeIf(func(k macKey, v entryValue, seen uint32) bool {
					return v.flags()&flagStatic == 0 && clock-seen > ttl
				})
			}
			if n+m > 0 {
				e.log.Debug("expired table entries", zap.Int("varp", n), zap.Int("vifs", m))
			}
		}
	}
}

// Close stops the workers and background tasks, removes every vnet's
// devices unless Config.KeepDevices is set, detaches XDP and closes the
// sockets. It is idempotent.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return e.closeErr
	}
	e.closed = true
	close(e.stop)
	e.mu.Unlock()
	e.bg.Wait()

	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for _, vs := range e.vnets {
		if err := e.removeVnet(vs, !e.conf.KeepDevices); err != nil {
			errs = append(errs, err)
		}
	}
	switch {
	case len(e.vnets) == 0:
	case e.conf.KeepDevices:
		e.log.Info("vnet devices kept for the next start, which adopts them", zap.Int("vnets", len(e.vnets)))
	default:
		e.log.Info("vnet devices deleted, since no saved state would restore them", zap.Int("vnets", len(e.vnets)))
	}
	for _, us := range e.underlay {
		if err := us.deactivate(e); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ew := range e.workers {
		ew.w.Stop()
		if ew.done != nil {
			if err := <-ew.done; err != nil {
				errs = append(errs, err)
			}
		}
		if err := ew.w.Close(); err != nil {
			errs = append(errs, err)
		}
		ew.pipe.opener.Close()
	}
	for _, us := range e.underlay {
		us.leave()
	}
	if e.prog != nil {
		if err := e.prog.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	e.closeErr = errors.Join(errs...)
	e.log.Info("dataplane closed")
	return e.closeErr
}

// intervals converts rate limits to the per-worker nanoseconds per event
// that the limiters use.
func (e *Engine) intervals(l Limits) (learn, flood int64) {
	n := int64(len(e.workers))
	if l.LearnRate > 0 {
		learn = int64(time.Second) * n / int64(l.LearnRate)
	}
	if l.FloodRate > 0 {
		flood = int64(time.Second) * n / int64(l.FloodRate)
	}
	return learn, flood
}

// burst is the credit of a rate limiter: one second of events.
const burst = int64(time.Second)

// SetLimits changes the limits of every vnet. Tables above a lower limit
// lose their least recently confirmed entries.
func (e *Engine) SetLimits(l Limits) error {
	if err := l.Validate(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.limits = l
	for _, vs := range e.vnets {
		vs.vn.varp.setMax(l.MaxVarpEntries)
		vs.vn.vifs.setMax(l.MaxVifs)
	}
	learn, flood := e.intervals(l)
	e.update(func(c *config) { c.learnInterval, c.floodInterval = learn, flood })
	e.log.Info("limits changed", zap.Int("max_varp_entries", l.MaxVarpEntries), zap.Int("max_vifs", l.MaxVifs),
		zap.Int("learn_rate", l.LearnRate), zap.Int("flood_rate", l.FloodRate))
	return nil
}

// slotAllocator hands out XSKMAP slots in runs of consecutive slots, one
// per queue of an interface.
type slotAllocator struct {
	used []bool
}

func newSlotAllocator(n int) *slotAllocator { return &slotAllocator{used: make([]bool, n)} }

func (a *slotAllocator) alloc(n int) (uint32, error) {
	run := 0
	for i := range a.used {
		if a.used[i] {
			run = 0
			continue
		}
		run++
		if run == n {
			start := i - n + 1
			for j := start; j <= i; j++ {
				a.used[j] = true
			}
			return uint32(start), nil
		}
	}
	return 0, fmt.Errorf("no %d free XSKMAP slots of %d (too many vnets for the program's socket map)", n, len(a.used))
}

func (a *slotAllocator) free(start uint32, n int) {
	for i := 0; i < n; i++ {
		a.used[int(start)+i] = false
	}
}

// indexAllocator hands out the small vnet indices that table keys use.
type indexAllocator struct {
	next uint16
	max  uint16
	free []uint16
}

func newIndexAllocator(max uint16) *indexAllocator { return &indexAllocator{next: 1, max: max} }

func (a *indexAllocator) alloc() (uint16, bool) {
	if n := len(a.free); n > 0 {
		i := a.free[n-1]
		a.free = a.free[:n-1]
		return i, true
	}
	if a.next == 0 || a.next > a.max {
		return 0, false
	}
	i := a.next
	a.next++
	return i, true
}

func (a *indexAllocator) release(i uint16) { a.free = append(a.free, i) }
