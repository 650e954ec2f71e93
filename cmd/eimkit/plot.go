package main

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/eimkit/eimkit/data"
	"github.com/eimkit/eimkit/experiment"
)

// gridXYZ is a density on a regular grid of cell centres, for
// plotter.HeatMap: z[r*nx + c] is the value at (xs[c], ys[r]).
type gridXYZ struct {
	xs, ys []float64
	z      []float64
}

func (g *gridXYZ) Dims() (c, r int)   { return len(g.xs), len(g.ys) }
func (g *gridXYZ) Z(c, r int) float64 { return g.z[r*len(g.xs)+c] }
func (g *gridXYZ) X(c int) float64    { return g.xs[c] }
func (g *gridXYZ) Y(r int) float64    { return g.ys[r] }

// Min and Max give HeatMap its range: from 0 to the largest value.
func (g *gridXYZ) Min() float64 { return 0 }
func (g *gridXYZ) Max() float64 {
	m := 0.0
	for _, v := range g.z {
		m = max(m, v)
	}
	if m == 0 {
		m = 1 // an empty histogram: any range will do
	}
	return m
}

// newGrid returns an empty cells×cells grid of cell centres over the box
// [lo, hi].
func newGrid(lo, hi [2]float64, cells int) *gridXYZ {
	g := &gridXYZ{xs: make([]float64, cells), ys: make([]float64, cells), z: make([]float64, cells*cells)}
	for i := range cells {
		g.xs[i] = lo[0] + (float64(i)+0.5)*(hi[0]-lo[0])/float64(cells)
		g.ys[i] = lo[1] + (float64(i)+0.5)*(hi[1]-lo[1])/float64(cells)
	}
	return g
}

// targetGrid is the target's exact density at the cell centres.
func targetGrid(t data.Target, cells int) *gridXYZ {
	lo, hi := t.Bounds()
	g := newGrid(lo, hi, cells)
	for r, y := range g.ys {
		for c, x := range g.xs {
			g.z[r*cells+c] = math.Exp(t.LogDensity([]float64{x, y}))
		}
	}
	return g
}

// histogramGrid is the density estimated from the row-major [n, 2]
// samples xs by a histogram on the target's plotting box: the count of a
// cell over n times the cell's area. Samples outside the box are counted
// in n but in no cell.
func histogramGrid(t data.Target, xs []float64, cells int) *gridXYZ {
	lo, hi := t.Bounds()
	g := newGrid(lo, hi, cells)
	n := len(xs) / 2
	wx, wy := (hi[0]-lo[0])/float64(cells), (hi[1]-lo[1])/float64(cells)
	for i := range n {
		c := int(math.Floor((xs[2*i] - lo[0]) / wx))
		r := int(math.Floor((xs[2*i+1] - lo[1]) / wy))
		if c >= 0 && c < cells && r >= 0 && r < cells {
			g.z[r*cells+c]++
		}
	}
	for i := range g.z {
		g.z[i] /= float64(n) * wx * wy
	}
	return g
}

// heatPalette is the colour map of the density panels.
func heatPalette() palette.Palette { return moreland.ExtendedBlackBody().Palette(256) }

// densityPlot is one panel: g as a heat map on the target's box.
func densityPlot(g *gridXYZ, title string) *plot.Plot { return densityPlotTo(g, title, 0) }

// densityPlotTo is densityPlot on the colour scale [0, vmax] (vmax 0: the
// grid's own maximum); cells above vmax take the scale's top colour.
func densityPlotTo(g *gridXYZ, title string, vmax float64) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	pal := heatPalette()
	h := plotter.NewHeatMap(g, pal)
	h.Rasterized = true
	if vmax > 0 {
		h.Min, h.Max = 0, vmax
		h.Overflow = pal.Colors()[len(pal.Colors())-1]
	}
	p.Add(h)
	p.X.Min, p.X.Max = g.xs[0]-(g.xs[1]-g.xs[0])/2, g.xs[len(g.xs)-1]+(g.xs[1]-g.xs[0])/2
	p.Y.Min, p.Y.Max = g.ys[0]-(g.ys[1]-g.ys[0])/2, g.ys[len(g.ys)-1]+(g.ys[1]-g.ys[0])/2
	p.X.Padding, p.Y.Padding = 0, 0
	p.X.Tick.Marker, p.Y.Tick.Marker = niceTicks{}, niceTicks{}
	return p
}

