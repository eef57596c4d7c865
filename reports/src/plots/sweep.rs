//! Sweep line chart: a metric (y, with unit) against a swept parameter (x, with unit),
//! one line with point markers per series.

use super::*;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};

/// One line: (x, y) points, drawn in x order (or as given, see `SweepChart::keep_order`).
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A sweep chart.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepChart {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
    /// Logarithmic x axis (table sizes, batch sizes); needs x > 0.
    pub log_x: bool,
    /// Logarithmic y axis (latencies spanning decades); needs y > 0.
    pub log_y: bool,
    /// Points joined in the order given (a curve traced along a swept key, whose x is a
    /// metric that need not grow), not sorted by x.
    pub keep_order: bool,
}

impl SweepChart {
    fn x_bounds(&self) -> (f64, f64) {
        let xs = self.series.iter().flat_map(|s| &s.points).map(|p| p.0);
        let xmin = xs.clone().fold(f64::INFINITY, f64::min);
        (xmin, xs.fold(f64::NEG_INFINITY, f64::max))
    }

    /// The y range: from 0 (or below, for negative values) on a linear axis; from half
    /// the smallest to twice the largest value on a logarithmic one.
    fn y_range(&self) -> (f64, f64) {
        let ys = self.series.iter().flat_map(|s| &s.points).map(|p| p.1);
        let ymax = ys.clone().fold(0.0, f64::max);
        if self.log_y {
            let ymin = ys.fold(f64::INFINITY, f64::min);
            (ymin / 2.0, ymax * 2.0)
        } else {
            (ys.fold(0.0, f64::min), upper(ymax))
        }
    }

    fn body<DB, X, Y>(
        &self,
        chart_area: &DrawingArea<DB, Shift>,
        xr: X,
        yr: Y,
    ) -> Result<(), PlotError>
    where
        DB: DrawingBackend,
        X: AsRangedCoord<Value = f64>,
        X::CoordDescType: ValueFormatter<f64>,
        Y: AsRangedCoord<Value = f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        let mut chart = ChartBuilder::on(chart_area)
            .margin(15)
            .x_label_area_size(60)
            .y_label_area_size(90)
            .build_cartesian_2d(xr, yr)
            .map_err(de)?;
        chart
            .configure_mesh()
            .x_desc(self.x.label())
            .y_desc(self.y.label())
            .axis_desc_style(axis_label_style())
            .label_style(tick_style())
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .light_line_style(RGBColor(240, 240, 240))
            .max_light_lines(1)
            .draw()
            .map_err(de)?;
        for (i, s) in self.series.iter().enumerate() {
            let mut pts = s.points.clone();
            if !self.keep_order {
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
            let c = palette(i);
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(3)))
                .map_err(de)?;
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 5, c.filled())))
                .map_err(de)?;
        }
        Ok(())
    }
}

impl Plot for SweepChart {
    fn check(&self) -> Result<(), PlotError> {
        if self.series.is_empty() || self.series.iter().all(|s| s.points.is_empty()) {
            return Err(PlotError::Input("sweep: no points".into()));
        }
        let pts = self.series.iter().flat_map(|s| &s.points);
        finite("sweep", pts.clone().flat_map(|p| [p.0, p.1]))?;
        if self.log_x && pts.clone().any(|p| p.0 <= 0.0) {
            return Err(PlotError::Input(format!(
                "sweep: logarithmic {} axis needs values above 0",
                self.x.name
            )));
        }
        if self.log_y && pts.clone().any(|p| p.1 <= 0.0) {
            return Err(PlotError::Input(format!(
                "sweep: logarithmic {} axis needs values above 0",
                self.y.name
            )));
        }
        Ok(())
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let (chart_area, legend) = layout(root, &self.title)?;
        let (xmin, xmax) = self.x_bounds();
        let (x0, x1) = if self.log_x {
            if xmax > xmin {
                (xmin, xmax)
            } else {
                (xmin / 2.0, xmin * 2.0)
            }
        } else {
            let pad = if xmax > xmin {
                (xmax - xmin) * 0.03
            } else {
                1.0
            };
            (xmin - pad, xmax + pad)
        };
        let (y0, y1) = self.y_range();
        match (self.log_x, self.log_y) {
            (false, false) => self.body(&chart_area, x0..x1, y0..y1)?,
            (true, false) => self.body(&chart_area, (x0..x1).log_scale(), y0..y1)?,
            (false, true) => self.body(&chart_area, x0..x1, (y0..y1).log_scale())?,
            (true, true) => self.body(&chart_area, (x0..x1).log_scale(), (y0..y1).log_scale())?,
        }
        let entries: Vec<(String, Mark)> = self
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), Mark::Line(palette(i))))
            .collect();
        draw_legend(&legend, Some("series"), &entries)
    }
}
