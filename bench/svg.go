package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// BarChart is a horizontal bar chart rendered as SVG, one bar per row,
// with an optional range whisker per bar.
type BarChart struct {
	Title string
	// Unit labels the value axis.
	Unit string
	Rows []BarRow
}

// BarRow is one bar. A row with Missing set shows its Note instead of a
// bar.
type BarRow struct {
	Label   string
	Value   float64
	Lo, Hi  float64 // the whisker; both 0 draws none
	Color   string
	Missing bool
	Note    string
}

// Chart geometry in pixels.
const (
	chartWidth   = 920
	labelWidth   = 360
	valueWidth   = 90
	rowHeight    = 22
	barHeight    = 14
	chartTop     = 40
	chartBottom  = 40
	chartPadding = 10
)

// niceStep returns a round tick spacing that divides max into about n
// steps.
func niceStep(max float64, n int) float64 {
	if max <= 0 {
		return 1
	}
	raw := max / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// WriteSVG renders the chart.
func (c BarChart) WriteSVG(w io.Writer) error {
	max := 0.0
	for _, r := range c.Rows {
		if r.Missing {
			continue
		}
		max = math.Max(max, math.Max(r.Value, r.Hi))
	}
	step := niceStep(max, 5)
	axisMax := math.Ceil(max/step) * step
	if axisMax <= 0 {
		axisMax = 1
	}
	plotLeft := float64(labelWidth)
	plotWidth := float64(chartWidth - labelWidth - valueWidth - chartPadding)
	x := func(v float64) float64 { return plotLeft + v/axisMax*plotWidth }
	height := chartTop + len(c.Rows)*rowHeight + chartBottom

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartWidth, height, chartWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", chartPadding, html.EscapeString(c.Title))
	plotBottom := chartTop + len(c.Rows)*rowHeight
	for v := 0.0; v <= axisMax+step/2; v += step {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x(v), chartTop-4, x(v), plotBottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", x(v), plotBottom+16, formatTick(v))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", plotLeft+plotWidth/2, plotBottom+32, html.EscapeString(c.Unit))
	for i, r := range c.Rows {
		y := chartTop + i*rowHeight
		mid := y + rowHeight/2
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", labelWidth-8, mid, html.EscapeString(r.Label))
		if r.Missing {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" dominant-baseline="middle" fill="#888" font-style="italic">%s</text>`+"\n", plotLeft+4, mid, html.EscapeString(r.Note))
			continue
		}
		color := r.Color
		if color == "" {
			color = "#4e79a7"
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", plotLeft, mid-barHeight/2, x(r.Value)-plotLeft, barHeight, color)
		if r.Hi > 0 || r.Lo > 0 {
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>`+"\n", x(r.Lo), mid, x(r.Hi), mid)
			for _, v := range []float64{r.Lo, r.Hi} {
				fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>`+"\n", x(v), mid-4, x(v), mid+4)
			}
		}
		end := math.Max(x(r.Value), x(r.Hi))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" dominant-baseline="middle">%s</text>`+"\n", end+4, mid, formatValue(r.Value))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func formatTick(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}

func formatValue(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