// writeDensityPNG writes the picture of one run: the target's density
// beside the model's, estimated by a histogram of the exact samples xs
// (row-major [n, 2]), on one colour scale from 0 (black) to the target's
// maximum (white), with the scale beside them.
func writeDensityPNG(path string, t data.Target, xs []float64, cells int, modelTitle string) error {
	row := densityRow{grids: []*gridXYZ{targetGrid(t, cells), histogramGrid(t, xs, cells)},
		titles: []string{t.Name() + ": target density", modelTitle}}
	return writeDensityGrid(path, "", [2]string{"x₁", "x₂"}, []densityRow{row})
}

// curve is one model's training objective per step, for a curves plot.
type curve struct {
	label  string
	bounds []float64
}

// smoothed returns the running means of b over consecutive windows of w
// steps, as (step at the window's end, mean) points; a last partial window
// is included.
func smoothed(b []float64, w int) plotter.XYs {
	var pts plotter.XYs
	for lo := 0; lo < len(b); lo += w {
		hi := min(lo+w, len(b))
		s := 0.0
		for _, v := range b[lo:hi] {
			s += v
		}
		pts = append(pts, plotter.XY{X: float64(hi), Y: s / float64(hi-lo)})
	}
	return pts
}

// writeCurvesPNG writes the Fig. 1 style picture for one target: each
// model's training objective against the step (means over windows of
// steps), with the target's E_p[log p] as a dashed horizontal line. The
// y range starts 3 nats below E_p[log p] (or at the lowest smoothed value
// if that is higher), so the first steps do not flatten the picture.
func writeCurvesPNG(path string, t data.Target, curves []curve, title string) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "step"
	p.Y.Label.Text = "training objective (nats)"
	p.Add(plotter.NewGrid())
	var legend []legendEntry
	truth := t.MeanLogDensity()
	steps := 1
	lowest, highest := truth, truth
	for i, c := range curves {
		if len(c.bounds) == 0 {
			continue
		}
		steps = max(steps, len(c.bounds))
		pts := smoothed(c.bounds, max(1, len(c.bounds)/200))
		for _, pt := range pts {
			if !math.IsNaN(pt.Y) && !math.IsInf(pt.Y, 0) {
				lowest, highest = min(lowest, pt.Y), max(highest, pt.Y)
			}
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("curve of %s: %w", c.label, err)
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		p.Add(l)
		legend = append(legend, legendEntry{c.label, l})
	}
	ref, err := plotter.NewLine(plotter.XYs{{X: 0, Y: truth}, {X: float64(steps), Y: truth}})
	if err != nil {
		return err
	}
	ref.Color = color.Black
	ref.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(ref)
	legend = append(legend, legendEntry{fmt.Sprintf("E_p log p = %.3f", truth), ref})
	p.X.Min, p.X.Max = 0, float64(steps)
	p.Y.Min = max(lowest, truth-3) - 0.05
	p.Y.Max = highest + 0.1
	p.Y.Tick.Marker = niceTicks{}
	return writeWithLegendBelow(path, p, legend, 7*vg.Inch, 4*vg.Inch)
}

// writePNG encodes img as a PNG at path, atomically (experiment.WriteFile).
func writePNG(path string, img *vgimg.Canvas) error {
	return experiment.WriteFile(path, func(w io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
		return err
	})
}

// densityCells is the resolution of the density panels of synthetic.
const densityCells = 100

// densityName is the file in a run's directory holding its density
// histogram (a gridJSON), from which the Fig. 2 grid is drawn.
const densityName = "density.json"

// gridJSON is a histogram grid on disk.
type gridJSON struct {
	Cells int       `json:"cells"`
	Lo    []float64 `json:"lo"`
	Hi    []float64 `json:"hi"`
	Z     []float64 `json:"z"` // row-major, z[r*cells + c] at (x_c, y_r)
}

