package ring

import (
	"reflect"
	"testing"
)

// TestFieldBlocksSeparate checks that fields written by different sides of
// a ring can never share a 128-byte block, whatever the address of the ring,
// and that they keep blockSize bytes from whatever memory lies before and
// after the ring.
func TestFieldBlocksSeparate(t *testing.T) {
	tests := []struct {
		typ    reflect.Type
		groups [][]string // fields that may share a block
	}{
		{
			typ: reflect.TypeFor[SPSC[int]](),
			groups: [][]string{
				{"mask", "slots"},
				{"tail", "cachedHead"},
				{"head", "cachedTail"},
			},
		},
		{
			typ: reflect.TypeFor[SPSC[[3]uint64]](),
			groups: [][]string{
				{"mask", "slots"},
				{"tail", "cachedHead"},
				{"head", "cachedTail"},
			},
		},
		{
			typ: reflect.TypeFor[sequencedRing[int]](),
			groups: [][]string{
				{"mask", "slots"},
				{"tail"},
				{"head"},
			},
		},
	}
	for _, tt := range tests {
		// Byte ranges [first, last] of each group.
		type span struct{ first, last uintptr }
		spans := make([]span, len(tt.groups))
		for g, names := range tt.groups {
			for i, name := range names {
				f, ok := tt.typ.FieldByName(name)
				if !ok {
					t.Fatalf("%v has no field %s", tt.typ, name)
				}
				last := f.Offset + f.Type.Size() - 1
				if i == 0 || f.Offset < spans[g].first {
					spans[g].first = f.Offset
				}
				if i == 0 || last > spans[g].last {
					spans[g].last = last
				}
			}
		}

		// Two bytes at least blockSize apart lie in different aligned
		// blocks of blockSize bytes.
		for a := range spans {
			for b := a + 1; b < len(spans); b++ {
				lo, hi := spans[a], spans[b]
				if lo.first > hi.first {
					lo, hi = hi, lo
				}
				if gap := hi.first - lo.last; gap < blockSize {
					t.Errorf("%v: fields %v and %v are %d bytes apart, want at least %d",
						tt.typ, tt.groups[a], tt.groups[b], gap, blockSize)
				}
			}
		}
		// The same holds for the last byte of the object before the
		// ring and the first byte of the object after it.
		for g, s := range spans {
			if s.first < blockSize-1 {
				t.Errorf("%v: fields %v start at offset %d, want at least %d",
					tt.typ, tt.groups[g], s.first, blockSize-1)
			}
			if unused := tt.typ.Size() - 1 - s.last; unused < blockSize-1 {
				t.Errorf("%v: fields %v leave %d bytes to the end of the struct, want at least %d",
					tt.typ, tt.groups[g], unused, blockSize-1)
			}
		}
	}
}
