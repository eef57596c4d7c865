//! Stream timeline (Gantt): one row per stream, one bar per op coloured by category.
//!
//! A run can record millions of ops; a picture of all of them is a smear and a huge SVG.
//! So the chart draws a window: the caller's, or the whole run, cut short after
//! `max_ops` ops (in start order) so the drawn window is complete up to its end. The
//! title says what was drawn.

use super::*;
use memwall_sim::{OpKind, Ps, Timeline};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GanttOptions {
    pub title: String,
    /// Time window to draw (start inclusive, end exclusive); `None` for the whole run.
    pub window: Option<(Ps, Ps)>,
    /// At most this many ops are drawn; the window ends where the next op would start.
    pub max_ops: usize,
}

impl Default for GanttOptions {
    fn default() -> Self {
        GanttOptions {
            title: "stream timeline".into(),
            window: None,
            max_ops: 5_000,
        }
    }
}

/// A Gantt chart of `timeline`.
#[derive(Clone, Debug)]
pub struct Gantt<'a> {
    pub timeline: &'a Timeline,
    pub options: GanttOptions,
}

/// What a Gantt chart will draw: record indices and the (possibly shortened) window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GanttSelection {
    pub ops: Vec<usize>,
    pub window: (Ps, Ps),
    /// Ops in the requested window, drawn or not.
    pub total: usize,
}

impl<'a> Gantt<'a> {
    pub fn new(timeline: &'a Timeline, options: GanttOptions) -> Self {
        Gantt { timeline, options }
    }

    /// The ops drawn and the window they fill.
    pub fn selection(&self) -> GanttSelection {
        let tl = self.timeline;
        let (w0, w1) = self.options.window.unwrap_or_else(|| {
            let first = tl
                .records
                .iter()
                .filter(|r| r.finished())
                .map(|r| r.start)
                .min()
                .unwrap_or(Ps::ZERO);
            (first, tl.makespan())
        });
        let mut ops: Vec<usize> = tl
            .records
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.finished()
                    && tl.category(r.category).kind != OpKind::Marker
                    && r.end >= w0
                    && (r.start < w1 || (r.start == w0 && w0 == w1))
            })
            .map(|(i, _)| i)
            .collect();
        ops.sort_by_key(|&i| (tl.records[i].start, tl.records[i].id));
        let total = ops.len();
        let mut end = w1;
        if ops.len() > self.options.max_ops {
            end = tl.records[ops[self.options.max_ops]]
                .start
                .max(Ps(w0.0 + 1));
            ops.truncate(self.options.max_ops);
        }
        GanttSelection {
            ops,
            window: (w0, end.max(Ps(w0.0 + 1))),
            total,
        }
    }

    /// The x-axis label, with the unit picked for the drawn window.
    pub fn x_label(&self) -> String {
        let (w0, w1) = self.selection().window;
        let (unit, _) = crate::units::time_unit_for((w1 - w0).as_secs_f64());
        format!("simulated time ({unit})")
    }
}

impl Plot for Gantt<'_> {
    fn check(&self) -> Result<(), PlotError> {
        if self.timeline.streams.is_empty() {
            return Err(PlotError::Input("timeline: no streams".into()));
        }
        if self.options.max_ops == 0 {
            return Err(PlotError::Input(
                "timeline: max_ops must be at least 1".into(),
            ));
        }
        Ok(())
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let tl = self.timeline;
        let sel = self.selection();
        let (w0, w1) = sel.window;
        let (unit, mul) = crate::units::time_unit_for((w1 - w0).as_secs_f64());
        let title = if sel.ops.len() < sel.total {
            format!(
                "{} (first {} of {} ops)",
                self.options.title,
                sel.ops.len(),
                sel.total
            )
        } else {
            self.options.title.clone()
        };
        let (chart_area, legend) = layout(root, &title)?;
        let n = tl.streams.len();
        let x = |p: Ps| p.as_secs_f64() * mul;
        let label_w = tl
            .streams
            .iter()
            .map(|s| s.name.chars().count())
            .max()
            .unwrap_or(4)
            .clamp(4, 24) as u32
            * 9
            + 20;
        let mut chart = ChartBuilder::on(&chart_area)
            .margin(15)
            .x_label_area_size(60)
            .y_label_area_size(label_w)
            .build_cartesian_2d(x(w0)..x(w1), Slots::new(n, 0..n))
            .map_err(de)?;
        // Row 0 on top.
        let row_y = |s: usize| (n - 1 - s) as f64;
        let yfmt = |y: &f64| {
            let i = (y - 0.5).round();
            if i >= 0.0 && (i as usize) < n {
                tl.streams[n - 1 - i as usize].name.clone()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(format!("simulated time ({unit})"))
            .y_desc("stream")
            .axis_desc_style(axis_label_style())
            .label_style(tick_style())
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&yfmt)
            .light_line_style(RGBColor(240, 240, 240))
            .max_light_lines(1)
            .draw()
            .map_err(de)?;
        let (lo, hi) = (x(w0), x(w1));
        chart
            .draw_series(sel.ops.iter().map(|&i| {
                let r = &tl.records[i];
                let y = row_y(r.stream.0 as usize);
                let a = x(r.start).max(lo);
                let b = x(r.end).min(hi);
                Rectangle::new(
                    [(a, y + 0.15), (b, y + 0.85)],
                    palette(r.category.0 as usize).filled(),
                )
            }))
            .map_err(de)?;
        let mut used: Vec<u16> = sel.ops.iter().map(|&i| tl.records[i].category.0).collect();
        used.sort_unstable();
        used.dedup();
        let entries: Vec<(String, Mark)> = used
            .iter()
            .map(|&c| {
                let cat = &tl.categories[c as usize];
                (
                    format!("{} ({})", cat.name, cat.kind.as_str()),
                    Mark::Box(palette(c as usize)),
                )
            })
            .collect();
        draw_legend(&legend, Some("op category"), &entries)
    }
}
