package control

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vnet-xdp/vnet/control/controltest"
	"github.com/vnet-xdp/vnet/overlay"
)

const physicalLine = "(vnet (id 0000:0000:0000:0000:0000:0000:0000:0001) (vnetif ) (security none) (header 0))\n"

// startServer listens on a socket in a temporary directory and serves it
// until the test ends. Zero fields of cfg get test defaults.
func startServer(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(t.TempDir(), "vnetd")
	}
	if cfg.Dataplane == nil {
		cfg.Dataplane = controltest.New()
	}
	srv, err := Listen(cfg)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve returned %v, want nil after Close", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return within 5 s of Close")
		}
	})
	return srv, cfg.Path
}

func dial(t *testing.T, path string) *net.UnixConn {
	t.Helper()
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	return conn
}

// exchange sends input, closes the write side and returns everything the
// server sends until it closes the connection.
func exchange(t *testing.T, path, input string) string {
	t.Helper()
	conn := dial(t, path)
	if _, err := conn.Write([]byte(input)); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := conn.CloseWrite(); err != nil {
		t.Fatalf("close write side: %v", err)
	}
	out, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read reply: %v (got %q)", err, out)
	}
	return string(out)
}

// readReply reads expressions up to and including the next status
// expression and returns their source text, one per line.
func readReply(t *testing.T, d *Decoder) string {
	t.Helper()
	var b strings.Builder
	for {
		e, src, err := d.Decode()
		if err != nil {
			t.Fatalf("read reply: %v (got %q)", err, b.String())
		}
		b.Write(src)
		b.WriteByte('\n')
		if isStatus, _ := ParseStatus(e); isStatus {
			return b.String()
		}
	}
}

func expectEOF(t *testing.T, conn net.Conn) {
	t.Helper()
	rest, err := io.ReadAll(conn)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after last reply: %v", err)
	}
	if len(rest) != 0 {
		t.Errorf("read after last reply = %q, want end of stream", rest)
	}
}

func TestServerOneShotWithHalfClose(t *testing.T) {
	_, path := startServer(t, Config{})
	got := exchange(t, path, "(vnet.list)")
	if want := physicalLine + "(ok)\n"; got != want {
		t.Errorf("reply = %q, want %q", got, want)
	}
}

func TestServerEmptyInput(t *testing.T) {
	_, path := startServer(t, Config{})
	if got := exchange(t, path, "  # nothing\n"); got != "" {
		t.Errorf("reply to no command = %q, want nothing", got)
	}
}

func TestServerSeveralCommandsOneReplyEach(t *testing.T) {
	_, path := startServer(t, Config{})
	got := exchange(t, path, "(vnet.add (id 1500))\n(vnet.add (id 1500)) (vnet.nope)\n(vnet.list)")
	want := "(ok)\n" +
		`(error (code EEXIST) (message "vnet ` + id1500 + ` already exists") (value 1500))` + "\n" +
		`(error (code ENOSYS) (message "unknown command vnet.nope (use capture, peer.add, peer.del, peer.list, stats.list, varp.flush, varp.limits, varp.list, varp.mcaddr, vif.add, vif.del, vif.list, vnet.add, vnet.del, vnet.keys, vnet.list)") (value vnet.nope))` + "\n" +
		physicalLine +
		"(vnet (id " + id1500 + ") (vnetif vnif1500) (security none) (header 64))\n" +
		"(ok)\n"
	if got != want {
		t.Errorf("reply:\n%s\nwant:\n%s", got, want)
	}
}

func TestServerTrailingAtomAtEOF(t *testing.T) {
	_, path := startServer(t, Config{})
	got := exchange(t, path, "vnet.list")
	want := `(error (code EINVAL) (message "invalid command vnet.list: a command is a list, such as (vnet.list)") (value vnet.list))` + "\n"
	if got != want {
		t.Errorf("reply = %q, want %q", got, want)
	}
}

func TestServerRequestReplyWithoutHalfClose(t *testing.T) {
	_, path := startServer(t, Config{})
	conn := dial(t, path)
	d := NewDecoder(conn)
	steps := []struct{ command, want string }{
		{"(peer.add (addr 198.18.1.3))", "(ok)\n"},
		{"(peer.list)", "(vnet_peer\n  (addr 198.18.1.3)\n  (port 1798)\n  (tx_packets 0)\n  (rx_packets 0)\n)\n(ok)\n"},
		{"(peer.del (addr 198.18.1.3))", "(ok)\n"},
		{"(peer.list)", "(ok)\n"},
	}
	for _, s := range steps {
		if _, err := conn.Write([]byte(s.command)); err != nil {
			t.Fatalf("write %s: %v", s.command, err)
		}
		if got := readReply(t, d); got != s.want {
			t.Errorf("reply to %s = %q, want %q", s.command, got, s.want)
		}
	}
}

