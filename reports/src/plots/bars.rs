//! Stacked hidden/exposed bars: one cluster per system (or run), one bar per op category
//! inside it; the solid lower part is exposed latency, the light upper part hidden.

use super::*;

/// One category's latency split inside a group.
#[derive(Clone, Debug, PartialEq)]
pub struct BarSegment {
    pub category: String,
    pub hidden_s: f64,
    pub exposed_s: f64,
}

/// One cluster of bars, e.g. one system.
#[derive(Clone, Debug, PartialEq)]
pub struct BarGroup {
    pub label: String,
    pub segments: Vec<BarSegment>,
}

/// Stacked hidden/exposed bars per category and per group.
#[derive(Clone, Debug, PartialEq)]
pub struct HiddenExposedBars {
    pub title: String,
    /// What a group is, for the x axis (e.g. "system").
    pub group_axis: String,
    pub groups: Vec<BarGroup>,
}

impl HiddenExposedBars {
    /// Categories in first-seen order (their colours follow this order).
    pub fn categories(&self) -> Vec<&str> {
        let mut v: Vec<&str> = Vec::new();
        for g in &self.groups {
            for s in &g.segments {
                if !v.contains(&s.category.as_str()) {
                    v.push(&s.category);
                }
            }
        }
        v
    }

    /// The y-axis label, with the unit picked for the data.
    pub fn y_label(&self) -> String {
        let (unit, _) = crate::units::time_unit_for(self.max_s());
        format!("latency per category ({unit})")
    }

    fn max_s(&self) -> f64 {
        self.groups
            .iter()
            .flat_map(|g| &g.segments)
            .map(|s| s.hidden_s + s.exposed_s)
            .fold(0.0, f64::max)
    }
}

impl Plot for HiddenExposedBars {
    fn check(&self) -> Result<(), PlotError> {
        if self.groups.is_empty() {
            return Err(PlotError::Input("bars: no groups".into()));
        }
        let vals = self
            .groups
            .iter()
            .flat_map(|g| &g.segments)
            .flat_map(|s| [s.hidden_s, s.exposed_s]);
        finite("bars", vals.clone())?;
        if vals.clone().any(|v| v < 0.0) {
            return Err(PlotError::Input("bars: negative latency".into()));
        }
        Ok(())
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let (chart_area, legend) = layout(root, &self.title)?;
        let cats = self.categories();
        let n = self.groups.len();
        let (unit, mul) = crate::units::time_unit_for(self.max_s());
        let ymax = upper(self.max_s() * mul);
        let labels: Vec<String> = self.groups.iter().map(|g| g.label.clone()).collect();
        let mut chart = ChartBuilder::on(&chart_area)
            .margin(15)
            .x_label_area_size(60)
            .y_label_area_size(90)
            .build_cartesian_2d(Slots::new(n, 0..n), 0.0..ymax)
            .map_err(de)?;
        let xfmt = |x: &f64| {
            let i = (x - 0.5).round();
            if i >= 0.0 && (i as usize) < labels.len() {
                labels[i as usize].clone()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(&self.group_axis)
            .y_desc(format!("latency per category ({unit})"))
            .axis_desc_style(axis_label_style())
            .label_style(tick_style())
            .x_label_formatter(&xfmt)
            .y_label_formatter(&|v| tick(*v))
            .light_line_style(RGBColor(240, 240, 240))
            .max_light_lines(1)
            .draw()
            .map_err(de)?;
        let k = cats.len().max(1) as f64;
        let width = 0.8 / k;
        for (gi, g) in self.groups.iter().enumerate() {
            for s in &g.segments {
                let ci = cats.iter().position(|c| *c == s.category).unwrap_or(0);
                let x0 = gi as f64 + 0.1 + ci as f64 * width;
                let x1 = x0 + width * 0.9;
                let e = s.exposed_s * mul;
                let h = s.hidden_s * mul;
                let c = palette(ci);
                chart
                    .draw_series([
                        Rectangle::new([(x0, 0.0), (x1, e)], c.filled()),
                        Rectangle::new([(x0, e), (x1, e + h)], tint(c, 0.6).filled()),
                        Rectangle::new([(x0, 0.0), (x1, e + h)], c.stroke_width(1)),
                    ])
                    .map_err(de)?;
            }
        }
        let mut entries: Vec<(String, Mark)> = cats
            .iter()
            .enumerate()
            .map(|(i, c)| (c.to_string(), Mark::Box(palette(i))))
            .collect();
        entries.push(("solid: exposed".into(), Mark::Box(RGBColor(90, 90, 90))));
        entries.push((
            "light: hidden".into(),
            Mark::Box(tint(RGBColor(90, 90, 90), 0.6)),
        ));
        draw_legend(&legend, Some("category"), &entries)
    }
}
