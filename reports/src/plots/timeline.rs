//! Stacked time lines sharing one time axis: each panel its own quantity and unit (a
//! serving run's batch size above, its KV-cache use below), one line per series.

use super::*;

/// One panel: a y axis and its lines.
#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    pub y: Axis,
    pub series: Vec<Series>,
}

/// Panels stacked top to bottom over the same x (time) range.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeLines {
    pub title: String,
    pub x: Axis,
    pub panels: Vec<Panel>,
}

impl TimeLines {
    fn x_range(&self) -> (f64, f64) {
        let xs = self
            .panels
            .iter()
            .flat_map(|p| &p.series)
            .flat_map(|s| &s.points)
            .map(|p| p.0);
        let lo = xs.clone().fold(f64::INFINITY, f64::min);
        let hi = xs.fold(f64::NEG_INFINITY, f64::max);
        if hi > lo {
            (lo, hi)
        } else {
            (lo - 0.5, lo + 0.5)
        }
    }

    /// Series colours run on across panels, so no two lines share one.
    fn draw_panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        panel: &Panel,
        first_colour: usize,
        last: bool,
    ) -> Result<(), PlotError> {
        let (x0, x1) = self.x_range();
        let ymax = panel
            .series
            .iter()
            .flat_map(|s| &s.points)
            .map(|p| p.1)
            .fold(0.0, f64::max);
        let mut chart = ChartBuilder::on(area)
            .margin(15)
            .x_label_area_size(if last { 60 } else { 30 })
            .y_label_area_size(90)
            .build_cartesian_2d(x0..x1, 0.0..upper(ymax))
            .map_err(de)?;
        let mut mesh = chart.configure_mesh();
        mesh.y_desc(panel.y.label())
            .axis_desc_style(axis_label_style())
            .label_style(tick_style())
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .y_labels(6)
            .light_line_style(RGBColor(240, 240, 240))
            .max_light_lines(1);
        if last {
            mesh.x_desc(self.x.label());
        }
        mesh.draw().map_err(de)?;
        for (i, s) in panel.series.iter().enumerate() {
            let c = palette(first_colour + i);
            // Segment by segment: a thick polyline's mitred joins spike at sharp reversals.
            let segments = s
                .points
                .windows(2)
                .map(|w| PathElement::new(vec![w[0], w[1]], c.stroke_width(2)));
            chart.draw_series(segments).map_err(de)?;
        }
        Ok(())
    }
}

impl Plot for TimeLines {
    fn size(&self) -> (u32, u32) {
        (DEFAULT_SIZE.0, 140 + 280 * self.panels.len() as u32)
    }

    fn check(&self) -> Result<(), PlotError> {
        let pts = self
            .panels
            .iter()
            .flat_map(|p| &p.series)
            .flat_map(|s| &s.points);
        if self.panels.is_empty() || pts.clone().next().is_none() {
            return Err(PlotError::Input("time lines: no points".into()));
        }
        if self
            .panels
            .iter()
            .any(|p| p.series.iter().all(|s| s.points.is_empty()))
        {
            return Err(PlotError::Input("time lines: a panel has no points".into()));
        }
        finite("time lines", pts.flat_map(|p| [p.0, p.1]))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let (chart_area, legend) = layout(root, &self.title)?;
        let n = self.panels.len();
        let (_, h) = chart_area.dim_in_pixel();
        // The last panel also holds the x axis labels.
        let each = (h as i32 - 30) / n as i32;
        let cuts: Vec<i32> = (1..n).map(|k| each * k as i32).collect();
        let areas = chart_area.split_by_breakpoints([] as [i32; 0], cuts);
        let mut entries = Vec::new();
        let mut colour = 0;
        for (k, (area, panel)) in areas.iter().zip(&self.panels).enumerate() {
            self.draw_panel(area, panel, colour, k + 1 == n)?;
            for s in &panel.series {
                entries.push((s.name.clone(), Mark::Line(palette(colour))));
                colour += 1;
            }
        }
        draw_legend(&legend, Some("series"), &entries)
    }
}
