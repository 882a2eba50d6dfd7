package control

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/vnet-xdp/vnet/overlay/wire"
)

// command is one entry of the command table.
type command struct {
	// usage is the command's grammar, shown in errors.
	usage string
	// fields are the argument fields the command accepts.
	fields []string
	// list is set for commands that only read the dataplane, which may
	// run concurrently with each other.
	list bool
	// stream is set for commands whose reply is (ok) followed by a
	// stream of bytes until the connection closes; the server runs them
	// itself.
	stream bool
	// rootOnly is set for commands whose output contains secrets: only a
	// client running as root may run them.
	rootOnly bool
	run      func(ev *evaluator, a args, out []byte) ([]byte, *Error)
}

// commands maps each command head to its implementation.
var commands = map[string]command{
	"vnet.add": {
		usage:  "(vnet.add (id ID) [(vnetif NAME)] [(security none|auth|conf)] [(key HEX) | (key-file NAME)])",
		fields: []string{"id", "vnetif", "security", "key", "key-file"},
		run:    (*evaluator).vnetAdd,
	},
	"vnet.del": {
		usage:  "(vnet.del (id ID))",
		fields: []string{"id"},
		run:    (*evaluator).vnetDel,
	},
	"vif.add": {
		usage:  "(vif.add (vnet ID) (vmac MAC))",
		fields: []string{"vnet", "vmac"},
		run:    (*evaluator).vifAdd,
	},
	"vif.del": {
		usage:  "(vif.del (vnet ID) (vmac MAC))",
		fields: []string{"vnet", "vmac"},
		run:    (*evaluator).vifDel,
	},
	"peer.add": {
		usage:  "(peer.add (addr A.B.C.D) [(port N)])",
		fields: []string{"addr", "port"},
		run:    (*evaluator).peerAdd,
	},
	"peer.del": {
		usage:  "(peer.del (addr A.B.C.D))",
		fields: []string{"addr"},
		run:    (*evaluator).peerDel,
	},
	"varp.mcaddr": {
		usage:  "(varp.mcaddr (addr A.B.C.D))",
		fields: []string{"addr"},
		run:    (*evaluator).varpMcaddr,
	},
	"varp.flush": {
		usage: "(varp.flush)",
		run:   (*evaluator).varpFlush,
	},
	"varp.limits": {
		usage:  "(varp.limits [(entries N)] [(vifs N)] [(learn_rate N)] [(flood_rate N)])",
		fields: []string{"entries", "vifs", "learn_rate", "flood_rate"},
		run:    (*evaluator).varpLimits,
	},
	"vnet.keys": {
		usage:    "(vnet.keys (id ID))",
		fields:   []string{"id"},
		list:     true,
		rootOnly: true,
		run:      (*evaluator).vnetKeys,
	},
	"capture": {
		usage:  "(capture (vnet ID) | (iface NAME) [(direction in|out|both)] [(count N)] [(duration SECONDS)] [(snaplen BYTES)])",
		fields: []string{"vnet", "iface", "direction", "count", "duration", "snaplen"},
		stream: true,
	},
	"vnet.list":  {usage: "(vnet.list)", list: true, run: (*evaluator).vnetList},
	"vif.list":   {usage: "(vif.list)", list: true, run: (*evaluator).vifList},
	"varp.list":  {usage: "(varp.list)", list: true, run: (*evaluator).varpList},
	"peer.list":  {usage: "(peer.list)", list: true, run: (*evaluator).peerList},
	"stats.list": {usage: "(stats.list)", list: true, run: (*evaluator).statsList},
}

