//! Plots for people who read pictures, not code: each drawn once per backend, as PNG and
//! SVG, from small generic inputs (reports never re-simulate).
//!
//! * [`HiddenExposedBars`]: stacked hidden/exposed latency per category, per system;
//! * [`Gantt`]: a timeline's streams, ops coloured by category (windowed when huge);
//! * [`Cdf`]: distribution of a latency (per step, per request), one line per series;
//! * [`TimeLines`]: stacked panels of quantities against time (batch size, KV-cache use);
//! * [`SweepChart`]: a metric against a swept parameter, one line per series;
//! * [`ParetoPlot`]: throughput against cost with the Pareto frontier highlighted.
//!
//! Every axis label carries its unit. Text uses DejaVu Sans embedded in the binary
//! (registered with plotters' `ab_glyph` renderer), so no system font is needed and the
//! same input gives byte-identical files on every machine.

mod bars;
mod cdf;
mod from_attribution;
mod gantt;
mod pareto;
mod sweep;
mod timeline;

pub use bars::{BarGroup, BarSegment, HiddenExposedBars};
pub use cdf::{percentile, Cdf, CdfSeries};
pub use from_attribution::exposed_per_step_s;
pub use gantt::{Gantt, GanttOptions, GanttSelection};
pub use pareto::{pareto_frontier, ParetoPlot, ParetoPoint};
pub use sweep::{Series, SweepChart};
pub use timeline::{Panel, TimeLines};

use crate::output::{write_atomic, OutputError};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Once;

/// Pixel size of every plot unless the input says otherwise.
pub const DEFAULT_SIZE: (u32, u32) = (1200, 700);

/// Width of the legend column on the right of each plot, in pixels.
const LEGEND_WIDTH: u32 = 270;

/// An axis: what it measures and in which unit; drawn as `"name (unit)"`.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub name: String,
    pub unit: String,
}

impl Axis {
    pub fn new(name: impl Into<String>, unit: impl Into<String>) -> Self {
        Axis {
            name: name.into(),
            unit: unit.into(),
        }
    }
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.unit)
    }
}

/// Why a plot could not be drawn or written.
#[derive(Debug)]
pub enum PlotError {
    /// The input cannot be plotted (no data, mismatched lengths, non-finite values).
    Input(String),
    /// The drawing backend failed.
    Draw(String),
    /// PNG encoding failed.
    Encode(String),
    Output(OutputError),
}

impl std::fmt::Display for PlotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlotError::Input(m) => write!(f, "cannot plot: {m}"),
            PlotError::Draw(m) => write!(f, "drawing failed: {m}"),
            PlotError::Encode(m) => write!(f, "PNG encoding failed: {m}"),
            PlotError::Output(e) => e.fmt(f),
        }
    }
}
impl std::error::Error for PlotError {}

impl From<OutputError> for PlotError {
    fn from(e: OutputError) -> Self {
        PlotError::Output(e)
    }
}

/// A drawing error from any backend, as text.
pub(crate) fn de<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// A rendered plot: PNG bytes and SVG text of the same picture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub width: u32,
    pub height: u32,
    pub png: Vec<u8>,
    pub svg: String,
}

impl Rendered {
    /// Write `<stem>.png` and `<stem>.svg` atomically; returns both paths.
    pub fn write(&self, stem: &Path) -> Result<(PathBuf, PathBuf), PlotError> {
        let png = stem.with_extension("png");
        let svg = stem.with_extension("svg");
        write_atomic(&png, &self.png)?;
        write_atomic(&svg, self.svg.as_bytes())?;
        Ok((png, svg))
    }
}

/// Something that can be drawn on any plotters backend.
pub trait Plot {
    /// Pixel size (width, height).
    fn size(&self) -> (u32, u32) {
        DEFAULT_SIZE
    }
    /// Reject inputs that cannot be drawn, before drawing anything.
    fn check(&self) -> Result<(), PlotError>;
    /// Draw onto `root` (already cleared to white).
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError>;

