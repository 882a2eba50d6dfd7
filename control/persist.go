package control

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.uber.org/zap"
)

// persistence saves the state after every change that the dataplane
// accepted. The evaluator's mutex guards it.
type persistence struct {
	store *stateStore
	keys  keyStore
	state *state
	log   *zap.Logger
	// deferred is set while Restore applies commands, which it saves once
	// at its end.
	deferred bool
}

// save writes the current state to the state file.
func (p *persistence) save() error {
	data := p.state.encode()
	if err := p.store.save(data); err != nil {
		p.log.Error("save state failed", zap.String("file", p.store.path), zap.Error(err))
		return err
	}
	p.log.Info("state saved", zap.String("file", p.store.path),
		zap.Int("vnets", len(p.state.vnets)), zap.Int("vifs", len(p.state.vifs)), zap.Int("peers", len(p.state.peers)))
	return nil
}

// commit applies change to the state after the dataplane accepted a
// command, and saves the state. done describes the accepted change, such
// as "vnet ... added". A failed save returns an EIO error stating that the
// change is in effect but not saved, so that a client never gets (ok) for
// a change that a restart would lose.
func (ev *evaluator) commit(done string, change func(*state)) *Error {
	p := ev.persist
	if p == nil {
		return nil
	}
	change(p.state)
	if p.deferred {
		return nil
	}
	if err := p.save(); err != nil {
		return &Error{
			Code: CodeIO,
			Message: fmt.Sprintf("%s, but saving the state failed: %v (the change is in effect until vnetd restarts, "+
				"and the next change that is saved includes it; check the state directory)", done, err),
			Err: err,
		}
	}
	return nil
}

// restorable are the commands that a state file contains, the ones that
// state.commands writes.
var restorable = []string{"varp.mcaddr", "varp.limits", "peer.add", "vnet.add", "vif.add"}

// CommandFile is a parsed file of configuration commands, such as the
// startup file of vnetd -f.
type CommandFile struct {
	Path       string
	Statements []Statement
}

// ReadCommandFile reads and parses a file of configuration commands. It
// fails, naming the line, on a syntax error and on a command that is
// unknown or only lists, so that a mistake stops vnetd before it changes
// anything.
func ReadCommandFile(path string) (*CommandFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read command file: %w", err)
	}
	stmts, err := ParseStatements(data)
	if err != nil {
		return nil, fmt.Errorf("read command file %s: %w", path, err)
	}
	for _, st := range stmts {
		head, _ := st.Expr.Head()
		cmd, ok := commands[head]
		if !ok || cmd.list || cmd.stream {
			return nil, fmt.Errorf("read command file %s: line %d: %s is not a configuration command (use %s)",
				path, st.Line, abbreviate(st.Expr), strings.Join(configCommandNames(), ", "))
		}
	}
	return &CommandFile{Path: path, Statements: stmts}, nil
}

// configCommandNames returns the heads of the commands that change the
// configuration, sorted.
func configCommandNames() []string {
	var names []string
	for _, name := range commandNames() {
		if !commands[name].list && !commands[name].stream {
			names = append(names, name)
		}
	}
	return names
}

// Restore applies the saved state, then the commands of startup (nil for
// none), and saves the result. Call it once, after Listen and before
// Serve, so that clients see the restored configuration.
//
// A state file that does not parse is renamed to state.sxp.bad-TIME and
// the commands before the error are restored. When commands of the state
// file fail, a copy of it is kept the same way, because the state file is
// then rewritten with what did apply. Failed commands are logged with
// their line and do not stop the restore. Restore returns an error when
// the state cannot be read, set aside or saved. The daemon should then
// stop rather than overwrite a state it could not keep.
func (s *Server) Restore(startup *CommandFile) error {
	p := s.eval.persist
	if p != nil {
		s.eval.mu.Lock()
		p.deferred = true
		s.eval.mu.Unlock()
		defer func() {
			s.eval.mu.Lock()
			p.deferred = false
			s.eval.mu.Unlock()
		}()
		if err := s.restoreState(p); err != nil {
			return err
		}
	}
	if startup != nil {
		s.applyStartup(startup)
	}
	if p == nil {
		return nil
	}

	s.eval.mu.Lock()
	defer s.eval.mu.Unlock()
	p.deferred = false
	if err := p.save(); err != nil {
		return fmt.Errorf("save restored state: %w", err)
	}
	return nil
}

