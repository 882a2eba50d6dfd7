// Package control implements vnetd's command socket, a unix stream socket
// that takes the S-expression commands of the original Xen vnet tools,
// such as vnet.add and vif.list. It applies them to a Dataplane and replies
// to each with its output and one status expression.
package control

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Defaults of the Config limits.
const (
	DefaultMaxConns     = 64
	DefaultIdleTimeout  = 60 * time.Second
	DefaultWriteTimeout = 10 * time.Second
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
}

// Server serves the command socket. Create it with Listen.
type Server struct {
	cfg      Config
	log      *zap.Logger
	listener *net.UnixListener
	// socketInfo identifies the socket file this server created, so that
	// Close removes only that file.
	socketInfo fs.FileInfo
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
}

// Listen creates the socket file at cfg.Path with mode 0600 and starts
// listening. A stale socket file, one that refuses connections, is
// replaced. Listen fails without touching the path when another process
// accepts connections on it or when the path exists and is not a socket.
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
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("socket", cfg.Path))

	if err := removeStaleSocket(cfg.Path, log); err != nil {
		return nil, err
	}
	listener, err := listenPrivate(cfg.Path)
	if err != nil {
		return nil, err
	}
	info, err := os.Lstat(cfg.Path)
	if err != nil {
		listener.Close()
		os.Remove(cfg.Path)
		return nil, fmt.Errorf("stat command socket %s: %w", cfg.Path, err)
	}

	s := &Server{
		cfg:        cfg,
		log:        log,
		listener:   listener,
		socketInfo: info,
		eval:       evaluator{dp: cfg.Dataplane},
		conns:      make(map[*net.UnixConn]struct{}),
	}
	log.Info("command socket listening", zap.Int("max_conns", cfg.MaxConns), zap.Duration("idle_timeout", cfg.IdleTimeout))
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
		conn.Close()
		return fmt.Errorf("listen on command socket %s: another vnetd is running on that socket (stop it or choose another path)", path)
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

// listenPrivate binds the socket with the umask set so that the file is
// created with mode 0600, then sets the mode again in case the umask was
// changed concurrently.
func listenPrivate(path string) (*net.UnixListener, error) {
	// NOTE: the umask is process-wide, so files that other goroutines
	// create during the bind also get it.
	old := syscall.Umask(0o177)
	listener, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on command socket %s: %w", path, err)
	}
	// Server.Close removes the file, and only if it is still this one.
	listener.SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o600); err != nil {
		listener.Close()
		os.Remove(path)
		return nil, fmt.Errorf("set mode of command socket %s: %w", path, err)
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
			s.writeReply(conn, AppendExpr(nil, reject.Expr()), id)
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

// serveConn reads commands from conn and replies to each until the client
// closes its write side, sends invalid syntax, is idle for IdleTimeout or
// the server is closed.
func (s *Server) serveConn(conn *net.UnixConn, id uint64) {
	log := s.log.With(zap.Uint64("conn", id))
	log.Debug("command connection opened")
	reader := NewReader()
	buf := make([]byte, 4096)
	var out []byte

	for {
		if err := conn.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout)); err != nil {
			log.Debug("set read deadline failed", zap.Error(err))
			return
		}
		n, readErr := conn.Read(buf)
		var syntaxErr error
		if n > 0 {
			_, syntaxErr = reader.Write(buf[:n])
		}
		if errors.Is(readErr, io.EOF) && syntaxErr == nil {
			syntaxErr = reader.Close()
		}

		for {
			expr, _, ok := reader.Next()
			if !ok {
				break
			}
			out = s.evaluate(out[:0], expr, log)
			if !s.writeReply(conn, out, id) {
				return
			}
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
			log.Info("command connection idle; closing", zap.Duration("idle_timeout", s.cfg.IdleTimeout))
			reply := &Error{
				Code:    CodeTimedOut,
				Message: fmt.Sprintf("connection idle for %s; closing (send commands without pausing, or reconnect)", s.cfg.IdleTimeout),
			}
			s.writeReply(conn, AppendExpr(nil, reply.Expr()), id)
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

// evaluate runs one command, logs it and appends its output and status
// expression to out.
func (s *Server) evaluate(out []byte, expr Expr, log *zap.Logger) []byte {
	out, head, cmdErr := s.eval.eval(expr, out)
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
		if err != nil {
			s.closeErr = fmt.Errorf("close command socket %s: %w", s.cfg.Path, err)
			s.log.Warn("command socket closed with errors", zap.Error(err))
			return
		}
		s.log.Info("command socket closed")
	})
	return s.closeErr
}
