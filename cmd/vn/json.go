package main

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/vnet-xdp/vnet/control"
)

// object is a JSON object that keeps its members in order, so that JSON
// output lists fields in the order vnetd prints them.
type object []member

type member struct {
	key   string
	value any
}

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		key, err := json.Marshal(m.key)
		if err != nil {
			return nil, err
		}
		value, err := json.Marshal(m.value)
		if err != nil {
			return nil, err
		}
		b.Write(key)
		b.WriteByte(':')
		b.Write(value)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// get returns the value of member key.
func (o object) get(key string) (any, bool) {
	for _, m := range o {
		if m.key == key {
			return m.value, true
		}
	}
	return nil, false
}

// set replaces member key, or appends it.
func (o *object) set(key string, value any) {
	for i := range *o {
		if (*o)[i].key == key {
			(*o)[i].value = value
			return
		}
	}
	*o = append(*o, member{key, value})
}

// textFields are the fields whose values stay JSON strings even when they
// consist of digits, such as a device name "1500".
var textFields = map[string]bool{
	"id": true, "vnet": true, "vnetif": true, "security": true, "vmac": true,
	"addr": true, "device": true, "mcast_addr": true, "ucast_addr": true,
	"encapsulation": true, "state": true, "flags": true, "scope": true,
	"name": true, "mac": true, "bridge": true, "oper_state": true,
}

// blockObject converts a block such as (vnet (id X) (header 64)) to an
// object of its fields. Values of decimal digits become numbers, except
// in textFields. A field with several values becomes an array of strings.
func blockObject(e control.Expr) object {
	var o object
	for _, child := range e.Elems() {
		key, ok := child.Head()
		if !ok {
			continue
		}
		values := child.Elems()[1:]
		switch len(values) {
		case 0:
			o.set(key, "")
		case 1:
			o.set(key, typedValue(key, values[0].Text()))
		default:
			texts := make([]string, len(values))
			for i, v := range values {
				texts[i] = v.Text()
			}
			o.set(key, texts)
		}
	}
	return o
}

func typedValue(key, text string) any {
	if textFields[key] || text == "" {
		return text
	}
	for i := 0; i < len(text); i++ {
		if text[i] < '0' || text[i] > '9' {
			return text
		}
	}
	n, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		return text
	}
	return n
}

// blockObjects converts each block to an object.
func blockObjects(exprs []control.Expr) []object {
	objects := make([]object, 0, len(exprs))
	for _, e := range exprs {
		objects = append(objects, blockObject(e))
	}
	return objects
}

// groupBlocks converts a listing to one object keyed by block head. Heads
// in singles map to one object (null when absent); heads in arrays and any
// other head map to an array of objects.
func groupBlocks(exprs []control.Expr, singles, arrays []string) object {
	var o object
	for _, head := range singles {
		o.set(head, nil)
	}
	for _, head := range arrays {
		o.set(head, []object{})
	}
	isSingle := make(map[string]bool, len(singles))
	for _, head := range singles {
		isSingle[head] = true
	}
	for _, e := range exprs {
		head, ok := e.Head()
		if !ok {
			continue
		}
		block := blockObject(e)
		if isSingle[head] {
			o.set(head, block)
			continue
		}
		list, _ := o.get(head)
		blocks, _ := list.([]object)
		o.set(head, append(blocks, block))
	}
	return o
}
