// Command vnetd runs the vnet dataplane: it carries the Ethernet frames
// of virtual networks between hosts over an IPv4 underlay, polling
// AF_XDP sockets, and takes configuration commands on a unix socket.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vnet-xdp/vnet/control"
	"github.com/vnet-xdp/vnet/internal/version"
	"github.com/vnet-xdp/vnet/overlay"
	"github.com/vnet-xdp/vnet/overlay/wire"
	"github.com/vnet-xdp/vnet/pmd"
	"github.com/vnet-xdp/vnet/pmd/xdpprog"
)

// stringList is a flag that may be repeated or given as a comma-separated
// list.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

type options struct {
	ifaces      stringList
	socket      string
	socketGroup string
	stateDir    string
	keyDir      string
	startupFile string
	group       string
	groupTTL    int
	queues      int
	cpus        string
	bindMode    string
	zerocopy    bool
	xdpMode     string
	logLevel    string
	logFormat   string
	workerNice  int
	busyPoll    bool
	umemFrames  uint
	unknown     string
	metrics     string
	limits      overlay.Limits
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("vnetd", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: vnetd --iface NAME [options]\n\nvnetd carries vnet traffic over the underlay interfaces with AF_XDP and\ntakes commands on a unix socket (see vn).\n\noptions:\n")
		fs.PrintDefaults()
	}
	fs.Var(&o.ifaces, "iface", "underlay `interface` (repeat or separate with commas); each needs an IPv4 address")
	fs.StringVar(&o.socket, "socket", "/tmp/vnetd", "`path` of the command socket")
	fs.StringVar(&o.socketGroup, "socket-group", "", "`group` whose members may use the command socket besides root (the socket then has mode 0660, else 0600)")
	fs.StringVar(&o.stateDir, "state-dir", "/var/lib/vnetd", "`directory` of the state file, which keeps the configuration across restarts (empty disables saving)")
	fs.StringVar(&o.keyDir, "key-dir", "", "`directory` of vnet key files (default: keys in the state directory)")
	fs.StringVar(&o.startupFile, "file", "", "`file` of configuration commands to apply at start, after the saved state")
	fs.StringVar(&o.startupFile, "f", "", "same as --`file`")
	fs.StringVar(&o.group, "mcast-addr", "224.10.0.1", "multicast group `address` for broadcast, multicast and unknown unicast frames")
	fs.IntVar(&o.groupTTL, "mcast-ttl", overlay.DefaultGroupTTL, "IPv4 `TTL` of packets sent to the group")
	fs.IntVar(&o.queues, "queues", 0, "`number` of queues served on each underlay interface, one worker each (default: one per CPU of --cpus, or else one per receive queue as ethtool -l shows them, at most one per CPU; the interface with the fewest queues sets the limit)")
	fs.StringVar(&o.cpus, "cpus", "", "comma-separated `list` of CPUs to pin the workers to, one per queue (default: the last CPUs)")
	fs.StringVar(&o.bindMode, "bind-mode", "auto", "AF_XDP bind `mode` of the underlay sockets: auto, copy or zerocopy")
	fs.BoolVar(&o.zerocopy, "zerocopy", false, "require zero-copy AF_XDP on the underlay (same as --bind-mode zerocopy)")
	fs.StringVar(&o.xdpMode, "xdp-mode", "auto", "XDP attach `mode` on the underlay: auto, native or generic")
	fs.BoolVar(&o.busyPoll, "busy-poll", false, "keep the workers polling when there is no traffic instead of sleeping in poll(2): lowest latency, one full CPU per worker")
	fs.IntVar(&o.workerNice, "worker-nice", -10, "scheduling priority (`nice` value, -20 to 19) of the worker threads; negative runs them before ordinary tasks")
	fs.UintVar(&o.umemFrames, "umem-frames", overlay.DefaultUmemFrames, "`number` of packet buffers of each worker, a power of two; each vnet keeps about 768 of them, the underlay 6144")
	fs.StringVar(&o.unknown, "unknown-unicast", "resolve", "`action` for a frame to an unknown MAC: resolve (queue it and send VARP requests) or flood (send it to the group, as the original did)")
	fs.StringVar(&o.metrics, "metrics", "", "`address` (host:port) to serve Prometheus metrics on at /metrics; empty disables it")
	fs.IntVar(&o.limits.MaxVarpEntries, "max-varp-entries", overlay.DefaultLimits.MaxVarpEntries, "maximum `number` of VARP cache entries per vnet")
	fs.IntVar(&o.limits.MaxVifs, "max-vifs", overlay.DefaultLimits.MaxVifs, "maximum `number` of local MACs per vnet")
	fs.IntVar(&o.limits.LearnRate, "learn-rate", overlay.DefaultLimits.LearnRate, "maximum `rate` of new or changed VARP entries per vnet, per second; 0 for no limit")
	fs.IntVar(&o.limits.FloodRate, "flood-rate", overlay.DefaultLimits.FloodRate, "maximum `rate` of frames per vnet sent to the group, per second; 0 for no limit")
	fs.StringVar(&o.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "console", "log `format`: console or json")
	showVersion := fs.Bool("version", false, "print the version and exit")

	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *showVersion {
		fmt.Println(version.String("vnetd"))
		return nil, flag.ErrHelp
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (options start with --)", fs.Arg(0))
	}
	if len(o.ifaces) == 0 {
		fs.Usage()
		return nil, errors.New("no underlay interface given (use --iface NAME)")
	}
	return o, nil
}

