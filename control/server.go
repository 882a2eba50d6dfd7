// Package control implements vnetd's command socket, a unix stream socket
// that takes the S-expression commands of the original Xen vnet tools,
// such as vnet.add and vif.list. It applies them to a Dataplane and replies
// to each with its output and one status expression. With a state
// directory, it saves the configuration after every change and restores
// it when the daemon starts.
package control

import (
	"context"
	"errors"
	"fmt"
	"github.com/vnet-xdp/vnet/overlay"
	"github.com/vnet-xdp/vnet/overlay/wire"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Defaults of the Config limits.
const (
	DefaultMaxConns       = 64
	DefaultIdleTimeout    = 60 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
	DefaultCommandTimeout = 10 * time.Second
)

// Config configures a Server.
type Config struct {
	// Path is the socket file, such as /tmp/vnetd.
	Path      string
	Dataplane Dataplane
	// Logger receives a line per command and per error. Nil discards.
	Logger *zap.Logger

	// MaxConns is the maximum number of open connections; further
	// connections get an EBUSY error reply and are closed. Zero selects
	// DefaultMaxConns.
	MaxConns int
	// IdleTimeout closes a connection that sends nothing for this long.
	// Zero selects DefaultIdleTimeout.
	IdleTimeout time.Duration
	// WriteTimeout closes a connection whose reply cannot be written
	// within this time, so that a client that does not read cannot hold
	// the server. Zero selects DefaultWriteTimeout.
	WriteTimeout time.Duration
	// CommandTimeout closes a connection that has sent the start of a
	// command but not its end within this time, however slowly the bytes
	// keep coming. Zero selects DefaultCommandTimeout.
	CommandTimeout time.Duration

	// SocketGroup names a group, by name or number, whose members may use
	// the socket besides root and the user the server runs as. The socket
	// file then has that group and mode 0660; without a group it has mode
	// 0600.
	SocketGroup string

	// StateDir is the directory of the state file, which the server
	// rewrites after every change and Restore reads. The server locks the
	// directory against other processes. Empty disables saving and
	// restoring.
	StateDir string
	// KeyDir is the directory of vnet key files that the state refers to.
	// Empty selects the directory keys in StateDir.
	KeyDir string
}

// Server serves the command socket. Create it with Listen.
type Server struct {
	cfg      Config
	log      *zap.Logger
	listener *net.UnixListener
	// socketInfo identifies the socket file this server created, so that
	// Close removes only that file.
	socketInfo fs.FileInfo
	access     accessPolicy
	eval       evaluator

	mu     sync.Mutex
	closed bool
	conns  map[*net.UnixConn]struct{}
	// active counts the connections being served, which excludes those
	// only being sent an EBUSY reply.
	active   int
	nextConn uint64
	// wg counts Serve and the connection goroutines.
	wg sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
	// closing is closed when Close starts, to end streams.
	closing chan struct{}

	countsMu sync.Mutex
	counts   map[commandResult]uint64
}

// commandResult is a command head and a result: ok or an error code.
type commandResult struct{ command, result string }

// CommandCount is how many times a command ended with a result.
type CommandCount struct {
	// Command is the command's head, or "unknown" for a head that is not
	// a command.
	Command string
	// Result is "ok" or the error code, such as EINVAL.
	Result string
	Count  uint64
}

// CommandCounts returns how many commands ended with each result.
func (s *Server) CommandCounts() []CommandCount {
	s.countsMu.Lock()
	defer s.countsMu.Unlock()
	out := make([]CommandCount, 0, len(s.counts))
	for k, n := range s.counts {
		out = append(out, CommandCount{Command: k.command, Result: k.result, Count: n})
	}
	return out
}

// count records a command's result. A head that is not a command counts
// as "unknown", so that clients cannot add label values without bound.
func (s *Server) count(head, result string) {
	if _, ok := commands[head]; !ok {
		head = "unknown"
	}
	s.countsMu.Lock()
	defer s.countsMu.Unlock()
	if s.counts == nil {
		s.counts = make(map[commandResult]uint64)
	}
	s.counts[commandResult{head, result}]++
}

// Listen creates the socket file at cfg.Path and starts listening, and
// locks cfg.StateDir if set. The socket file has mode 0600, or 0660 and
// the group cfg.SocketGroup. A stale socket file, one that refuses
// connections, is replaced. Listen fails without touching the path when
// another process accepts connections on it, naming that process, or
// when the path exists and is not a socket.
func Listen(cfg Config) (*Server, error) {
	if cfg.Path == "" {
		return nil, errors.New("listen on command socket: empty path (set Config.Path, such as /tmp/vnetd)")
	}
	if cfg.Dataplane == nil {
		return nil, errors.New("listen on command socket: nil Dataplane (set Config.Dataplane)")
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = DefaultCommandTimeout
	}
	if cfg.StateDir != "" && cfg.KeyDir == "" {
		cfg.KeyDir = filepath.Join(cfg.StateDir, "keys")
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("socket", cfg.Path))

	access, err := newAccessPolicy(cfg.SocketGroup)
	if err != nil {
		return nil, err
	}
	if err := removeStaleSocket(cfg.Path, log); err != nil {
		return nil, err
	}
	var persist *persistence
	if cfg.StateDir != "" {
		store, err := openStateStore(cfg.StateDir, log)
		if err != nil {
			return nil, err
		}
		persist = &persistence{store: store, keys: keyStore{dir: cfg.KeyDir}, state: newState(), log: log}
	}
	var keys *keyStore
	if cfg.KeyDir != "" {
		keys = &keyStore{dir: cfg.KeyDir}
	}
	fail := func(err error) (*Server, error) {
		if persist != nil {
			persist.store.close()
		}
		return nil, err
	}

	listener, err := listenPrivate(cfg.Path, access)
	if err != nil {
		return fail(err)
	}
	info, err := os.Lstat(cfg.Path)
	if err != nil {
		listener.Close()
		os.Remove(cfg.Path)
		return fail(fmt.Errorf("stat command socket %s: %w", cfg.Path, err))
	}

	s := &Server{
		cfg:        cfg,
		log:        log,
		listener:   listener,
		socketInfo: info,
		access:     access,
		eval:       evaluator{dp: cfg.Dataplane, persist: persist, keys: keys},
		conns:      make(map[*net.UnixConn]struct{}),
		closing:    make(chan struct{}),
	}
	fields := []zap.Field{
		zap.Int("max_conns", cfg.MaxConns), zap.Duration("idle_timeout", cfg.IdleTimeout),
		zap.Stringer("mode", access.socketMode()), zap.String("access", access.rule()),
	}
	if persist != nil {
		fields = append(fields, zap.String("state_file", persist.store.path), zap.String("key_dir", cfg.KeyDir))
	}
	log.Info("command socket listening", fields...)
	return s, nil
}

// removeStaleSocket checks an existing path: it removes a socket that no
// process accepts connections on, and fails for a live socket or a file
// of another type.
func removeStaleSocket(path string, log *zap.Logger) error {
	info, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check command socket %s: %w", path, err)
	}
	if info.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("listen on command socket %s: the path exists and is not a socket (remove it or choose another path)", path)
	}

	conn, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		holder := "another process"
		if cred, err := readPeerCred(conn.(*net.UnixConn)); err == nil && cred.pid > 0 {
			holder = describeProcess(cred.pid)
		}
		conn.Close()
		return fmt.Errorf("listen on command socket %s: %s is serving on it (stop that process or choose another socket path)", path, holder)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("check command socket %s: %w (remove the file if no vnetd uses it)", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale command socket %s: %w", path, err)
	}
	log.Info("removed stale command socket")
	return nil
}

