package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/vnet-xdp/vnet/bench"
	"github.com/vnet-xdp/vnet/overlay/esp"
)

// vnetdHost is a host of the vnetd topology and the vnetd running on it.
type vnetdHost struct {
	host
	name   string
	socket string
	proc   *bench.Process
	log    string
}

// vnetdTopology is two hosts whose underlay interfaces u0 are the two
// ends of one veth pair. vnetd creates the vnet device vnif1500 and its
// dataplane end vnif1500+ on each host it runs on:
//
//	h1: vnif1500 ==veth== vnif1500+ (vnetd) ─ u0 ══veth══ u0 (vnetd) ─ vnif1500+ ==veth== vnif1500 :h2
//	    198.18.1.1/24 on u0                      198.18.1.2/24 on u0
type vnetdTopology struct {
	h1, h2 *vnetdHost
}

const vnif = "vnif1500"

func (h *harness) buildVnetd() (*vnetdTopology, error) {
	if h.vnetd != nil {
		return h.vnetd, nil
	}
	t := &vnetdTopology{
		h1: &vnetdHost{name: "h1", host: host{mac: mustMAC("02:00:00:01:00:01"), addr: [4]byte{198, 18, 1, 1}}},
		h2: &vnetdHost{name: "h2", host: host{mac: mustMAC("02:00:00:01:00:02"), addr: [4]byte{198, 18, 1, 2}}},
	}
	for _, x := range []*vnetdHost{t.h1, t.h2} {
		var err error
		if x.ns, err = h.lab.Netns(x.name); err != nil {
			return nil, err
		}
		x.socket = filepath.Join(h.raw, "run", x.name+".sock")
		os.MkdirAll(filepath.Dir(x.socket), 0o755)
		os.Remove(x.socket)
	}
	if err := h.linkHosts(t.h1.host, t.h2.host); err != nil {
		return nil, err
	}
	h.vnetd = t
	return t, nil
}

// errNotInBuild marks a configuration that this build of vnetd rejects.
var errNotInBuild = errors.New("not available in this build")

// start starts vnetd with the given worker CPUs and waits for its
// command socket.
func (x *vnetdHost) start(h *harness, cpus []int, tag string) error {
	x.log = h.logPath(fmt.Sprintf("vnetd-%s-%s.log", x.name, tag))
	cpuList := make([]string, len(cpus))
	for i, c := range cpus {
		cpuList[i] = fmt.Sprint(c)
	}
	os.Remove(x.socket)
	args := []string{filepath.Join(h.bin, "vnetd"), "--iface", "u0", "--socket", x.socket,
		"--queues", fmt.Sprint(len(cpus)), "--cpus", strings.Join(cpuList, ","), "--log-format", "json"}
	if h.vnetdHasFlag("state-dir") {
		// A state directory of its own, emptied before each start, so
		// that every configuration starts from nothing and the host's
		// default directory is left alone.
		dir := filepath.Join(h.raw, "run", x.name+"-state")
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("empty state directory %s: %w", dir, err)
		}
		args = append(args, "--state-dir", dir)
	}
	args = append(args, h.opts.vnetdArgs...)
	p, err := x.ns.Start(x.log, args...)
	if err != nil {
		return err
	}
	x.proc = p
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("unix", x.socket); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.Exited():
			x.proc = nil
			return fmt.Errorf("vnetd on %s exited at start (%v): %s", x.name, p.Err(), lastLines(x.log, 3))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("vnetd on %s did not open its socket within 10 s: %s", x.name, lastLines(x.log, 3))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// vnetdHasFlag reports whether vnetd's help lists the option --name.
// The harness measures whatever build it is given, so it adapts to
// options that older builds lack.
func (h *harness) vnetdHasFlag(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.vnetdHelp == "" {
		out, _ := exec.Command(filepath.Join(h.bin, "vnetd"), "--help").CombinedOutput()
		h.vnetdHelp = string(out) + " "
	}
	return strings.Contains(h.vnetdHelp, "-"+name+" ")
}

func (x *vnetdHost) stop() error {
	if x.proc == nil {
		return nil
	}
	err := x.proc.Stop(10 * time.Second)
	x.proc = nil
	return err
}

// vn runs the vn tool against this host's vnetd.
func (x *vnetdHost) vn(h *harness, args ...string) (string, error) {
	full := append([]string{filepath.Join(h.bin, "vn"), "--socket", x.socket}, args...)
	return x.ns.Run(full...)
}