// restoreCommand applies one command of the state file. It warns when
// the saved group replaces the one vnetd started with, since the saved
// group wins over --mcast-addr.
func (s *Server) restoreCommand(log *zap.Logger, head string, expr Expr) *Error {
	if head != "varp.mcaddr" {
		_, _, cmdErr := s.eval.eval(expr, nil)
		return cmdErr
	}
	before := s.eval.dp.Varp().Group
	_, _, cmdErr := s.eval.eval(expr, nil)
	if after := s.eval.dp.Varp().Group; cmdErr == nil && after != before {
		log.Warn("the saved multicast group replaces the one vnetd started with (change it with varp.mcaddr)",
			zap.Stringer("group", after), zap.Stringer("started_with", before))
	}
	return cmdErr
}

func (s *Server) restoreState(p *persistence) error {
	log := s.log.With(zap.String("file", p.store.path))
	data, err := p.store.read()
	if err != nil {
		return err
	}
	if data == nil {
		log.Info("no saved state to restore")
		return nil
	}

	stmts, syntaxErr := ParseStatements(data)
	keptAside := false
	if syntaxErr != nil {
		aside, err := p.store.setAside()
		if err != nil {
			return fmt.Errorf("state file %s does not parse (%v), and %w", p.store.path, syntaxErr, err)
		}
		keptAside = true
		log.Error("state file does not parse; set it aside and restoring the commands before the error",
			zap.String("kept_as", aside), zap.Int("commands_before_error", len(stmts)), zap.Error(syntaxErr))
	}

	applied, failed := 0, 0
	for _, st := range stmts {
		head, _ := st.Expr.Head()
		var cmdErr *Error
		if slices.Contains(restorable, head) {
			cmdErr = s.restoreCommand(log, head, st.Expr)
		} else {
			cmdErr = invalidf(head, "%s is not a command that a state file contains (use %s)", abbreviate(st.Expr), strings.Join(restorable, ", "))
		}
		if cmdErr != nil {
			failed++
			log.Error("restore command failed", zap.Int("line", st.Line), zap.String("command", head),
				zap.String("result", cmdErr.Code), zap.String("message", cmdErr.Message))
			continue
		}
		applied++
	}

	if failed > 0 && !keptAside {
		aside, err := p.store.copyAside(data)
		if err != nil {
			return fmt.Errorf("%d commands of state file %s failed, and %w", failed, p.store.path, err)
		}
		keptAside = true
		log.Warn("kept a copy of the state file because some of its commands failed", zap.String("kept_as", aside))
	}
	log.Info("state restored", zap.Int("applied", applied), zap.Int("failed", failed))
	if keptAside {
		log.Warn("vnetd starts with the part of its saved state that could be restored",
			zap.String("dir", filepath.Dir(p.store.path)))
	}
	return nil
}

// applyStartup runs the commands of a startup file. A command that fails
// because its object exists, as when the state already restored it, is
// skipped. Other failures are logged and do not stop the other commands.
func (s *Server) applyStartup(f *CommandFile) {
	log := s.log.With(zap.String("file", f.Path))
	applied, skipped, failed := 0, 0, 0
	for _, st := range f.Statements {
		_, head, cmdErr := s.eval.eval(st.Expr, nil)
		switch {
		case cmdErr == nil:
			applied++
		case errors.Is(cmdErr, errVnetDiffers):
			skipped++
			log.Warn("startup command skipped: the saved configuration differs from it and is kept",
				zap.Int("line", st.Line), zap.String("command", head), zap.String("message", cmdErr.Message))
		case cmdErr.Code == CodeExists:
			skipped++
			log.Info("startup command skipped", zap.Int("line", st.Line), zap.String("command", head), zap.String("message", cmdErr.Message))
		default:
			failed++
			fields := []zap.Field{zap.Int("line", st.Line), zap.String("command", head),
				zap.String("result", cmdErr.Code), zap.String("message", cmdErr.Message)}
			if cmdErr.Err != nil {
				fields = append(fields, zap.Error(cmdErr.Err))
			}
			log.Error("startup command failed", fields...)
		}
	}
	log.Info("startup file applied", zap.Int("applied", applied), zap.Int("skipped", skipped), zap.Int("failed", failed))
}