// listenPrivate binds the socket at a temporary name next to path, with
// the umask set so that the file is created with mode 0600. It gives the
// file the policy's group and mode, which also corrects a umask that
// another goroutine changed during the bind, and then renames it to path.
// So clients never find the socket at path with other permissions than
// the final ones.
func listenPrivate(path string, access accessPolicy) (*net.UnixListener, error) {
	tmp := path + "~"
	if info, err := os.Lstat(tmp); err == nil && info.Mode().Type() == fs.ModeSocket {
		// Left by a vnetd that stopped between its bind and its rename.
		os.Remove(tmp)
	}

	// NOTE: the umask is process-wide, so files that other goroutines
	// create during the bind also get it.
	old := syscall.Umask(0o177)
	listener, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on command socket %s: %w", tmp, err)
	}
	// Server.Close removes the file, and only if it is still this one.
	listener.SetUnlinkOnClose(false)
	fail := func(err error) (*net.UnixListener, error) {
		listener.Close()
		os.Remove(tmp)
		return nil, err
	}

	if access.group != "" {
		if err := os.Chown(tmp, -1, int(access.gid)); err != nil {
			return fail(fmt.Errorf("set group of command socket %s to %s: %w", tmp, access.group, err))
		}
	}
	if err := os.Chmod(tmp, access.socketMode()); err != nil {
		return fail(fmt.Errorf("set mode of command socket %s: %w", tmp, err))
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(fmt.Errorf("move command socket %s to %s: %w", tmp, path, err))
	}
	return listener, nil
}