func (o *options) engineConfig(log *zap.Logger) (overlay.Config, error) {
	c := overlay.Config{
		Interfaces: o.ifaces,
		GroupTTL:   o.groupTTL,
		Queues:     o.queues,
		WorkerNice: o.workerNice,
		Limits:     o.limits,
		BusyPoll:   o.busyPoll,
		Logger:     log,
		// With saved state the next vnetd restores every vnet, and
		// adopting its devices keeps the VMs attached.
		KeepDevices: o.stateDir != "",
	}
	if o.umemFrames > 1<<22 {
		return c, fmt.Errorf("invalid --umem-frames %d (use a power of two up to %d)", o.umemFrames, 1<<22)
	}
	c.Umem.Frames = uint32(o.umemFrames)
	switch o.unknown {
	case "resolve":
	case "flood":
		c.Flood = true
	default:
		return c, fmt.Errorf("invalid --unknown-unicast %q (use resolve or flood)", o.unknown)
	}
	if err := o.limits.Validate(); err != nil {
		return c, err
	}
	g, err := netip.ParseAddr(o.group)
	if err != nil {
		return c, fmt.Errorf("invalid --mcast-addr %q (use an IPv4 multicast address such as %s)", o.group, wire.DefaultGroup)
	}
	if err := wire.CheckGroup(g); err != nil {
		return c, fmt.Errorf("invalid --mcast-addr: %w", err)
	}
	if o.groupTTL < 1 || o.groupTTL > 255 {
		return c, fmt.Errorf("invalid --mcast-ttl %d (use 1 to 255)", o.groupTTL)
	}
	c.Group = g
	if o.cpus != "" {
		for _, f := range strings.Split(o.cpus, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 0 {
				return c, fmt.Errorf("invalid --cpus entry %q (use CPU numbers such as 1,2)", f)
			}
			c.CPUs = append(c.CPUs, n)
		}
	}
	if c.BindMode, err = pmd.ParseBindMode(o.bindMode); err != nil {
		return c, err
	}
	if o.zerocopy {
		c.BindMode = pmd.BindZeroCopy
	}
	switch o.xdpMode {
	case "auto":
		c.XDPMode = xdpprog.ModeAuto
	case "native":
		c.XDPMode = xdpprog.ModeNative
	case "generic":
		c.XDPMode = xdpprog.ModeGeneric
	default:
		return c, fmt.Errorf("invalid --xdp-mode %q (use auto, native or generic)", o.xdpMode)
	}
	return c, nil
}

func newLogger(level, format string) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid --log-level %q (use debug, info, warn or error)", level)
	}
	var cfg zap.Config
	switch format {
	case "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.DisableStacktrace = true
	case "json":
		cfg = zap.NewProductionConfig()
	default:
		return nil, fmt.Errorf("invalid --log-format %q (use console or json)", format)
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.DisableCaller = true
	return cfg.Build()
}

// dataplaneRef lets the command socket be opened before the dataplane
// exists. It is set before the server starts serving.
type dataplaneRef struct {
	control.Dataplane
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	o, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "vnetd:", err)
		return 2
	}
	log, err := newLogger(o.logLevel, o.logFormat)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vnetd:", err)
		return 2
	}
	defer log.Sync()
	c, err := o.engineConfig(log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vnetd:", err)
		return 2
	}
	// A mistake in the startup file stops vnetd before it changes
	// anything.
	var startup *control.CommandFile
	if o.startupFile != "" {
		if startup, err = control.ReadCommandFile(o.startupFile); err != nil {
			fmt.Fprintln(os.Stderr, "vnetd:", err)
			return 2
		}
	}

	// A signal that arrives while vnetd starts stops it once it has
	// started, so that the devices it made are removed.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)

	// The socket and the state directory are claimed first, so that a
	// second vnetd on either stops before it touches any interface.
	// Commands are served once the dataplane runs and the saved state is
	// restored.
	ref := &dataplaneRef{}
	srv, err := control.Listen(control.Config{
		Path:        o.socket,
		Dataplane:   ref,
		Logger:      log,
		SocketGroup: o.socketGroup,
		StateDir:    o.stateDir,
		KeyDir:      o.keyDir,
	})
	if err != nil {
		log.Error("open command socket", zap.Error(err))
		return 1
	}
	eng, err := overlay.New(c)
	if err != nil {
		log.Error("start dataplane", zap.Error(err))
		srv.Close()
		return 1
	}
	if err := eng.Start(); err != nil {
		log.Error("start dataplane", zap.Error(err))
		eng.Close()
		srv.Close()
		return 1
	}
	ref.Dataplane = eng
	if err := srv.Restore(startup); err != nil {
		log.Error("restore configuration", zap.Error(err))
		srv.Close()
		eng.Close()
		return 1
	}
	if o.metrics != "" {
		stop, err := serveMetrics(o.metrics, eng, srv, log)
		if err != nil {
			log.Error("start metrics", zap.Error(err))
			srv.Close()
			eng.Close()
			return 1
		}
		defer stop()
	}
	log.Info("vnetd started", zap.Strings("interfaces", o.ifaces), zap.String("socket", o.socket), zap.String("state_dir", o.stateDir))

	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	status := 0
	select {
	case s := <-sigs:
		log.Info("stopping", zap.Stringer("signal", s))
	case err := <-eng.Failed():
		log.Error("dataplane failed; stopping", zap.Error(err))
		status = 1
	case err := <-served:
		if err != nil {
			log.Error("command socket failed", zap.Error(err))
			status = 1
		}
	}
	if err := srv.Close(); err != nil {
		log.Warn("close command socket", zap.Error(err))
	}
	if err := eng.Close(); err != nil {
		log.Error("stop dataplane", zap.Error(err))
		status = 1
	}
	log.Info("vnetd stopped")
	return status
}