// stats returns vnetd's counters as "host/scope/name", from
// `vn stats --json`, or nil if vn fails.
func (x *vnetdHost) stats(h *harness) map[string]uint64 {
	out, err := x.vn(h, "stats", "--json")
	if err != nil {
		return nil
	}
	var v struct {
		Stats []map[string]any `json:"stats"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		return nil
	}
	m := map[string]uint64{}
	for _, set := range v.Stats {
		scope, _ := set["scope"].(string)
		for k, val := range set {
			if f, ok := val.(float64); ok && k != "scope" {
				m[x.name+"/"+scope+"/"+k] = uint64(f)
			}
		}
	}
	return m
}

// interestingVnetd selects vnetd counters that count losses or frames
// that took the slow path.
func interestingVnetd(name string) bool { return bench.IsLossCounter(name) }

func (x *vnetdHost) lossCounters(h *harness) map[string]uint64 {
	m := map[string]uint64{}
	for k, v := range x.stats(h) {
		if interestingVnetd(k) {
			m[k] = v
		}
	}
	return m
}

func lastLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// vnetdConfig is one combination of security level and worker count.
type vnetdConfig struct {
	security string
	workers  int
}

func (v vnetdConfig) tag() string { return fmt.Sprintf("%s-%dw", v.security, v.workers) }

func (h *harness) runVnetd(ctx context.Context) error {
	var configs []vnetdConfig
	for _, w := range []int{1, 2} {
		for _, sec := range []string{"none", "auth", "conf"} {
			configs = append(configs, vnetdConfig{sec, w})
		}
	}
	type plan struct {
		cfg   vnetdConfig
		cases map[string]*caseDef
	}
	var plans []plan
	for _, cfg := range configs {
		p := plan{cfg: cfg, cases: map[string]*caseDef{}}
		for _, dir := range []string{"encap", "decap", "both"} {
			c := h.vnetdCase(cfg, dir)
			if !h.selected(c.ID) {
				continue
			}
			if dir == "decap" && cfg.security != "none" {
				// The generator sends one frame over and over, and ESP's
				// replay check accepts each sequence number once.
				h.unavailable(c, "the generator repeats one frame, which a secure vnet rejects as a replay; the two-host case measures decapsulation with ESP")
				continue
			}
			p.cases[dir] = c
		}
		if len(p.cases) > 0 {
			plans = append(plans, p)
		}
	}
	if len(plans) == 0 {
		return nil
	}
	t, err := h.buildVnetd()
	if err != nil {
		return err
	}
	for _, p := range plans {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		h.progress("-- vnetd, security %s, %d worker(s)", p.cfg.security, p.cfg.workers)
		if err := h.runVnetdConfig(ctx, t, p.cfg, p.cases); err != nil {
			reason := err.Error()
			if errors.Is(err, errNotInBuild) {
				reason = "not available in this build: " + strings.TrimPrefix(reason, errNotInBuild.Error()+": ")
			}
			for _, dir := range []string{"encap", "decap", "both"} {
				if c := p.cases[dir]; c != nil && !h.hasResults(c.ID) {
					h.unavailable(c, reason)
				}
			}
		}
	}
	return nil
}

func (h *harness) hasResults(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.report.Results {
		if r.Case == id {
			return true
		}
	}
	return false
}

// cpus returns the worker CPUs of the first and second vnetd and the
// generator CPUs for a worker count. With two workers each vnetd has a
// thread on both CPUs. The generator then runs on both CPUs too, because
// a veth receives a redirected frame on the queue of the sending CPU.
func (h *harness) cpus(workers int) (first, second, gens []int) {
	g, d := h.settings.GenCPU, h.settings.DUTCPU
	if workers == 1 {
		return []int{d}, []int{g}, []int{g}
	}
	return []int{d, g}, []int{g, d}, []int{g, d}
}

func (h *harness) vnetdCase(cfg vnetdConfig, dir string) *caseDef {
	first, second, gens := h.cpus(cfg.workers)
	c := &caseDef{
		ID:        fmt.Sprintf("vnetd-%s-%s", dir, cfg.tag()),
		Group:     "vnetd",
		Direction: dir,
		Security:  cfg.security,
		Workers:   cfg.workers,
	}
	w := "1 worker"
	if cfg.workers > 1 {
		w = fmt.Sprintf("%d workers", cfg.workers)
	}
	gen := fmt.Sprintf("generator CPU%s (also the XDP program of the receiving veth and the copy into the UMEM)", cpuList(gens))
	switch dir {
	case "encap":
		c.Title = fmt.Sprintf("vnetd encapsulation, security %s, %s", cfg.security, w)
		c.Path = "generator → vnif1500 ⇒ vnif1500+ (XDP → AF_XDP) → vnetd → AF_XDP on u0 ⇒ u0 of h2: counted"
		c.Placement = fmt.Sprintf("%s; vnetd worker CPU%s", gen, cpuList(first))
	case "decap":
		c.Title = fmt.Sprintf("vnetd decapsulation, security %s, %s", cfg.security, w)
		c.Path = "generator → u0 of h2 ⇒ u0 (XDP → AF_XDP) → vnetd → AF_XDP on vnif1500+ ⇒ vnif1500: counted"
		c.Placement = fmt.Sprintf("%s; vnetd worker CPU%s", gen, cpuList(first))
	case "both":
		c.Title = fmt.Sprintf("vnetd two hosts, security %s, %s", cfg.security, w)
		c.Path = "generator → vnif1500 ⇒ vnif1500+ → vnetd (h1) → u0 ⇒ u0 → vnetd (h2) → vnif1500+ ⇒ vnif1500 of h2: counted"
		c.Placement = fmt.Sprintf("%s, paced at 1.5 times the encapsulation rate; vnetd on h1: worker CPU%s; vnetd on h2: worker CPU%s", gen, cpuList(first), cpuList(second))
	}
	return c
}

func cpuList(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = fmt.Sprint(c)
	}
	return strings.Join(s, ",")
}

// benchKey returns the path of the key file that the secure vnets of
// the benchmark share, and the key, creating the file with a random
// 256-bit key.
func (h *harness) benchKey() (string, []byte, error) {
	path := filepath.Join(h.raw, "run", "vnet1500.key")
	if text, err := os.ReadFile(path); err == nil {
		key, err := hex.DecodeString(strings.TrimSpace(string(text)))
		return path, key, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return "", nil, fmt.Errorf("write the benchmark's vnet key: %w", err)
	}
	return path, key, nil
}

// espMode returns the ESP mode of a security level, or 0 for none.
func espMode(security string) esp.Mode {
	switch security {
	case "auth":
		return esp.ModeAuth
	case "conf":
		return esp.ModeConf
	}
	return 0
}

// createVnet creates vnet 1500 with the security level on x. A level or
// worker count that vnetd rejects as unsupported is errNotInBuild.
func (h *harness) createVnet(x *vnetdHost, security string) error {
	args := []string{"vnet-create", "-s", security}
	if security != "none" {
		path, _, err := h.benchKey()
		if err != nil {
			return err
		}
		args = append(args, "-k", path)
	}
	out, err := x.vn(h, append(args, "1500")...)
	if err != nil {
		msg := strings.TrimSpace(out)
		if strings.Contains(msg, "not supported") || strings.Contains(msg, "ENOTSUP") || strings.Contains(msg, "EOPNOTSUPP") {
			return fmt.Errorf("%w: vnet.add with security %s: %s", errNotInBuild, security, msg)
		}
		return fmt.Errorf("vnet.add with security %s on %s: %s", security, x.name, msg)
	}
	return nil
}

// startAll starts vnetd on each host and creates the vnet; a start that
// fails with several workers is errNotInBuild.
func (h *harness) startAll(cfg vnetdConfig, hosts []*vnetdHost, cpus [][]int) error {
	for i, x := range hosts {
		if err := x.start(h, cpus[i], cfg.tag()); err != nil {
			if cfg.workers > 1 {
				return fmt.Errorf("%w: vnetd --queues %d: %v", errNotInBuild, cfg.workers, err)
			}
			return err
		}
	}
	for _, x := range hosts {
		if err := h.createVnet(x, cfg.security); err != nil {
			return err
		}
	}
	return nil
}

func stopAll(hosts ...*vnetdHost) error {
	var errs []error
	for _, x := range hosts {
		errs = append(errs, x.stop())
	}
	return errors.Join(errs...)
}

func (h *harness) runVnetdConfig(ctx context.Context, t *vnetdTopology, cfg vnetdConfig, cases map[string]*caseDef) error {
	first, second, gens := h.cpus(cfg.workers)
	g := h.settings.GenCPU

	if cases["encap"] != nil || cases["decap"] != nil {
		err := h.vnetdOneHost(ctx, t, cfg, cases, first, gens)
		if stopErr := stopAll(t.h1); stopErr != nil {
			h.notef("vnetd %s: %v", cfg.tag(), stopErr)
		}
		if err != nil {
			return err
		}
	}

	c := cases["both"]
	if c == nil || ctx.Err() != nil {
		return ctx.Err()
	}
	defer func() {
		if err := stopAll(t.h1, t.h2); err != nil {
			h.notef("vnetd %s: %v", cfg.tag(), err)
		}
	}()
	if err := h.startAll(cfg, []*vnetdHost{t.h1, t.h2}, [][]int{first, second}); err != nil {
		return err
	}
	var cs counters
	defer cs.close()
	sink, err := cs.attach(t.h2.ns, vnif, bench.ActionDrop)
	if err != nil {
		return err
	}
	back, err := innerFrame(60, true)
	if err != nil {
		return err
	}
	prime := func(ctx context.Context) error {
		// A frame from R into h2's device is flooded to the group, and
		// vnetd on h1 learns that R is behind h2.
		if err := bench.Send(ctx, t.h2.ns, vnif, back, g, 64, time.Second); err != nil {
			return err
		}
		sleepCtx(ctx, 50*time.Millisecond)
		return nil
	}
	counters := func() map[string]uint64 {
		return merge(ethtoolCounters(t.h1.ns, "u0", vnif), ethtoolCounters(t.h2.ns, "u0", vnif),
			t.h1.lossCounters(h), t.h2.lossCounters(h))
	}
	h.runSizes(ctx, c, func(size int) (spec, error) {
		f, err := innerFrame(size, false)
		// The generator shares a CPU with the second vnetd's worker, so
		// it is paced at 1.5 times what one vnetd encapsulated: more
		// than the chain can carry, without taking the whole CPU.
		rate := bothPace * h.medianPPS("vnetd-encap-"+cfg.tag(), size) / float64(len(gens))
		return spec{gens: []gen{{ns: t.h1.ns, via: vnif, frame: f, cpus: gens, rate: rate}}, sink: sink, prime: prime,
			counters: counters, pids: []int{t.h1.proc.Pid(), t.h2.proc.Pid()}, settle: statsSettle}, err
	})
	return nil
}

// bothPace is the offered load of the two-host cases relative to the
// encapsulation rate of one vnetd.
const bothPace = 1.5

// vnetdOneHost measures encapsulation and decapsulation with vnetd on h1
// only; h2 is the traffic source and sink.
func (h *harness) vnetdOneHost(ctx context.Context, t *vnetdTopology, cfg vnetdConfig, cases map[string]*caseDef, first, gens []int) error {
	if err := h.startAll(cfg, []*vnetdHost{t.h1}, [][]int{first}); err != nil {
		return err
	}
	var cs counters
	defer cs.close()
	encapSink, err := cs.attach(t.h2.ns, "u0", bench.ActionDrop)
	if err != nil {
		return err
	}
	decapSink, err := cs.attach(t.h1.ns, vnif, bench.ActionDrop)
	if err != nil {
		return err
	}
	src := bench.Endpoint{MAC: t.h2.mac, Addr: t.h2.addr, Port: 49152}
	dst := bench.Endpoint{MAC: t.h1.mac, Addr: t.h1.addr, Port: 1798}
	decapFrame := func(size int) ([]byte, error) {
		inner, err := innerFrame(size, true)
		if err != nil {
			return nil, err
		}
		return bench.VUDPFrame(inner, src, dst, vnet1), nil
	}
	learnFrame, err := decapFrame(60)
	if err != nil {
		return err
	}
	if mode := espMode(cfg.security); mode != 0 {
		// A secure vnet learns only from what its key opens.
		_, psk, err := h.benchKey()
		if err != nil {
			return err
		}
		if learnFrame, err = bench.SealedVUDPFrame(learnFrame, mode, psk); err != nil {
			return err
		}
	}
	forward, err := innerFrame(60, false)
	if err != nil {
		return err
	}
	g := h.settings.GenCPU
	prime := func(ctx context.Context) error {
		// Decapsulated frames from R teach vnetd that R is behind h2;
		// the first frames to R make it resolve h2's Ethernet address.
		if err := bench.Send(ctx, t.h2.ns, "u0", learnFrame, g, 64, time.Second); err != nil {
			return err
		}
		sleepCtx(ctx, 20*time.Millisecond)
		if err := bench.Send(ctx, t.h1.ns, vnif, forward, g, 64, time.Second); err != nil {
			return err
		}
		sleepCtx(ctx, 50*time.Millisecond)
		return nil
	}
	counters := func() map[string]uint64 {
		return merge(ethtoolCounters(t.h1.ns, "u0", vnif), ethtoolCounters(t.h2.ns, "u0"), t.h1.lossCounters(h))
	}
	pids := []int{t.h1.proc.Pid()}
	if c := cases["encap"]; c != nil {
		specFor := func(size int) (spec, error) {
			f, err := innerFrame(size, false)
			return spec{gens: []gen{{ns: t.h1.ns, via: vnif, frame: f, cpus: gens}}, sink: encapSink,
				prime: prime, counters: counters, pids: pids, settle: statsSettle}, err
		}
		h.runSizes(ctx, c, specFor)
		if !h.opts.noProfile && !h.opts.quick && cfg == (vnetdConfig{"none", 1}) {
			if sp, err := specFor(h.settings.Sizes[0]); err == nil {
				h.profile(ctx, c, h.settings.Sizes[0], sp)
			}
		}
	}
	if c := cases["decap"]; c != nil {
		h.runSizes(ctx, c, func(size int) (spec, error) {
			f, err := decapFrame(size)
			return spec{gens: []gen{{ns: t.h2.ns, via: "u0", frame: f, cpus: gens}}, sink: decapSink,
				counters: counters, pids: pids, settle: statsSettle}, err
		})
	}
	return nil
}
