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
        for (i, p) in self.points.iter().enumerate() {
            let on = front.contains(&i);
            let (c, r) = if on { (red, 8) } else { (grey, 6) };
            chart
                .draw_series([Circle::new((p.cost, p.throughput), r, c.filled())])
                .map_err(de)?;
            chart
                .draw_series([EmptyElement::at((p.cost, p.throughput))
                    + Text::new(p.label.clone(), (10, -20), small_style())])
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