func (g *gridXYZ) toJSON(lo, hi [2]float64) gridJSON {
	return gridJSON{Cells: len(g.xs), Lo: lo[:], Hi: hi[:], Z: g.z}
}

func (j gridJSON) grid() (*gridXYZ, error) {
	if j.Cells < 2 || len(j.Lo) != 2 || len(j.Hi) != 2 || len(j.Z) != j.Cells*j.Cells {
		return nil, fmt.Errorf("malformed density grid (%d cells, %d values)", j.Cells, len(j.Z))
	}
	g := newGrid([2]float64{j.Lo[0], j.Lo[1]}, [2]float64{j.Hi[0], j.Hi[1]}, j.Cells)
	copy(g.z, j.Z)
	return g, nil
}

// densityRow is one row of the Fig. 2 grid: a target and its panels (the
// target's density first, then each model's histogram).
type densityRow struct {
	target string
	grids  []*gridXYZ
	titles []string
}

// writeDensityGridPNG draws Fig. 2: targets in rows, the target density
// first and then each model, all panels of a row on one colour scale from
// 0 to the target's maximum density (a model's cells above it are drawn
// white, the scale's top), with the scale as a bar at the row's end.
func writeDensityGridPNG(path string, rows []densityRow) error {
	return writeDensityGrid(path, "Target and learned densities (Fig. 2): exact samples of each trained model", [2]string{"x₁", "x₂"}, rows)
}

// writeDensityGrid is writeDensityGridPNG with the given title and axis
// names.
func writeDensityGrid(path, heading string, axes [2]string, rows []densityRow) error {
	if len(rows) == 0 {
		return nil
	}
	cols := len(rows[0].grids)
	panel, barW, titleH := 2.3*vg.Inch, 1.2*vg.Inch, 0.35*vg.Inch
	if len(rows) == 1 {
		panel = 3.5 * vg.Inch // a single row: larger panels
	}
	if heading == "" {
		titleH = 0
	}
	w, h := vg.Length(cols)*panel+barW, vg.Length(len(rows))*panel+titleH
	img := vgimg.New(w, h)
	dc := draw.New(img)
	title := draw.Crop(dc, 0, 0, h-titleH, 0)
	if heading != "" {
		title.FillText(draw.TextStyle{Color: color.Black, Font: font.From(plot.DefaultFont, vg.Points(12)),
			XAlign: draw.XCenter, YAlign: draw.YCenter, Handler: plot.DefaultTextHandler},
			vg.Point{X: w / 2, Y: h - titleH/2}, heading)
	}
	body := draw.Crop(dc, 0, 0, 0, -titleH)
	panels := draw.Crop(body, 0, -barW, 0, 0)
	bars := draw.Crop(body, w-barW, 0, 0, 0)
	pad := draw.Tiles{Rows: len(rows), Cols: cols, PadX: vg.Inch / 10, PadY: vg.Inch / 10,
		PadTop: vg.Inch / 20, PadBottom: vg.Inch / 20, PadLeft: vg.Inch / 20, PadRight: vg.Inch / 20}
	plots := make([][]*plot.Plot, len(rows))
	maxes := make([]float64, len(rows))
	for r, row := range rows {
		maxes[r] = row.grids[0].Max()
		for c, g := range row.grids {
			p := densityPlotTo(g, row.titles[c], maxes[r])
			p.Title.TextStyle.Font.Size = vg.Points(9)
			if r == len(rows)-1 {
				p.X.Label.Text = axes[0]
			}
			if c == 0 {
				p.Y.Label.Text = strings.TrimSpace(row.target + "\n" + axes[1])
			}
			plots[r] = append(plots[r], p)
		}
	}
	canvases := plot.Align(plots, pad, panels)
	for r := range plots {
		for c, p := range plots[r] {
			p.Draw(canvases[r][c])
		}
	}
	barTiles := draw.Tiles{Rows: len(rows), Cols: 1, PadY: vg.Inch / 10,
		PadTop: vg.Inch / 20, PadBottom: vg.Inch / 20, PadLeft: vg.Inch / 20, PadRight: vg.Inch / 4}
	for r := range rows {
		cm := moreland.ExtendedBlackBody()
		cm.SetMin(0)
		cm.SetMax(maxes[r])
		p := plot.New()
		p.Add(&plotter.ColorBar{ColorMap: cm, Vertical: true})
		p.HideX()
		p.Y.Label.Text = "density"
		p.Y.Padding = 0
		p.Y.Tick.Marker = niceTicks{}
		p.Title.Text = " "
		p.Title.TextStyle.Font.Size = vg.Points(9)
		c := barTiles.At(bars, 0, r)
		// A narrow bar in the middle of its tile.
		p.Draw(draw.Crop(c, 0, -(c.Max.X-c.Min.X)/3, vg.Inch/4, 0))
	}
	return writePNG(path, img)
}

