//! Cost-efficiency Pareto plot: throughput (y) against cost (x), one labelled point per
//! configuration; the frontier (no other point is both cheaper-or-equal and
//! faster-or-equal, and strictly better in one) is joined by a highlighted line.

use super::*;

#[derive(Clone, Debug, PartialEq)]
pub struct ParetoPoint {
    pub label: String,
    pub cost: f64,
    pub throughput: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParetoPlot {
    pub title: String,
    /// e.g. `Axis::new("cost", "USD/hour")`.
    pub cost: Axis,
    /// e.g. `Axis::new("throughput", "tokens/s")`.
    pub throughput: Axis,
    pub points: Vec<ParetoPoint>,
}

/// Indices of the frontier points, in increasing cost. Ties (same cost and throughput)
/// keep the first.
pub fn pareto_frontier(points: &[ParetoPoint]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..points.len()).collect();
    idx.sort_by(|&a, &b| {
        points[a]
            .cost
            .total_cmp(&points[b].cost)
            .then(points[b].throughput.total_cmp(&points[a].throughput))
            .then(a.cmp(&b))
    });
    let mut out = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for i in idx {
        if points[i].throughput > best {
            best = points[i].throughput;
            out.push(i);
        }
    }
    out
}

impl Plot for ParetoPlot {
    fn check(&self) -> Result<(), PlotError> {
        if self.points.is_empty() {
            return Err(PlotError::Input("Pareto plot: no points".into()));
        }
        finite(
            "Pareto plot",
            self.points.iter().flat_map(|p| [p.cost, p.throughput]),
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let (chart_area, legend) = layout(root, &self.title)?;
        let xmax = self.points.iter().map(|p| p.cost).fold(0.0, f64::max);
        let ymax = self.points.iter().map(|p| p.throughput).fold(0.0, f64::max);
        let xmin = self.points.iter().map(|p| p.cost).fold(0.0, f64::min);
        let ymin = self.points.iter().map(|p| p.throughput).fold(0.0, f64::min);
        let mut chart = ChartBuilder::on(&chart_area)
            .margin(15)
            .margin_right(40)
            .x_label_area_size(60)
            .y_label_area_size(90)
            .build_cartesian_2d(xmin..upper(xmax) * 1.12, ymin..upper(ymax))
            .map_err(de)?;
        chart
            .configure_mesh()
            .x_desc(self.cost.label())
            .y_desc(self.throughput.label())
            .axis_desc_style(axis_label_style())
            .label_style(tick_style())
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .light_line_style(RGBColor(240, 240, 240))
            .max_light_lines(1)
            .draw()
            .map_err(de)?;
        let front = pareto_frontier(&self.points);
        let red = RGBColor(214, 39, 40);
        let grey = RGBColor(127, 127, 127);
        chart
            .draw_series(LineSeries::new(
                front
                    .iter()
                    .map(|&i| (self.points[i].cost, self.points[i].throughput)),
                red.stroke_width(3),
            ))
            .map_err(de)?;
        let area = chart.plotting_area();
        let pixels: Vec<(i32, i32)> = self
            .points
            .iter()
            .map(|p| area.map_coordinate(&(p.cost, p.throughput)))
            .collect();
        let sizes = self
            .points
            .iter()
            .map(|p| {
                let (w, h) = area
                    .estimate_text_size(&p.label, &small_style())
                    .map_err(de)?;
                Ok((w as i32, h as i32))
            })
            .collect::<Result<Vec<_>, PlotError>>()?;
        let offsets = place_labels(&pixels, &sizes);
        for (i, p) in self.points.iter().enumerate() {
            let on = front.contains(&i);
            let (c, r) = if on { (red, 8) } else { (grey, 6) };
            chart
                .draw_series([Circle::new((p.cost, p.throughput), r, c.filled())])
                .map_err(de)?;
            chart
                .draw_series([EmptyElement::at((p.cost, p.throughput))
                    + Text::new(p.label.clone(), offsets[i], small_style())])
                .map_err(de)?;
        }
        let entries = vec![
            ("Pareto frontier".to_string(), Mark::Line(red)),
            ("on the frontier".to_string(), Mark::Dot(red)),
            ("dominated".to_string(), Mark::Dot(grey)),
        ];
        draw_legend(&legend, None, &entries)
    }
}

/// Pixel offset (from its point to its top-left corner) of each point's label: the first
/// of a few positions around the point whose box overlaps neither a point nor a label
/// placed before it; above right when every position collides.
fn place_labels(pixels: &[(i32, i32)], sizes: &[(i32, i32)]) -> Vec<(i32, i32)> {
    let overlaps =
        |a: [i32; 4], b: [i32; 4]| a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
    let mut taken: Vec<[i32; 4]> = pixels
        .iter()
        .map(|&(x, y)| [x - 8, y - 8, x + 8, y + 8])
        .collect();
    let mut out = Vec::with_capacity(pixels.len());
    for (&(px, py), &(w, h)) in pixels.iter().zip(sizes) {
        let tries = [
            (10, -20),
            (10, 6),
            (-w - 10, -20),
            (-w - 10, 6),
            (10, -36),
            (10, 22),
            (-w - 10, -36),
            (-w - 10, 22),
        ];
        let boxed = |(dx, dy): (i32, i32)| [px + dx, py + dy, px + dx + w, py + dy + h];
        let pick = tries
            .into_iter()
            .find(|&o| taken.iter().all(|&t| !overlaps(boxed(o), t)))
            .unwrap_or(tries[0]);
        taken.push(boxed(pick));
        out.push(pick);
    }
    out
}

#[cfg(test)]
mod label_tests {
    use super::place_labels;

    #[test]
    fn close_points_get_labels_that_do_not_overlap() {
        let pixels = [(100, 100), (104, 104), (300, 300)];
        let sizes = [(120, 14), (120, 14), (40, 14)];
        let off = place_labels(&pixels, &sizes);
        let b = |i: usize| {
            let (x, y) = (pixels[i].0 + off[i].0, pixels[i].1 + off[i].1);
            [x, y, x + sizes[i].0, y + sizes[i].1]
        };
        let (a, c) = (b(0), b(1));
        assert!(
            !(a[0] < c[2] && c[0] < a[2] && a[1] < c[3] && c[1] < a[3]),
            "{off:?}"
        );
        assert_eq!(off[0], (10, -20));
        assert_eq!(off[2], (10, -20));
    }
}
