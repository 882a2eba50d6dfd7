package bench

import (
	"errors"
	"fmt"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Action is an XDP verdict (enum xdp_action in include/uapi/linux/bpf.h).
type Action int32

const (
	ActionDrop Action = 1 // XDP_DROP
	ActionPass Action = 2 // XDP_PASS
)

func (a Action) String() string {
	switch a {
	case ActionDrop:
		return "drop"
	case ActionPass:
		return "pass"
	}
	return fmt.Sprintf("action(%d)", int32(a))
}

// programLicense is the license string the programs declare. They call
// no GPL-only helper, and the kernel reads the string only for those.
const programLicense = "GPL"

// Count is the reading of a Counter: frames and bytes summed over all
// CPUs, and frames per CPU.
type Count struct {
	Frames, Bytes uint64
	PerCPU        []uint64
}

// Sub returns c minus an earlier count of the same counter.
func (c Count) Sub(earlier Count) Count {
	d := Count{Frames: c.Frames - earlier.Frames, Bytes: c.Bytes - earlier.Bytes}
	d.PerCPU = make([]uint64, len(c.PerCPU))
	for i := range c.PerCPU {
		d.PerCPU[i] = c.PerCPU[i]
		if i < len(earlier.PerCPU) {
			d.PerCPU[i] -= earlier.PerCPU[i]
		}
	}
	return d
}

// countValue is the per-CPU value of a counter's map.
type countValue struct {
	Frames, Bytes uint64
}

// Counter is an XDP program that counts the frames and bytes it runs on
// in a per-CPU array and returns a fixed verdict. With ActionDrop it is a
// sink that costs one map update per frame; with ActionPass it counts
// frames that continue into the kernel stack. It is attached in native
// mode, which a veth needs to receive redirected frames at all.
type Counter struct {
	Action Action
	prog   *ebpf.Program
	values *ebpf.Map
	link   link.Link
	ifname string
}

// NewCounter loads a counting program with the given verdict.
func NewCounter(action Action) (*Counter, error) {
	values, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       "vnb_count",
		Type:       ebpf.PerCPUArray,
		KeySize:    4,
		ValueSize:  16,
		MaxEntries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("create counter map: %w%s", err, privilegeHint(err))
	}
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		// The length of the whole frame, fragments included.
		asm.FnXdpGetBuffLen.Call(),
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, values.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "verdict"),
		// Plain additions: each CPU owns its slot of a per-CPU array.
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.R0, 8, asm.DWord),
		asm.Add.Reg(asm.R1, asm.R7),
		asm.StoreMem(asm.R0, 8, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, int32(action)).WithSymbol("verdict"),
		asm.Return(),
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "vnb_count_" + action.String(),
		Type:         ebpf.XDP,
		Instructions: insns,
		License:      programLicense,
	})
	if err != nil {
		values.Close()
		return nil, fmt.Errorf("load counting program: %w%s", err, privilegeHint(err))
	}
	return &Counter{Action: action, prog: prog, values: values}, nil
}

// Attach attaches the counter in native mode to the interface ifname of
// the calling thread's namespace (see Netns.Do).
func (c *Counter) Attach(ifname string) error {
	if c.link != nil {
		return fmt.Errorf("attach counter to %s: already attached to %s", ifname, c.ifname)
	}
	l, err := attachNative(c.prog, ifname)
	if err != nil {
		return err
	}
	c.link, c.ifname = l, ifname
	return nil
}

// Detach removes the counter from its interface; the counts stay
// readable.
func (c *Counter) Detach() error {
	if c.link == nil {
		return nil
	}
	err := c.link.Close()
	c.link = nil
	if err != nil {
		return fmt.Errorf("detach counter from %s: %w", c.ifname, err)
	}
	return nil
}

// Read returns the counts summed over all CPUs.
func (c *Counter) Read() (Count, error) {
	var perCPU []countValue
	if err := c.values.Lookup(uint32(0), &perCPU); err != nil {
		return Count{}, fmt.Errorf("read counter on %s: %w", c.ifname, err)
	}
	cnt := Count{PerCPU: make([]uint64, len(perCPU))}
	for i, v := range perCPU {
		cnt.Frames += v.Frames
		cnt.Bytes += v.Bytes
		cnt.PerCPU[i] = v.Frames
	}
	return cnt, nil
}

// Frames implements Source.
func (c *Counter) Frames() (uint64, error) {
	cnt, err := c.Read()
	return cnt.Frames, err
}

// Close detaches the counter and unloads it.
func (c *Counter) Close() error {
	return errors.Join(c.Detach(), c.prog.Close(), c.values.Close())
}

// NewRedirect loads an XDP program that sends every frame out of the
// interface with index ifindex, in the namespace where it runs: the
// program returns bpf_redirect(ifindex, 0). It is the live-frames
// generator and the kernel redirect baseline.
func NewRedirect(ifindex int) (*ebpf.Program, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "vnb_redirect",
		Type: ebpf.XDP,
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R1, int32(ifindex)),
			asm.Mov.Imm(asm.R2, 0),
			asm.FnRedirect.Call(),
			asm.Return(),
		},
		License: programLicense,
	})
	if err != nil {
		return nil, fmt.Errorf("load redirect program to ifindex %d: %w%s", ifindex, err, privilegeHint(err))
	}
	return prog, nil
}

// attachNative attaches prog in native mode to ifname in the calling
// thread's namespace, through a bpf_link, so that the kernel detaches it
// if the harness dies.
func attachNative(prog *ebpf.Program, ifname string) (link.Link, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("find interface %s: %w", ifname, err)
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifi.Index, Flags: link.XDPDriverMode})
	if err != nil {
		return nil, fmt.Errorf("attach XDP program to %s in native mode: %w", ifname, err)
	}
	return l, nil
}

// AttachNative attaches prog to ifname like Counter.Attach; the caller
// closes the returned link to detach it.
func AttachNative(prog *ebpf.Program, ifname string) (link.Link, error) {
	return attachNative(prog, ifname)
}

func privilegeHint(err error) string {
	if errors.Is(err, unix.EPERM) {
		return " (run as root)"
	}
	return ""
}