// commandNames returns the command heads in sorted order.
func commandNames() []string {
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// secretFields are the fields whose values error messages never show.
var secretFields = map[string]bool{"key": true}

// evaluator runs commands against a Dataplane.
type evaluator struct {
	dp Dataplane
	// mu makes configuration commands run one at a time and exclusive of
	// list commands, while list commands share it. It also guards
	// persist.
	mu sync.RWMutex
	// persist saves the state after every change, or is nil when the
	// server has no state directory.
	persist *persistence
	// keys is the key directory, or nil when there is none.
	keys *keyStore
}

// eval runs the command e and appends its output to out. It returns the
// command head ("" when e has none) for logging, and an *Error when the
// command failed; out then contains no partial output.
func (ev *evaluator) eval(e Expr, out []byte) ([]byte, string, *Error) {
	if !e.IsList() {
		return out, "", invalidf(e.Text(), "invalid command %s: a command is a list, such as (vnet.list)", abbreviate(e))
	}
	head, ok := e.Head()
	if !ok {
		return out, "", invalidf("", "invalid command %s: a command is a list that starts with its name, such as (vnet.list)", abbreviate(e))
	}
	cmd, ok := commands[head]
	if !ok {
		err := &Error{
			Code:    CodeNoCommand,
			Message: fmt.Sprintf("unknown command %s (use %s)", abbreviate(Atom(head)), strings.Join(commandNames(), ", ")),
			Value:   head,
		}
		return out, head, err
	}

	a, err := parseArgs(head, cmd, e.Elems()[1:])
	if err != nil {
		return out, head, err
	}

	if cmd.list {
		ev.mu.RLock()
		defer ev.mu.RUnlock()
	} else {
		ev.mu.Lock()
		defer ev.mu.Unlock()
	}
	start := len(out)
	out, err = cmd.run(ev, a, out)
	if err != nil {
		return out[:start], head, err
	}
	return out, head, nil
}

// args contains the fields of one command, already checked against the
// command's field list.
type args struct {
	command string
	usage   string
	values  map[string]string
}

// parseArgs checks that every element is a field (NAME VALUE) with a name
// that cmd accepts, given at most once, and returns the fields.
func parseArgs(head string, cmd command, elems []Expr) (args, *Error) {
	a := args{command: head, usage: cmd.usage, values: make(map[string]string, len(elems))}
	for _, elem := range elems {
		if !elem.IsList() {
			return a, invalidf(elem.Text(), "%s: unexpected atom %s (arguments are fields such as (name value); usage: %s)", head, abbreviate(elem), cmd.usage)
		}
		name, ok := elem.Head()
		if !ok {
			return a, invalidf("", "%s: invalid field %s (a field is a name and one value; usage: %s)", head, abbreviate(elem), cmd.usage)
		}
		if !slices.Contains(cmd.fields, name) {
			return a, invalidf(name, "%s: unknown field %s (usage: %s)", head, abbreviate(Atom(name)), cmd.usage)
		}
		if _, dup := a.values[name]; dup {
			return a, invalidf(name, "%s: field %s given twice (give each field once)", head, name)
		}
		if len(elem.Elems()) != 2 || elem.Elems()[1].IsList() {
			shown := abbreviate(elem)
			if secretFields[name] {
				shown = "(" + name + " ...)"
			}
			return a, invalidf(name, "%s: field %s must have exactly one atom as its value, as in %s", head, shown, cmd.usage)
		}
		a.values[name] = elem.Elems()[1].Text()
	}
	return a, nil
}

// required returns the value of a field that the command needs.
func (a args) required(name string) (string, *Error) {
	v, ok := a.values[name]
	if !ok {
		return "", invalidf("", "%s: missing field %s (usage: %s)", a.command, name, a.usage)
	}
	return v, nil
}

// optional returns the value of a field and whether it was given.
func (a args) optional(name string) (string, bool) {
	v, ok := a.values[name]
	return v, ok
}

// vnetID parses the vnet id in field name.
func (a args) vnetID(name string) (wire.VnetID, string, *Error) {
	text, err := a.required(name)
	if err != nil {
		return wire.VnetID{}, "", err
	}
	id, perr := wire.ParseVnetID(text)
	if perr != nil {
		return id, text, invalidf(text, "%s: %v", a.command, perr)
	}
	return id, text, nil
}

// abbreviate formats e for an error message, shortened to at most 64
// bytes, because a rejected expression may be up to MaxExprSize long.
func abbreviate(e Expr) string {
	const max = 64
	s := e.String()
	if len(s) <= max {
		return s
	}
	return s[:max-3] + "..."
}