// Serve accepts connections until Close is called, then returns nil. It
// returns an error when accepting fails for a reason other than Close or
// a temporary shortage of file descriptors or memory.
func (s *Server) Serve() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	var backoff time.Duration
	for {
		conn, err := s.listener.AcceptUnix()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			if isTemporaryAcceptError(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept on command socket failed; retrying", zap.Error(err), zap.Duration("backoff", backoff))
				time.Sleep(backoff)
				continue
			}
			s.log.Error("accept on command socket failed", zap.Error(err))
			return fmt.Errorf("accept on command socket %s: %w", s.cfg.Path, err)
		}
		backoff = 0
		s.startConn(conn)
	}
}

func isTemporaryAcceptError(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EINTR)
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// startConn registers conn and starts its goroutine. When MaxConns
// connections are being served, the goroutine only sends an EBUSY error
// reply and closes the connection.
func (s *Server) startConn(conn *net.UnixConn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		conn.Close()
		return
	}
	s.nextConn++
	id := s.nextConn
	busy := s.active >= s.cfg.MaxConns
	if !busy {
		s.active++
	}
	s.conns[conn] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()

	go func() {
		defer s.wg.Done()
		if busy {
			s.log.Warn("rejected command connection: too many open", zap.Uint64("conn", id), zap.Int("max_conns", s.cfg.MaxConns))
			reject := &Error{
				Code:    CodeBusy,
				Message: fmt.Sprintf("too many connections to vnetd (maximum %d); retry later", s.cfg.MaxConns),
			}
			s.reject(conn, reject, id)
		} else {
			s.serveConn(conn, id)
		}

		s.mu.Lock()
		delete(s.conns, conn)
		if !busy {
			s.active--
		}
		s.mu.Unlock()
		conn.Close()
	}()
}