// fig1Panel is one panel of Fig. 1: each model's held-out bound against
// the step, and the target's E_p log p.
type fig1Panel struct {
	title  string
	truth  float64
	steps  int
	labels []string
	curves []plotter.XYs
}

// writeFig1PNG draws Fig. 1: a panel per target (and the mismatched
// proposal), each model's held-out bound during training with E_p log p as
// a dashed line, the y range from the curves' values after the first
// fifth of the steps (the first evaluations are far below and would
// flatten the rest), and one legend below the panels, off the curves.
func writeFig1PNG(path string, panels []fig1Panel, cs curveSettings) error {
	if len(panels) == 0 {
		return nil
	}
	const pw, ph, legendH, titleH = 3.4 * vg.Inch, 3.0 * vg.Inch, 0.45 * vg.Inch, 0.35 * vg.Inch
	w, h := vg.Length(len(panels))*pw, ph+legendH+titleH
	img := vgimg.New(w, h)
	dc := draw.New(img)
	top := draw.Crop(dc, 0, 0, h-titleH, 0)
	top.FillText(draw.TextStyle{Color: color.Black, Font: font.From(plot.DefaultFont, vg.Points(10)),
		XAlign: draw.XCenter, YAlign: draw.YCenter, Handler: plot.DefaultTextHandler},
		vg.Point{X: w / 2, Y: h - titleH/2},
		fmt.Sprintf("Held-out bound during training: %d points, every %d steps, S = %d (LARS: Z from %d draws)",
			cs.Points, cs.Every, cs.Samples, 1000*cs.Samples))
	body := draw.Crop(dc, 0, 0, legendH, -titleH)
	var plots []*plot.Plot
	var legend []legendEntry
	for i, fp := range panels {
		p := plot.New()
		p.Title.Text = fp.title
		p.Title.TextStyle.Font.Size = vg.Points(10)
		p.X.Label.Text = "step"
		if i == 0 {
			p.Y.Label.Text = "held-out bound (nats)"
		}
		p.Add(plotter.NewGrid())
		lo, hi := fp.truth, fp.truth
		for j, pts := range fp.curves {
			for _, pt := range pts {
				if pt.X >= 0.2*float64(fp.steps) {
					lo, hi = min(lo, pt.Y), max(hi, pt.Y)
				}
			}
			if len(pts) == 0 {
				continue
			}
			l, err := plotter.NewLine(pts)
			if err != nil {
				return fmt.Errorf("%s, %s: %w", fp.title, fp.labels[j], err)
			}
			l.Color = plotutil.Color(j)
			l.Width = vg.Points(1.5)
			p.Add(l)
			if i == 0 {
				legend = append(legend, legendEntry{fp.labels[j], l})
			}
		}
		ref, err := plotter.NewLine(plotter.XYs{{X: 0, Y: fp.truth}, {X: float64(fp.steps), Y: fp.truth}})
		if err != nil {
			return err
		}
		ref.Color = color.Black
		ref.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(ref)
		if i == 0 {
			legend = append(legend, legendEntry{"E_p log p", ref})
		}
		pad := 0.08 * max(hi-lo, 0.1)
		p.X.Min, p.X.Max = 0, float64(fp.steps)
		p.Y.Min, p.Y.Max = lo-pad, hi+pad
		p.Y.Tick.Marker = niceTicks{}
		plots = append(plots, p)
	}
	tiles := draw.Tiles{Rows: 1, Cols: len(plots), PadX: vg.Inch / 6, PadTop: vg.Inch / 10, PadBottom: vg.Inch / 20,
		PadLeft: vg.Inch / 10, PadRight: vg.Inch / 6}
	canvases := plot.Align([][]*plot.Plot{plots}, tiles, body)
	for i, p := range plots {
		p.Draw(canvases[0][i])
	}
	drawLegendRow(draw.Crop(dc, 0, 0, 0, -(h-legendH)), legend)
	return writePNG(path, img)
}

