package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// Lab owns the network namespaces and processes of one harness run.
// Every namespace it creates is named Prefix-NAME, and Close removes them
// all, together with the processes started in them.
type Lab struct {
	Prefix string
	// Log, if set, receives every command the lab runs.
	Log io.Writer

	mu         sync.Mutex
	namespaces []*Netns
	procs      []*Process
	closed     bool
}

// NewLab returns a lab for namespaces named prefix-NAME. It fails when a
// namespace with that prefix exists already, because it may belong to a
// harness run that is still going or that was killed before its cleanup.
func NewLab(prefix string) (*Lab, error) {
	if prefix == "" || strings.ContainsAny(prefix, "/ \t") {
		return nil, fmt.Errorf("invalid namespace prefix %q (use letters, digits and '-')", prefix)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("find the ip command: %w (install iproute2)", err)
	}
	existing, err := ListNetns()
	if err != nil {
		return nil, err
	}
	var clash []string
	for _, name := range existing {
		if strings.HasPrefix(name, prefix+"-") {
			clash = append(clash, name)
		}
	}
	if len(clash) > 0 {
		return nil, fmt.Errorf("namespaces %s exist already (another run is going on, or one was killed; remove them with: ip netns del NAME)",
			strings.Join(clash, ", "))
	}
	return &Lab{Prefix: prefix}, nil
}

// ListNetns returns the names of the named network namespaces.
func ListNetns() ([]string, error) {
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("list network namespaces: %w: %s", err, out)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		// Lines look like "NAME" or "NAME (id: 3)".
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names, nil
}

func (l *Lab) logf(format string, args ...any) {
	if l.Log != nil {
		fmt.Fprintf(l.Log, format+"\n", args...)
	}
}

// Netns creates the namespace Prefix-name with its loopback up and IPv6
// off, so that no router or neighbour solicitation reaches a counter.
func (l *Lab) Netns(name string) (*Netns, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, errors.New("create namespace: lab is closed")
	}
	full := l.Prefix + "-" + name
	n := &Netns{Name: full, lab: l}
	l.mu.Unlock()

	if err := l.Cmd("ip", "netns", "add", full); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.namespaces = append(l.namespaces, n)
	l.mu.Unlock()
	for _, args := range [][]string{
		{"sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"},
		{"sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1"},
		{"ip", "link", "set", "lo", "up"},
	} {
		if _, err := n.Run(args...); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// Cmd runs a command in the harness's own namespace.
func (l *Lab) Cmd(args ...string) error {
	l.logf("+ %s", strings.Join(args, " "))
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("run %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Close stops the processes the lab started and deletes its namespaces,
// which removes every interface in them. It is idempotent and returns
// the errors joined.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	procs := l.procs
	namespaces := l.namespaces
	l.mu.Unlock()

	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		if err := procs[i].Stop(5 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	for i := len(namespaces) - 1; i >= 0; i-- {
		name := namespaces[i].Name
		l.logf("+ ip netns del %s", name)
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("delete namespace %s: %w: %s", name, err, strings.TrimSpace(string(out))))
		}
	}
	return errors.Join(errs...)
}

// Netns is a network namespace that a Lab created.
type Netns struct {
	Name string
	lab  *Lab
}

// RunTimeout bounds every command that Run runs.
const RunTimeout = time.Minute

// Run runs a command inside the namespace and returns its output. The
// command is killed after RunTimeout.
func (n *Netns) Run(args ...string) (string, error) {
	n.lab.logf("+ [%s] %s", n.Name, strings.Join(args, " "))
	ctx, cancel := context.WithTimeout(context.Background(), RunTimeout)
	defer cancel()
	full := append([]string{"netns", "exec", n.Name}, args...)
	out, err := exec.CommandContext(ctx, "ip", full...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("run %s in %s: %w: %s", strings.Join(args, " "), n.Name, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Do runs fn on an OS thread that has entered the namespace. Sockets that
// fn creates, interface indexes it resolves and XDP programs it attaches
// belong to the namespace. The thread is discarded afterwards.
func (n *Netns) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The goroutine ends with the thread locked, so the runtime
		// discards the thread instead of reusing it in another namespace.
		runtime.LockOSThread()
		if err := enter(n.Name); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// enter moves the calling thread, which the caller has locked, into the
// named namespace.
func enter(name string) error {
	h, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", name, err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		return fmt.Errorf("enter namespace %s: %w", name, err)
	}
	return nil
}

// Process is a command started in a namespace.
type Process struct {
	Name    string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
	mu      sync.Mutex
	stopped bool
}

// Start starts a command inside the namespace, with its output in the
// file logPath. The lab stops it on Close if the caller has not.
func (n *Netns) Start(logPath string, args ...string) (*Process, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create log %s: %w", logPath, err)
	}
	n.lab.logf("+ [%s] %s > %s", n.Name, strings.Join(args, " "), logPath)
	full := append([]string{"netns", "exec", n.Name}, args...)
	cmd := exec.Command("ip", full...)
	cmd.Stdout = log
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s in %s: %w", args[0], n.Name, err)
	}
	// ip netns exec replaces itself with the command, so the pid is the
	// command's.
	p := &Process{Name: args[0] + " in " + n.Name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	n.lab.mu.Lock()
	n.lab.procs = append(n.lab.procs, p)
	n.lab.mu.Unlock()
	return p, nil
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited returns a channel that is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Err returns the process's exit error once it has exited.
func (p *Process) Err() error {
	<-p.done
	return p.err
}

// Stop sends SIGTERM and waits up to timeout for the process to exit,
// then kills it. It returns an error if the process had to be killed or
// exited with a failure after SIGTERM. Stopping twice is not an error.
func (p *Process) Stop(timeout time.Duration) error {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return nil
	}
	p.stopped = true
	p.mu.Unlock()

	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("stop %s: %w", p.Name, p.err)
		}
		return nil
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("stop %s: no exit within %v of SIGTERM, killed", p.Name, timeout)
	}
}