// serveConn checks the client's credentials, then reads commands from
// conn and replies to each. It returns when the client closes its write
// side, sends invalid syntax, is idle for IdleTimeout or takes longer than
// CommandTimeout to send one command, or when the server is closed.
func (s *Server) serveConn(conn *net.UnixConn, id uint64) {
	log := s.log.With(zap.Uint64("conn", id))
	cred, err := readPeerCred(conn)
	if err == nil {
		err = s.access.check(cred)
	}
	if err != nil {
		log.Warn("rejected command connection", zap.Int32("pid", cred.pid), zap.Uint32("uid", cred.uid), zap.Uint32("gid", cred.gid), zap.Error(err))
		s.reject(conn, &Error{Code: CodeAccess, Message: err.Error()}, id)
		return
	}
	log = log.With(zap.Int32("pid", cred.pid), zap.Uint32("uid", cred.uid))
	log.Debug("command connection opened")

	reader := NewReader()
	buf := make([]byte, 4096)
	var out []byte
	// exprStart is when the first byte of the pending command arrived.
	var exprStart time.Time

	for {
		now := time.Now()
		deadline := now.Add(s.cfg.IdleTimeout)
		if reader.Pending() {
			deadline = earliest(deadline, exprStart.Add(s.cfg.CommandTimeout))
		}
		if err := conn.SetReadDeadline(deadline); err != nil {
			log.Debug("set read deadline failed", zap.Error(err))
			return
		}
		n, readErr := conn.Read(buf)
		readTime := time.Now()
		var syntaxErr error
		if n > 0 {
			_, syntaxErr = reader.Write(buf[:n])
		}
		if errors.Is(readErr, io.EOF) && syntaxErr == nil {
			syntaxErr = reader.Close()
		}

		completed := 0
		for {
			expr, _, ok := reader.Next()
			if !ok {
				break
			}
			completed++
			if head, ok := expr.Head(); ok && commands[head].rootOnly && cred.uid != 0 {
				e := &Error{Code: CodeAccess, Message: fmt.Sprintf("%s shows keys and is for root only (run it as root)", head)}
				s.count(head, e.Code)
				log.Warn("command rejected: for root only", zap.String("command", head))
				if !s.writeReply(conn, append(AppendExpr(nil, e.Expr()), '\n'), id) {
					return
				}
				continue
			}
			if head, ok := expr.Head(); ok && commands[head].stream {
				// A stream lasts until the connection ends, so nothing
				// after it is read. A stream that fails to start gets an
				// error reply like any command.
				if s.stream(conn, expr, head, id, log) {
					return
				}
				continue
			}
			out = s.evaluate(out[:0], expr, log)
			if !s.writeReply(conn, out, id) {
				return
			}
		}
		if !reader.Pending() {
			exprStart = time.Time{}
		} else if completed > 0 || exprStart.IsZero() {
			exprStart = readTime
		}

		switch {
		case syntaxErr != nil:
			log.Info("command rejected: invalid syntax; closing connection", zap.Error(syntaxErr))
			reply := &Error{Code: CodeInvalid, Message: syntaxErr.Error()}
			s.writeReply(conn, AppendExpr(nil, reply.Expr()), id)
			return
		case errors.Is(readErr, io.EOF):
			log.Debug("command connection closed by client")
			return
		case isTimeout(readErr):
			if s.isClosed() {
				return
			}
			s.timedOut(conn, id, log, reader.Pending() && !readTime.Before(exprStart.Add(s.cfg.CommandTimeout)))
			return
		case readErr != nil:
			if s.isClosed() {
				return
			}
			if errors.Is(readErr, syscall.ECONNRESET) {
				log.Debug("command connection reset by client", zap.Error(readErr))
			} else {
				log.Warn("read from command connection failed", zap.Error(readErr))
			}
			return
		}
	}
}

// rejectDrainTime bounds how long a rejected connection is read after
// its error reply.
const rejectDrainTime = time.Second

// reject sends the error reply to a connection that is not served, then
// reads and discards what the client sends until it closes, for at most
// rejectDrainTime and MaxExprSize bytes. Without that, a client that
// writes its command after the server closed would fail with EPIPE
// before it could read the reply.
func (s *Server) reject(conn *net.UnixConn, reply *Error, id uint64) {
	if !s.writeReply(conn, AppendExpr(nil, reply.Expr()), id) {
		return
	}
	if err := conn.SetReadDeadline(time.Now().Add(rejectDrainTime)); err != nil {
		return
	}
	io.Copy(io.Discard, io.LimitReader(conn, MaxExprSize))
}

