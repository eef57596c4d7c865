//! Cumulative distribution of a latency (per-step exposed latency, per-request TTFT or
//! TPOT): x = latency, y = share of the population (steps, requests) at or below it; one
//! line per series (system, policy, ...), p50 and p99 in the legend.

use super::*;

/// One distribution: per-step values in seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct CdfSeries {
    pub name: String,
    pub values_s: Vec<f64>,
}

/// A CDF plot of one or more series.
#[derive(Clone, Debug, PartialEq)]
pub struct Cdf {
    pub title: String,
    /// What is distributed (e.g. "exposed latency per step"); the unit is picked from
    /// the data.
    pub quantity: String,
    /// What is counted on the y axis ("steps", "requests").
    pub population: String,
    pub series: Vec<CdfSeries>,
}

/// Nearest-rank percentile (`p` in 0..=100) of `sorted` (ascending, non-empty).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

impl Cdf {
    fn max(&self) -> f64 {
        self.series
            .iter()
            .flat_map(|s| &s.values_s)
            .copied()
            .fold(0.0, f64::max)
    }

    /// The x-axis label, with the unit picked for the data.
    pub fn x_label(&self) -> String {
        let (unit, _) = crate::units::time_unit_for(self.max());
        format!("{} ({unit})", self.quantity)
    }
}

impl Plot for Cdf {
    fn check(&self) -> Result<(), PlotError> {
        if self.series.is_empty() || self.series.iter().any(|s| s.values_s.is_empty()) {
            return Err(PlotError::Input("CDF: a series has no values".into()));
        }
        finite(
            "CDF",
            self.series.iter().flat_map(|s| s.values_s.iter().copied()),
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let (chart_area, legend) = layout(root, &self.title)?;
        let (unit, mul) = crate::units::time_unit_for(self.max());
        let lo = self
            .series
            .iter()
            .flat_map(|s| &s.values_s)
            .copied()
            .fold(f64::INFINITY, f64::min)
            .min(0.0)
            * mul;
        let mut chart = ChartBuilder::on(&chart_area)
            .margin(15)
            .x_label_area_size(60)
            .y_label_area_size(90)
            .build_cartesian_2d(lo..upper(self.max() * mul), 0.0..100.0)
            .map_err(de)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label())
            .y_desc(format!("{} at or below (%)", self.population))
            .axis_desc_style(axis_label_style())
            .label_style(tick_style())
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .light_line_style(RGBColor(240, 240, 240))
            .max_light_lines(1)
            .draw()
            .map_err(de)?;
        let mut entries = Vec::new();
        for (i, s) in self.series.iter().enumerate() {
            let mut v: Vec<f64> = s.values_s.iter().map(|x| x * mul).collect();
            v.sort_by(f64::total_cmp);
            let n = v.len() as f64;
            let mut pts = vec![(v[0], 0.0)];
            for (k, x) in v.iter().enumerate() {
                pts.push((*x, k as f64 * 100.0 / n));
                pts.push((*x, (k + 1) as f64 * 100.0 / n));
            }
            let c = palette(i);
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(3)))
                .map_err(de)?;
            entries.push((
                format!(
                    "{}\np50 {} {unit}, p99 {} {unit}",
                    s.name,
                    tick(percentile(&v, 50.0)),
                    tick(percentile(&v, 99.0))
                ),
                Mark::Line(c),
            ));
        }
        draw_legend(&legend, Some("series"), &entries)
    }
}