func TestServerCommandSplitAcrossWrites(t *testing.T) {
	_, path := startServer(t, Config{})
	conn := dial(t, path)
	for _, part := range []string{"(vnet", ".li", "st", ")"} {
		if _, err := conn.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got, want := readReply(t, NewDecoder(conn)), physicalLine+"(ok)\n"; got != want {
		t.Errorf("reply = %q, want %q", got, want)
	}
}

func TestServerSyntaxErrorClosesConnection(t *testing.T) {
	dp := controltest.New()
	_, path := startServer(t, Config{Dataplane: dp})
	conn := dial(t, path)
	// The connection stays open for writing, so only the server can end it.
	if _, err := conn.Write([]byte("(vnet.list) ) (vnet.add (id 1500))")); err != nil {
		t.Fatal(err)
	}
	d := NewDecoder(conn)
	if got, want := readReply(t, d), physicalLine+"(ok)\n"; got != want {
		t.Errorf("first reply = %q, want %q", got, want)
	}
	got := readReply(t, d)
	want := `(error (code EINVAL) (message "syntax error at line 1, column 13: unexpected ')' outside a list"))` + "\n"
	if got != want {
		t.Errorf("error reply = %q, want %q", got, want)
	}
	expectEOF(t, conn)
	if calls := dp.Calls(); len(calls) != 0 {
		t.Errorf("dataplane calls %q after the syntax error, want none", calls)
	}
}

func TestServerUnfinishedExpressionAtEOF(t *testing.T) {
	_, path := startServer(t, Config{})
	got := exchange(t, path, "(vnet.list) (vnet.add (id 1500)")
	want := physicalLine + "(ok)\n" +
		`(error (code EINVAL) (message "syntax error at line 1, column 31: unexpected end of input inside the list that starts at line 1, column 13 (1 unclosed)"))` + "\n"
	if got != want {
		t.Errorf("reply = %q, want %q", got, want)
	}
}

func TestServerOversizeExpression(t *testing.T) {
	_, path := startServer(t, Config{})
	conn := dial(t, path)
	big := "(vnet.add (id " + strings.Repeat("1", MaxExprSize) + "))"
	go func() {
		// The server stops reading at the limit, so this write may
		// fail. The error reply is what the test checks.
		conn.Write([]byte(big))
	}()
	got := readReply(t, NewDecoder(conn))
	if !strings.Contains(got, "(code EINVAL)") || !strings.Contains(got, "maximum size of 65536 bytes") {
		t.Errorf("reply = %q, want EINVAL naming the 65536-byte limit", got)
	}
	expectEOF(t, conn)
}

func TestServerDeepExpression(t *testing.T) {
	_, path := startServer(t, Config{})
	got := exchange(t, path, "(vnet.add "+strings.Repeat("(", MaxExprDepth)+strings.Repeat(")", MaxExprDepth+1))
	if !strings.Contains(got, "(code EINVAL)") || !strings.Contains(got, "maximum depth of 64") {
		t.Errorf("reply = %q, want EINVAL naming the depth limit 64", got)
	}
}

func TestServerIdleTimeout(t *testing.T) {
	const idle = 150 * time.Millisecond
	_, path := startServer(t, Config{IdleTimeout: idle})
	conn := dial(t, path)
	start := time.Now()
	got := readReply(t, NewDecoder(conn))
	elapsed := time.Since(start)
	if !strings.Contains(got, "(code ETIMEDOUT)") {
		t.Errorf("reply = %q, want ETIMEDOUT", got)
	}
	if elapsed < idle {
		t.Errorf("connection closed after %v, want at least the idle timeout %v", elapsed, idle)
	}
	expectEOF(t, conn)
}

func TestServerIdleTimeoutRestartsOnInput(t *testing.T) {
	const idle = 200 * time.Millisecond
	_, path := startServer(t, Config{IdleTimeout: idle})
	conn := dial(t, path)
	d := NewDecoder(conn)
	// Commands spaced by less than the timeout keep the connection open
	// well past it.
	for i := 0; i < 4; i++ {
		time.Sleep(idle / 2)
		if _, err := conn.Write([]byte("(varp.flush)")); err != nil {
			t.Fatal(err)
		}
		if got := readReply(t, d); got != "(ok)\n" {
			t.Fatalf("reply %d = %q, want (ok)", i, got)
		}
	}
}

func TestServerMaxConnections(t *testing.T) {
	srv, path := startServer(t, Config{})
	conns := make([]*net.UnixConn, DefaultMaxConns)
	for i := range conns {
		conns[i] = dial(t, path)
		// A round trip proves the server counts this connection.
		conns[i].Write([]byte("(varp.flush)"))
		if got := readReply(t, NewDecoder(conns[i])); got != "(ok)\n" {
			t.Fatalf("connection %d: reply %q, want (ok)", i, got)
		}
	}

	extra := dial(t, path)
	got := readReply(t, NewDecoder(extra))
	want := `(error (code EBUSY) (message "too many connections to vnetd (maximum 64); retry later"))` + "\n"
	if got != want {
		t.Errorf("reply to connection 65 = %q, want %q", got, want)
	}
	expectEOF(t, extra)

	// Closing one makes room for another.
	conns[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		srv.mu.Lock()
		active := srv.active
		srv.mu.Unlock()
		if active < DefaultMaxConns {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server still counts %d connections 5 s after one closed", active)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := exchange(t, path, "(varp.flush)"); got != "(ok)\n" {
		t.Errorf("reply after a connection closed = %q, want (ok)", got)
	}
}

func TestServerSerialisesConfigCommands(t *testing.T) {
	dp := controltest.New()
	dp.CallDelay = 2 * time.Millisecond
	_, path := startServer(t, Config{Dataplane: dp})

	const clients, perClient = 8, 5
	var wg sync.WaitGroup
	errs := make(chan string, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var cmds strings.Builder
			for i := 0; i < perClient; i++ {
				fmt.Fprintf(&cmds, "(vnet.add (id %x)) (vnet.list) ", 0x100+c*perClient+i)
			}
			conn, err := net.Dial("unix", path)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer conn.Close()
			conn.Write([]byte(cmds.String()))
			conn.(*net.UnixConn).CloseWrite()
			out, _ := io.ReadAll(conn)
			if n := strings.Count(string(out), "(ok)\n"); n != 2*perClient {
				errs <- fmt.Sprintf("client %d: %d (ok) replies, want %d: %q", c, n, 2*perClient, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := dp.Overlaps(); n != 0 {
		t.Errorf("%d dataplane configuration calls overlapped, want 0", n)
	}
	if n := len(dp.Calls()); n != clients*perClient {
		t.Errorf("%d dataplane calls, want %d", n, clients*perClient)
	}
}

func TestServerClientThatDoesNotRead(t *testing.T) {
	dp := controltest.New()
	vnets := make([]overlay.VnetInfo, 20000)
	for i := range vnets {
		vnets[i] = overlay.VnetInfo{ID: mustVnetID(t, fmt.Sprintf("%x", i+2)), Device: fmt.Sprintf("vn%d", i), Header: 64}
	}
	dp.SetVnets(vnets)
	srv, path := startServer(t, Config{Dataplane: dp, WriteTimeout: 100 * time.Millisecond})

	conn := dial(t, path)
	// Each reply is about 1.8 MB, more than the socket buffers take.
	conn.Write([]byte("(vnet.list) (vnet.list)"))

	deadline := time.Now().Add(5 * time.Second)
	for {
		srv.mu.Lock()
		active := srv.active
		srv.mu.Unlock()
		if active == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server still serves a client that does not read, 5 s after its write timeout of 100 ms")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Other clients are still served.
	if got := exchange(t, path, "(varp.flush)"); got != "(ok)\n" {
		t.Errorf("reply to another client = %q, want (ok)", got)
	}
}

func TestListenSocketMode(t *testing.T) {
	_, path := startServer(t, Config{})
	info, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Type() != fs.ModeSocket {
		t.Errorf("%s has type %v, want a socket", path, info.Mode().Type())
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s has mode %#o, want 0600", path, perm)
	}
}

// staleSocket leaves a socket file at path that no process listens on.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	if _, err := net.Dial("unix", path); err == nil {
		t.Fatal("stale socket accepted a connection")
	}
}

func TestListenReplacesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vnetd")
	staleSocket(t, path)

	core, logs := observer.New(zapcore.InfoLevel)
	_, path = startServer(t, Config{Path: path, Logger: zap.New(core)})
	if n := logs.FilterMessage("removed stale command socket").Len(); n != 1 {
		t.Errorf("%d messages about the stale socket logged, want 1", n)
	}
	if got := exchange(t, path, "(varp.flush)"); got != "(ok)\n" {
		t.Errorf("reply on replaced socket = %q, want (ok)", got)
	}
}

func TestListenRejectsLiveSocket(t *testing.T) {
	_, path := startServer(t, Config{})
	_, err := Listen(Config{Path: path, Dataplane: controltest.New()})
	if err == nil {
		t.Fatal("second Listen on a live socket succeeded, want an error")
	}
	holder := fmt.Sprintf("process %d (control.test) is serving on it", os.Getpid())
	if !strings.Contains(err.Error(), holder) {
		t.Errorf("error = %q, want it to contain %q", err, holder)
	}
	if got := exchange(t, path, "(varp.flush)"); got != "(ok)\n" {
		t.Errorf("first server's reply after the failed Listen = %q, want (ok)", got)
	}
}

func TestListenRejectsOtherFile(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "file")
	if err := os.WriteFile(regular, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{regular, sub} {
		_, err := Listen(Config{Path: path, Dataplane: controltest.New()})
		if err == nil || !strings.Contains(err.Error(), "is not a socket") {
			t.Errorf("Listen(%s) = %v, want an error saying it is not a socket", path, err)
		}
	}
	if b, err := os.ReadFile(regular); err != nil || string(b) != "keep" {
		t.Errorf("regular file after Listen = %q, %v, want it unchanged", b, err)
	}
	if info, err := os.Stat(sub); err != nil || !info.IsDir() {
		t.Errorf("directory after Listen: %v, want it unchanged", err)
	}
}

func TestListenConfigErrors(t *testing.T) {
	if _, err := Listen(Config{Dataplane: controltest.New()}); err == nil {
		t.Error("Listen with empty path succeeded, want an error")
	}
	if _, err := Listen(Config{Path: filepath.Join(t.TempDir(), "s")}); err == nil {
		t.Error("Listen with nil Dataplane succeeded, want an error")
	}
	missing := filepath.Join(t.TempDir(), "no", "such", "dir", "vnetd")
	if _, err := Listen(Config{Path: missing, Dataplane: controltest.New()}); err == nil {
		t.Errorf("Listen(%s) succeeded, want an error", missing)
	}
}

func TestCloseRemovesSocketAndIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vnetd")
	srv, err := Listen(Config{Path: path, Dataplane: controltest.New()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()

	conn := dial(t, path)
	start := time.Now()
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close with an open idle connection took %v", d)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve = %v, want nil after Close", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket file after Close: %v, want it removed", err)
	}
	expectEOF(t, conn)
	if err := srv.Serve(); err != nil {
		t.Errorf("Serve after Close = %v, want nil", err)
	}
}

func TestCloseKeepsReplacedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vnetd")
	srv, err := Listen(Config{Path: path, Dataplane: controltest.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("other"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if b, err := os.ReadFile(path); err != nil || string(b) != "other" {
		t.Errorf("file after Close = %q, %v, want the replacement kept", b, err)
	}
}

func TestServerLogsCommands(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	_, path := startServer(t, Config{Logger: zap.New(core)})
	exchange(t, path, "(vnet.add (id 1500)) (vnet.del (id 1501)) (vnet.list)")

	type entry struct{ command, result string }
	var got []entry
	for _, e := range logs.All() {
		fields := e.ContextMap()
		if cmd, ok := fields["command"]; ok {
			got = append(got, entry{cmd.(string), fields["result"].(string)})
		}
	}
	want := []entry{{"vnet.add", "ok"}, {"vnet.del", CodeNotFound}, {"vnet.list", "ok"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("logged commands %v, want %v", got, want)
	}
	if n := logs.FilterMessage("command socket listening").Len(); n != 1 {
		t.Errorf("%d start messages logged, want 1", n)
	}
}

// TestServerCommandTimeout sends the start of a command and then one
// space at a time, often enough to never be idle: the server closes the
// connection once the command is incomplete for CommandTimeout.
func TestServerCommandTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	_, path := startServer(t, Config{CommandTimeout: timeout, IdleTimeout: 5 * time.Second})
	conn := dial(t, path)
	start := time.Now()
	if _, err := conn.Write([]byte("(vnet.list")); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	got := readReply(t, NewDecoder(conn))
	elapsed := time.Since(start)
	close(stop)
	<-trickled

	want := `(error (code ETIMEDOUT) (message "command not complete 300ms after its first byte; closing (send each command whole)"))` + "\n"
	if got != want {
		t.Errorf("reply = %q, want %q", got, want)
	}
	if elapsed < timeout || elapsed > 3*time.Second {
		t.Errorf("connection closed after %v, want between the command timeout %v and 3 s", elapsed, timeout)
	}
}

// TestServerCommandTimeoutPerCommand checks that the timeout counts from
// the first byte of each command, so that a client may keep a connection
// as long as each of its commands arrives in time.
func TestServerCommandTimeoutPerCommand(t *testing.T) {
	const timeout = 300 * time.Millisecond
	_, path := startServer(t, Config{CommandTimeout: timeout})
	conn := dial(t, path)
	d := NewDecoder(conn)
	start := time.Now()
	for i := 0; i < 4; i++ {
		// The end of one command and the start of the next arrive in one
		// write, 200 ms after the command started.
		first := "(varp."
		if i > 0 {
			first = "flush) (varp."
		}
		if _, err := conn.Write([]byte(first)); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			if got := readReply(t, d); got != "(ok)\n" {
				t.Fatalf("reply %d = %q, want (ok)", i, got)
			}
		}
		time.Sleep(timeout * 2 / 3)
	}
	if _, err := conn.Write([]byte("flush)")); err != nil {
		t.Fatal(err)
	}
	if got := readReply(t, d); got != "(ok)\n" {
		t.Fatalf("last reply = %q, want (ok)", got)
	}
	if elapsed := time.Since(start); elapsed < 2*timeout {
		t.Errorf("test took %v, want longer than two command timeouts", elapsed)
	}
}

// TestServerSlowReaderDoesNotBlockOthers keeps one client's reply
// blocked in a write, and checks that other clients, configuration
// commands included, are served meanwhile.
func TestServerSlowReaderDoesNotBlockOthers(t *testing.T) {
	dp := controltest.New()
	vnets := make([]overlay.VnetInfo, 20000)
	for i := range vnets {
		vnets[i] = overlay.VnetInfo{ID: mustVnetID(t, fmt.Sprintf("%x", i+2)), Device: fmt.Sprintf("vn%d", i), Header: 64}
	}
	dp.SetVnets(vnets)
	const writeTimeout = 4 * time.Second
	srv, path := startServer(t, Config{Dataplane: dp, WriteTimeout: writeTimeout})

	slow := dial(t, path)
	// Each reply is about 1.8 MB, more than the socket buffers take.
	if _, err := slow.Write([]byte("(vnet.list) (vnet.list)")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)

	start := time.Now()
	got := exchange(t, path, "(vnet.add (id ffff:0:0:0:0:0:0:1)) (peer.add (addr 198.18.1.3)) (peer.list) (vnet.del (id ffff:0:0:0:0:0:0:1))")
	elapsed := time.Since(start)
	want := "(ok)\n(ok)\n(vnet_peer\n  (addr 198.18.1.3)\n  (port 1798)\n  (tx_packets 0)\n  (rx_packets 0)\n)\n(ok)\n(ok)\n"
	if got != want {
		t.Errorf("reply to another client = %q, want %q", got, want)
	}
	if elapsed > writeTimeout/2 {
		t.Errorf("another client waited %v, want it served while the slow client blocks (write timeout %v)", elapsed, writeTimeout)
	}
	srv.mu.Lock()
	active := srv.active
	srv.mu.Unlock()
	if active < 1 {
		t.Errorf("server serves %d connections, want the slow client still blocked", active)
	}
}

// TestListenReplacesLeftoverTemporarySocket checks that a socket left at
// the temporary name, by a server that stopped between bind and rename,
// does not keep the next one from starting.
func TestListenReplacesLeftoverTemporarySocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vnetd")
	staleSocket(t, path+"~")
	_, path = startServer(t, Config{Path: path})
	if got := exchange(t, path, "(varp.flush)"); got != "(ok)\n" {
		t.Errorf("reply = %q, want (ok)", got)
	}
	if _, err := os.Lstat(path + "~"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary socket after Listen: %v, want it gone", err)
	}
}