// timedOut sends the ETIMEDOUT reply for an idle connection, or for one
// whose command took longer than CommandTimeout when incomplete is set.
func (s *Server) timedOut(conn *net.UnixConn, id uint64, log *zap.Logger, incomplete bool) {
	reply := &Error{Code: CodeTimedOut}
	if incomplete {
		log.Info("command incomplete too long; closing connection", zap.Duration("command_timeout", s.cfg.CommandTimeout))
		reply.Message = fmt.Sprintf("command not complete %s after its first byte; closing (send each command whole)", s.cfg.CommandTimeout)
	} else {
		log.Info("command connection idle; closing", zap.Duration("idle_timeout", s.cfg.IdleTimeout))
		reply.Message = fmt.Sprintf("connection idle for %s; closing (send commands without pausing, or reconnect)", s.cfg.IdleTimeout)
	}
	s.writeReply(conn, AppendExpr(nil, reply.Expr()), id)
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// evaluate runs one command, logs it and appends its output and status
// expression to out.
func (s *Server) evaluate(out []byte, expr Expr, log *zap.Logger) []byte {
	out, head, cmdErr := s.eval.eval(expr, out)
	if cmdErr == nil {
		s.count(head, "ok")
	} else {
		s.count(head, cmdErr.Code)
	}
	if cmdErr == nil {
		if cmd, ok := commands[head]; ok && cmd.list {
			log.Debug("command done", zap.String("command", head), zap.String("result", "ok"))
		} else {
			log.Info("command done", zap.String("command", head), zap.String("result", "ok"))
		}
		out = AppendExpr(out, okExpr)
		return append(out, '\n')
	}

	fields := []zap.Field{
		zap.String("command", head),
		zap.String("result", cmdErr.Code),
		zap.String("message", cmdErr.Message),
	}
	if cmdErr.Err != nil {
		fields = append(fields, zap.Error(cmdErr.Err))
	}
	if cmdErr.Code == CodeIO {
		log.Error("command failed", fields...)
	} else {
		log.Info("command rejected", fields...)
	}
	out = AppendExpr(out, cmdErr.Expr())
	return append(out, '\n')
}

// writeReply writes b within WriteTimeout and reports whether it could.
func (s *Server) writeReply(conn *net.UnixConn, b []byte, id uint64) bool {
	if len(b) == 0 || b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	if err := conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout)); err != nil {
		return false
	}
	if _, err := conn.Write(b); err != nil {
		switch {
		case s.isClosed():
		case errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET):
			s.log.Debug("client closed command connection before the reply", zap.Uint64("conn", id), zap.Error(err))
		default:
			s.log.Warn("write to command connection failed; closing it", zap.Uint64("conn", id), zap.Error(err))
		}
		return false
	}
	return true
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

// Close stops the server: it closes the listener and every open
// connection, waits for their goroutines and removes the socket file if it
// is still the one Listen created. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.mu.Lock()
		s.closed = true
		for conn := range s.conns {
			conn.Close()
		}
		s.mu.Unlock()

		err := s.listener.Close()
		s.wg.Wait()

		if info, statErr := os.Lstat(s.cfg.Path); statErr == nil && os.SameFile(info, s.socketInfo) {
			if rmErr := os.Remove(s.cfg.Path); rmErr != nil {
				err = errors.Join(err, fmt.Errorf("remove command socket %s: %w", s.cfg.Path, rmErr))
			}
		}
		if p := s.eval.persist; p != nil {
			if lerr := p.store.close(); lerr != nil {
				err = errors.Join(err, fmt.Errorf("unlock state directory %s: %w", s.cfg.StateDir, lerr))
			}
		}
		if err != nil {
			s.closeErr = fmt.Errorf("close command socket %s: %w", s.cfg.Path, err)
			s.log.Warn("command socket closed with errors", zap.Error(err))
			return
		}
		s.log.Info("command socket closed")
	})
	return s.closeErr
}

// streamWriteTimeout bounds each write of a stream, so that a client
// that stops reading ends its stream instead of holding it open.
const streamWriteTimeout = 10 * time.Second

