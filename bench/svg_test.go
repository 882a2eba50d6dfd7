package bench

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

func TestBarChartSVG(t *testing.T) {
	c := BarChart{Title: "a <b> & c", Unit: "Mpps", Rows: []BarRow{
		{Label: "kernel \"x\"", Value: 3.2, Lo: 3, Hi: 3.5},
		{Label: "missing", Missing: true, Note: "not available in this build"},
		{Label: "zero", Value: 0},
	}}
	var b bytes.Buffer
	if err := c.WriteSVG(&b); err != nil {
		t.Fatalf("WriteSVG: %v", err)
	}
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	rects, texts := 0, []string{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("WriteSVG output is not well-formed XML: %v\n%s", err, b.String())
		}
		switch x := tok.(type) {
		case xml.StartElement:
			if x.Name.Local == "rect" {
				rects++
			}
		case xml.CharData:
			texts = append(texts, string(x))
		}
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"a <b> & c", "kernel \"x\"", "not available in this build", "3.20"} {
		if !strings.Contains(all, want) {
			t.Errorf("SVG text %q does not contain %q", all, want)
		}
	}
	// The background and the two rows with values.
	if rects != 3 {
		t.Errorf("SVG has %d rect elements, want 3", rects)
	}
}

func TestNiceStep(t *testing.T) {
	tests := []struct {
		max  float64
		want float64
	}{{4.3, 1}, {0.8, 0.2}, {12, 2.5}, {700, 200}, {0, 1}}
	for _, tc := range tests {
		if got := niceStep(tc.max, 5); got != tc.want {
			t.Errorf("niceStep(%v, 5) = %v, want %v", tc.max, got, tc.want)
		}
	}
}