// legendEntry is an entry of a legend drawn by hand.
type legendEntry struct {
	name  string
	thumb plot.Thumbnailer
}

// legendRowH is the height of a row of a legend drawn by drawLegend.
const legendRowH = 0.3 * vg.Inch

// layoutLegend places the entries side by side in rows no wider than
// width, returning each entry's legend with its offsets from the strip's
// top left, and the number of rows.
func layoutLegend(c draw.Canvas, entries []legendEntry, width vg.Length) ([]plot.Legend, int) {
	var out []plot.Legend
	x, row := vg.Inch/2, 0
	for _, e := range entries {
		one := plot.NewLegend()
		one.Add(e.name, e.thumb)
		one.Left, one.Top = true, true
		r := one.Rectangle(c)
		ew := r.Max.X - r.Min.X
		if x > vg.Inch/2 && x+ew > width-vg.Inch/4 {
			x, row = vg.Inch/2, row+1
		}
		one.XOffs = x
		one.YOffs = -vg.Inch/10 - vg.Length(row)*legendRowH
		out = append(out, one)
		x += ew + vg.Inch/3
	}
	return out, row + 1
}

// drawLegendRow draws the entries side by side (in as many rows as their
// widths need) in the strip c, so that the legend sits off the curves.
func drawLegendRow(c draw.Canvas, entries []legendEntry) {
	ls, _ := layoutLegend(c, entries, c.Max.X-c.Min.X)
	for i := range ls {
		ls[i].Draw(c)
	}
}

// writeWithLegendBelow draws p in a w × h image, with a margin so no label
// touches the edge, and the entries in rows below it.
func writeWithLegendBelow(path string, p *plot.Plot, entries []legendEntry, w, h vg.Length) error {
	probe := draw.New(vgimg.New(w, h))
	_, rows := layoutLegend(probe, entries, w)
	legendH := vg.Length(rows)*legendRowH + vg.Inch/10
	img := vgimg.New(w, h+legendH)
	dc := draw.New(img)
	p.Draw(draw.Crop(dc, vg.Inch/10, -vg.Inch/4, legendH, -vg.Inch/10))
	drawLegendRow(draw.Crop(dc, 0, 0, 0, -h), entries)
	return writePNG(path, img)
}

// niceTicks places about five major ticks at multiples of a round step
// (1, 2 or 5 × 10^k), labelled with just the digits the step needs, and
// a minor tick between each two: gonum's default ticks can land on values
// such as −0.5, −1.5, −2.5, which read poorly.
type niceTicks struct{}

func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	span := hi - lo
	if !(span > 0) || math.IsInf(span, 0) {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	mag := math.Pow(10, math.Floor(math.Log10(span/5)))
	step := mag
	for _, f := range []float64{1, 2, 5, 10} {
		if step = f * mag; step >= span/5 {
			break
		}
	}
	decimals := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	var ticks []plot.Tick
	for i := math.Ceil(lo / step * 2); i/2*step <= hi+1e-9*span; i++ {
		v := i / 2 * step
		if int(i)%2 == 0 {
			ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', decimals, 64)})
		} else {
			ticks = append(ticks, plot.Tick{Value: v})
		}
	}
	return ticks
}