    /// Draw as PNG and SVG, in memory.
    fn render(&self) -> Result<Rendered, PlotError> {
        self.check()?;
        register_fonts()?;
        let (w, h) = self.size();
        let mut rgb = vec![0u8; w as usize * h as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
            root.fill(&WHITE).map_err(de)?;
            self.draw(&root)?;
            root.present().map_err(de)?;
        }
        let png = encode_png(&rgb, w, h)?;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
            root.fill(&WHITE).map_err(de)?;
            self.draw(&root)?;
            root.present().map_err(de)?;
        }
        Ok(Rendered {
            width: w,
            height: h,
            png,
            svg,
        })
    }

    /// Draw and write `<stem>.png` and `<stem>.svg` atomically.
    fn write(&self, stem: &Path) -> Result<(PathBuf, PathBuf), PlotError> {
        self.render()?.write(stem)
    }
}

fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, PlotError> {
    let enc = |e: png::EncodingError| PlotError::Encode(e.to_string());
    let mut out = Vec::new();
    {
        let mut e = png::Encoder::new(&mut out, w, h);
        e.set_color(png::ColorType::Rgb);
        e.set_depth(png::BitDepth::Eight);
        e.set_compression(png::Compression::Default);
        let mut wr = e.write_header().map_err(enc)?;
        wr.write_image_data(rgb).map_err(enc)?;
        wr.finish().map_err(enc)?;
    }
    Ok(out)
}

static FONTS: Once = Once::new();

/// Register DejaVu Sans (regular and bold) as plotters' "sans-serif", once per process.
fn register_fonts() -> Result<(), PlotError> {
    let mut res = Ok(());
    FONTS.call_once(|| {
        let bad = |_| PlotError::Draw("embedded DejaVu font is invalid".into());
        res = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        )
        .map_err(bad)
        .and_then(|_| {
            plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold())
                .map_err(bad)
        });
    });
    res
}

// ---- shared style ----

pub(crate) const FONT: &str = "sans-serif";

pub(crate) fn title_style() -> TextStyle<'static> {
    (FONT, 28, FontStyle::Bold).into_font().color(&BLACK)
}
pub(crate) fn axis_label_style() -> TextStyle<'static> {
    (FONT, 20).into_font().color(&BLACK)
}
pub(crate) fn tick_style() -> TextStyle<'static> {
    (FONT, 16).into_font().color(&BLACK)
}
pub(crate) fn legend_style() -> TextStyle<'static> {
    (FONT, 16).into_font().color(&BLACK)
}
pub(crate) fn small_style() -> TextStyle<'static> {
    (FONT, 14).into_font().color(&BLACK)
}

/// Tableau 10 (distinguishable, colour-blind friendlier than plotters' defaults), then
/// ten darker or more saturated colours for charts with more series.
const PALETTE: [(u8, u8, u8); 20] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
    (0, 0, 128),
    (128, 0, 0),
    (0, 100, 0),
    (0, 0, 0),
    (218, 165, 32),
    (255, 0, 255),
    (128, 128, 0),
    (75, 0, 130),
    (0, 128, 128),
    (210, 180, 140),
];

