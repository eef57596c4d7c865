//! Per-layer exposed heat map: rows are layers (first layer on top), columns are steps
//! or systems, cell colour is exposed latency in microseconds.

use super::*;

/// A heat map of `values_us[row][col]` in microseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct HeatMap {
    pub title: String,
    /// What a row is (e.g. "layer").
    pub row_axis: String,
    /// What a column is (e.g. "step" or "system").
    pub col_axis: String,
    pub rows: Vec<String>,
    pub cols: Vec<String>,
    /// What the values measure (e.g. "exposed latency"); the unit is always us.
    pub value_name: String,
    pub values_us: Vec<Vec<f64>>,
}

/// Yellow-orange-red: light for small, dark for large (readable in greyscale too).
const STOPS: [(u8, u8, u8); 5] = [
    (255, 255, 204),
    (254, 217, 118),
    (253, 141, 60),
    (227, 26, 28),
    (128, 0, 38),
];

fn colour(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let m = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * f).round() as u8;
    RGBColor(m(a.0, b.0), m(a.1, b.1), m(a.2, b.2))
}

/// At most `max` evenly spread indices of `0..n` (all of them when they fit).
fn spread(n: usize, max: usize) -> Vec<usize> {
    let step = n.div_ceil(max.max(1)).max(1);
    (0..n).step_by(step).collect()
}

impl HeatMap {
    fn max(&self) -> f64 {
        self.values_us.iter().flatten().copied().fold(0.0, f64::max)
    }
}

impl Plot for HeatMap {
    fn check(&self) -> Result<(), PlotError> {
        if self.rows.is_empty() || self.cols.is_empty() {
            return Err(PlotError::Input("heat map: no rows or no columns".into()));
        }
        if self.values_us.len() != self.rows.len()
            || self.values_us.iter().any(|r| r.len() != self.cols.len())
        {
            return Err(PlotError::Input(format!(
                "heat map: values must be {} rows of {} columns",
                self.rows.len(),
                self.cols.len()
            )));
        }
        finite("heat map", self.values_us.iter().flatten().copied())
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let (chart_area, legend) = layout(root, &self.title)?;
        let (nr, nc) = (self.rows.len(), self.cols.len());
        let mut chart = ChartBuilder::on(&chart_area)
            .margin(15)
            .x_label_area_size(60)
            .y_label_area_size(110)
            .build_cartesian_2d(
                Slots::new(nc, spread(nc, 16)),
                Slots::new(nr, spread(nr, 24).into_iter().map(|i| nr - 1 - i)),
            )
            .map_err(de)?;
        let xfmt = |x: &f64| {
            let i = (x - 0.5).round();
            if i >= 0.0 && (i as usize) < nc {
                self.cols[i as usize].clone()
            } else {
                String::new()
            }
        };
        let yfmt = |y: &f64| {
            let i = (y - 0.5).round();
            if i >= 0.0 && (i as usize) < nr {
                self.rows[nr - 1 - i as usize].clone()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(&self.col_axis)
            .y_desc(&self.row_axis)
            .axis_desc_style(axis_label_style())
            .label_style(tick_style())
            .x_label_formatter(&xfmt)
            .y_label_formatter(&yfmt)
            .draw()
            .map_err(de)?;
        let max = self.max();
        let scale = if max > 0.0 { max } else { 1.0 };
        chart
            .draw_series(self.values_us.iter().enumerate().flat_map(|(r, row)| {
                let y = (nr - 1 - r) as f64;
                row.iter().enumerate().map(move |(c, v)| {
                    Rectangle::new(
                        [(c as f64, y), (c as f64 + 1.0, y + 1.0)],
                        colour(v / scale).filled(),
                    )
                })
            }))
            .map_err(de)?;
        // Colour bar.
        let heading = format!("{} (us)", self.value_name);
        legend
            .draw(&Text::new(
                heading,
                (10, 30),
                (FONT, 17, FontStyle::Bold).into_font(),
            ))
            .map_err(de)?;
        let (top, height, x0) = (70i32, 300i32, 20i32);
        for p in 0..height {
            let t = 1.0 - p as f64 / (height - 1) as f64;
            legend
                .draw(&Rectangle::new(
                    [(x0, top + p), (x0 + 30, top + p + 1)],
                    colour(t).filled(),
                ))
                .map_err(de)?;
        }
        legend
            .draw(&Rectangle::new(
                [(x0, top), (x0 + 30, top + height)],
                BLACK.stroke_width(1),
            ))
            .map_err(de)?;
        for k in 0..=4 {
            let t = k as f64 / 4.0;
            let y = top + ((1.0 - t) * (height - 1) as f64).round() as i32;
            legend
                .draw(&PathElement::new(
                    vec![(x0 + 30, y), (x0 + 36, y)],
                    BLACK.stroke_width(1),
                ))
                .map_err(de)?;
            legend
                .draw(&Text::new(
                    format!("{} us", tick(t * max)),
                    (x0 + 42, y - 8),
                    legend_style(),
                ))
                .map_err(de)?;
        }
        Ok(())
    }
}