// deadlineWriter sets a write deadline before each write.
type deadlineWriter struct {
	conn *net.UnixConn
}

func (w deadlineWriter) Write(b []byte) (int, error) {
	if err := w.conn.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil {
		return 0, err
	}
	return w.conn.Write(b)
}

// stream runs a command whose reply is (ok) followed by a byte stream:
// capture, whose stream is a pcap file. It ends when the capture's
// limits are reached, when a write fails because the client is gone or
// stopped reading, or when the server closes. It reports whether the
// stream started; if not, it has sent an error reply.
func (s *Server) stream(conn *net.UnixConn, expr Expr, head string, id uint64, log *zap.Logger) bool {
	fail := func(e *Error) {
		s.count(head, e.Code)
		log.Info("command failed", zap.String("command", head), zap.String("result", e.Code), zap.String("message", e.Message))
		s.writeReply(conn, append(AppendExpr(nil, e.Expr()), '\n'), id)
	}
	a, perr := parseArgs(head, commands[head], expr.Elems()[1:])
	if perr != nil {
		fail(perr)
		return false
	}
	spec, perr := captureSpec(a)
	if perr != nil {
		fail(perr)
		return false
	}
	s.eval.mu.RLock()
	capture, err := s.eval.dp.OpenCapture(spec)
	s.eval.mu.RUnlock()
	if err != nil {
		fail(dataplaneError(err, "start capture", "capture", ""))
		return false
	}
	defer capture.Close()
	s.count(head, "ok")
	if !s.writeReply(conn, append(AppendExpr(nil, okExpr), '\n'), id) {
		return true
	}
	log.Info("capture streaming", spec.LogFields()...)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-stopped:
		}
	}()
	if err := capture.WritePcap(ctx, deadlineWriter{conn}); err != nil {
		log.Info("capture ended", zap.Error(err))
		return true
	}
	log.Info("capture ended")
	return true
}

// captureSpec parses the fields of a capture command.
func captureSpec(a args) (overlay.CaptureSpec, *Error) {
	var spec overlay.CaptureSpec
	vnetText, hasVnet := a.optional("vnet")
	iface, hasIface := a.optional("iface")
	switch {
	case hasVnet == hasIface:
		return spec, invalidf("", "%s: give either (vnet ID) or (iface NAME) (usage: %s)", a.command, a.usage)
	case hasVnet:
		id, perr := wire.ParseVnetID(vnetText)
		if perr != nil {
			return spec, invalidf(vnetText, "%s: %v", a.command, perr)
		}
		spec.Vnet = id
	default:
		spec.Interface = iface
	}
	spec.Direction = overlay.CaptureBoth
	if text, ok := a.optional("direction"); ok {
		d, err := overlay.ParseCaptureDirection(text)
		if err != nil {
			return spec, invalidf(text, "%s: invalid direction %q (use in, out or both)", a.command, text)
		}
		spec.Direction = d
	}
	if text, ok := a.optional("count"); ok {
		n, err := strconv.Atoi(text)
		if err != nil || n < 1 {
			return spec, invalidf(text, "%s: invalid count %q (use a number of frames of at least 1)", a.command, text)
		}
		spec.Count = n
	}
	if text, ok := a.optional("duration"); ok {
		sec, err := strconv.ParseFloat(text, 64)
		if err != nil || sec <= 0 || sec > 1e6 {
			return spec, invalidf(text, "%s: invalid duration %q (use seconds, such as 10 or 0.5)", a.command, text)
		}
		spec.Duration = time.Duration(sec * float64(time.Second))
	}
	if text, ok := a.optional("snaplen"); ok {
		n, err := strconv.Atoi(text)
		if err != nil || n < 14 || n > 65535 {
			return spec, invalidf(text, "%s: invalid snaplen %q (use 14 to 65535 bytes)", a.command, text)
		}
		spec.Snaplen = n
	}
	return spec, nil
}
