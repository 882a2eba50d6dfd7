package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/vnet-xdp/vnet/control"
)

// replyTimeout bounds a whole conversation with vnetd.
const replyTimeout = 30 * time.Second

// unreachableError means vnetd could not be reached or the connection
// failed before a reply was complete.
type unreachableError struct {
	path string
	err  error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("cannot reach vnetd at %s: %v (start vnetd, or point --socket or VNETD_SOCKET at its socket)", e.path, e.err)
}

func (e *unreachableError) Unwrap() error { return e.err }

// client is one connection to vnetd, which takes any number of commands
// and replies to each in order.
type client struct {
	path    string
	conn    *net.UnixConn
	decoder *control.Decoder
}

// reply is the output of one command, without its status expression.
type reply struct {
	exprs   []control.Expr
	sources []string
}

func (c *cli) connect() (*client, error) {
	conn, err := net.DialTimeout("unix", c.socket, 5*time.Second)
	if err != nil {
		return nil, &unreachableError{path: c.socket, err: err}
	}
	uc := conn.(*net.UnixConn)
	uc.SetDeadline(time.Now().Add(replyTimeout))
	return &client{path: c.socket, conn: uc, decoder: control.NewDecoder(uc)}, nil
}

func (cl *client) close() { cl.conn.Close() }

// do sends cmd and reads its reply. A rejected command returns the reply's
// *control.Error.
func (cl *client) do(cmd control.Expr) (reply, error) {
	text := append(control.AppendExpr(nil, cmd), '\n')
	if _, err := cl.conn.Write(text); err != nil {
		// vnetd may have rejected the connection, as when it has too many
		// or the user may not use the socket, and closed it after an error
		// reply: show that reply rather than the write error.
		if _, replyErr := cl.readReply(); replyErr != nil {
			var rejected *control.Error
			if errors.As(replyErr, &rejected) {
				return reply{}, rejected
			}
		}
		return reply{}, &unreachableError{path: cl.path, err: err}
	}
	return cl.readReply()
}

// readReply reads expressions up to the next status expression.
func (cl *client) readReply() (reply, error) {
	var r reply
	for {
		e, src, err := cl.decoder.Decode()
		if err != nil {
			var syntax *control.SyntaxError
			if errors.As(err, &syntax) {
				return r, fmt.Errorf("read reply from vnetd at %s: %w", cl.path, err)
			}
			if errors.Is(err, io.EOF) {
				err = errors.New("connection closed before the reply was complete")
			}
			return r, &unreachableError{path: cl.path, err: err}
		}
		if isStatus, statusErr := control.ParseStatus(e); isStatus {
			return r, statusErr
		}
		r.exprs = append(r.exprs, e)
		r.sources = append(r.sources, string(src))
	}
}

// call runs one command on a new connection.
func (c *cli) call(cmd control.Expr) (reply, error) {
	cl, err := c.connect()
	if err != nil {
		return reply{}, err
	}
	defer cl.close()
	return cl.do(cmd)
}

// command builds (head field...).
func command(head string, fields ...control.Expr) control.Expr {
	return control.List(append([]control.Expr{control.Atom(head)}, fields...)...)
}

// field builds (name value).
func field(name, value string) control.Expr {
	return control.List(control.Atom(name), control.Atom(value))
}