/// The `i`-th series/category colour (cycles after twenty).
pub fn palette(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// `c` mixed with white: `t = 0` is `c`, `t = 1` is white. Opaque, so both backends
/// draw the same colour without blending.
pub(crate) fn tint(c: RGBColor, t: f64) -> RGBColor {
    let m = |v: u8| (v as f64 + (255.0 - v as f64) * t).round() as u8;
    RGBColor(m(c.0), m(c.1), m(c.2))
}

/// How a legend entry is marked.
#[derive(Clone, Copy)]
pub(crate) enum Mark {
    Box(RGBColor),
    Line(RGBColor),
    Dot(RGBColor),
}

pub(crate) type Area<DB> = DrawingArea<DB, Shift>;

/// Split `root` (below its title) into a chart area and a legend column on the right.
pub(crate) fn layout<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> Result<(Area<DB>, Area<DB>), PlotError> {
    let body = root
        .margin(12, 4, 4, 4)
        .titled(title, title_style())
        .map_err(de)?;
    let (w, _) = body.dim_in_pixel();
    Ok(body.split_horizontally(w.saturating_sub(LEGEND_WIDTH)))
}

/// Draw a legend (an optional heading, then one line per entry) at the top of `area`.
pub(crate) fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    heading: Option<&str>,
    entries: &[(String, Mark)],
) -> Result<(), PlotError> {
    let mut y = 30i32;
    let x = 10i32;
    if let Some(h) = heading {
        area.draw(&Text::new(
            h.to_string(),
            (x, y),
            (FONT, 17, FontStyle::Bold).into_font(),
        ))
        .map_err(de)?;
        y += 28;
    }
    let (w, h) = area.dim_in_pixel();
    let avail = w as i32 - x - 30 - 6;
    for (i, (label, mark)) in entries.iter().enumerate() {
        let lines: Vec<&str> = label.split('\n').collect();
        let tall = 26 + 20 * (lines.len() as i32 - 1);
        if y + tall > h as i32 {
            let more = format!("... and {} more", entries.len() - i);
            area.draw(&Text::new(more, (x, y), legend_style()))
                .map_err(de)?;
            break;
        }
        let cy = y + 9;
        match *mark {
            Mark::Box(c) => area
                .draw(&Rectangle::new([(x, cy - 7), (x + 22, cy + 7)], c.filled()))
                .map_err(de)?,
            Mark::Line(c) => area
                .draw(&PathElement::new(
                    vec![(x, cy), (x + 22, cy)],
                    c.stroke_width(3),
                ))
                .map_err(de)?,
            Mark::Dot(c) => area
                .draw(&Circle::new((x + 11, cy), 6, c.filled()))
                .map_err(de)?,
        }
        for (k, line) in lines.iter().enumerate() {
            let style = if k == 0 {
                legend_style()
            } else {
                small_style()
            };
            let text = fit(area, line, &style, avail)?;
            area.draw(&Text::new(text, (x + 30, y + 20 * k as i32), style))
                .map_err(de)?;
        }
        y += tall;
    }
    Ok(())
}

/// `text`, shortened with an ellipsis until it is at most `width` pixels wide.
fn fit<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    width: i32,
) -> Result<String, PlotError> {
    let w = |s: &str| {
        area.estimate_text_size(s, style)
            .map(|d| d.0 as i32)
            .map_err(de)
    };
    if w(text)? <= width {
        return Ok(text.to_string());
    }
    let mut chars: Vec<char> = text.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let s: String = chars.iter().collect::<String>() + "\u{2026}";
        if w(&s)? <= width {
            return Ok(s);
        }
    }
    Ok(String::new())
}

/// Check that every value is finite.
pub(crate) fn finite(what: &str, vals: impl IntoIterator<Item = f64>) -> Result<(), PlotError> {
    for v in vals {
        if !v.is_finite() {
            return Err(PlotError::Input(format!(
                "{what} contains a non-finite value ({v})"
            )));
        }
    }
    Ok(())
}

/// A tick label: up to 4 significant figures, no trailing zeros.
pub(crate) fn tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    let s = if !(1e-3..1e6).contains(&a) {
        format!("{v:.2e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    if s.contains('.') && !s.contains('e') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Upper bound of an axis whose data reach `max`: a little headroom, never empty.
pub(crate) fn upper(max: f64) -> f64 {
    if max > 0.0 {
        max * 1.08
    } else {
        1.0
    }
}

/// A linear f64 axis over `0..n` whose ticks sit at the given slot centres (`i + 0.5`),
/// for categorical axes (groups, layers, streams) drawn with f64 rectangles.
#[derive(Clone)]
pub(crate) struct Slots {
    n: f64,
    keys: Vec<f64>,
}

impl Slots {
    /// Slots `0..n`, ticks at the centres of the slots `shown`.
    pub(crate) fn new(n: usize, shown: impl IntoIterator<Item = usize>) -> Self {
        Slots {
            n: n as f64,
            keys: shown.into_iter().map(|i| i as f64 + 0.5).collect(),
        }
    }
}

impl plotters::coord::ranged1d::Ranged for Slots {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let t = if self.n > 0.0 { v / self.n } else { 0.5 };
        limit.0 + ((limit.1 - limit.0) as f64 * t).round() as i32
    }
    fn key_points<H: plotters::coord::ranged1d::KeyPointHint>(&self, _hint: H) -> Vec<f64> {
        self.keys.clone()
    }
    fn range(&self) -> std::ops::Range<f64> {
        0.0..self.n
    }
}
