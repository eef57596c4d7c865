//! Every plot kind renders to a decodable, non-blank PNG of the right size and to SVG
//! that parses and carries its axis labels with units; rendering is byte-deterministic.
//! One sample of each kind is left in `target/plot-samples/` for eyeballing.

use memwall_reports::plots::*;
use memwall_sim::*;
use std::path::PathBuf;

fn sample_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/plot-samples")
}

/// Decode, check size, count distinct colours (a blank picture has one).
fn check_png(r: &Rendered) {
    let dec = png::Decoder::new(r.png.as_slice());
    let mut reader = dec.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG data");
    assert_eq!((info.width, info.height), (r.width, r.height));
    assert_eq!((info.width, info.height), DEFAULT_SIZE);
    let px = &buf[..info.buffer_size()];
    let mut colours: Vec<[u8; 3]> = px.chunks(3).map(|c| [c[0], c[1], c[2]]).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() > 10,
        "PNG looks blank ({} colours)",
        colours.len()
    );
    let non_white = px.chunks(3).filter(|c| c != &[255, 255, 255]).count();
    assert!(
        non_white > 5_000,
        "PNG nearly blank: {non_white} non-white pixels"
    );
}

/// Parse the SVG and return the concatenated text of every element.
fn svg_texts(r: &Rendered) -> Vec<String> {
    let doc = roxmltree::Document::parse(&r.svg).expect("SVG is XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.tag_name().name() == "text")
        .map(|n| {
            n.descendants()
                .filter(|t| t.is_text())
                .filter_map(|t| t.text())
                .collect::<String>()
                .trim()
                .to_string()
        })
        .collect()
}

fn check<P: Plot>(name: &str, p: &P, labels: &[&str]) {
    let a = p.render().unwrap();
    let b = p.render().unwrap();
    assert!(a == b, "{name}: rendering twice differs");
    check_png(&a);
    let texts = svg_texts(&a);
    for l in labels {
        assert!(
            texts.iter().any(|t| t == l),
            "{name}: SVG lacks text {l:?}; has {:?}",
            &texts[..texts.len().min(40)]
        );
    }
    a.write(&sample_dir().join(name)).unwrap();
}

#[test]
fn stacked_bars() {
    let seg = |c: &str, h: f64, e: f64| BarSegment {
        category: c.into(),
        hidden_s: h,
        exposed_s: e,
    };
    let p = HiddenExposedBars {
        title: "Hidden vs exposed latency per step".into(),
        group_axis: "system".into(),
        groups: vec![
            BarGroup {
                label: "H800 + DRAM".into(),
                segments: vec![
                    seg("engram-fetch", 0.0012, 0.0003),
                    seg("ep-dispatch", 0.0021, 0.0008),
                    seg("ep-combine", 0.0019, 0.0006),
                    seg("pp-p2p", 0.0004, 0.0001),
                ],
            },
            BarGroup {
                label: "H800 + NVMe".into(),
                segments: vec![
                    seg("engram-fetch", 0.0009, 0.0041),
                    seg("ep-dispatch", 0.0021, 0.0008),
                    seg("ep-combine", 0.0019, 0.0006),
                    seg("pp-p2p", 0.0004, 0.0001),
                ],
            },
            BarGroup {
                label: "GB300 + DRAM".into(),
                segments: vec![
                    seg("engram-fetch", 0.0008, 0.0),
                    seg("ep-dispatch", 0.0011, 0.0002),
                    seg("ep-combine", 0.0010, 0.0001),
                    seg("pp-p2p", 0.0002, 0.0),
                ],
            },
        ],
    };
    assert_eq!(p.y_label(), "latency per category (ms)");
    check(
        "bars",
        &p,
        &[
            "latency per category (ms)",
            "system",
            "H800 + NVMe",
            "engram-fetch",
        ],
    );
}

/// Two GPUs' compute streams, a copy stream and a NIC, four categories, a few steps.
fn demo_timeline(steps: u32) -> Timeline {
    let mut tl = Timeline {
        streams: vec![
            StreamInfo {
                name: "gpu0 compute".into(),
                serial: true,
                compute: true,
            },
            StreamInfo {
                name: "gpu0 copy".into(),
                serial: true,
                compute: false,
            },
            StreamInfo {
                name: "gpu1 compute".into(),
                serial: true,
                compute: true,
            },
            StreamInfo {
                name: "nic0".into(),
                serial: false,
                compute: false,
            },
        ],
        categories: vec![
            Category {
                name: "compute".into(),
                kind: OpKind::Compute,
            },
            Category {
                name: "engram-fetch".into(),
                kind: OpKind::Memory,
            },
            Category {
                name: "ep-dispatch".into(),
                kind: OpKind::Communication,
            },
            Category {
                name: "pp-p2p".into(),
                kind: OpKind::Communication,
            },
        ],
        base: 0,
        records: vec![],
    };
    let mut id = 0u64;
    let mut push =
        |tl: &mut Timeline, s: u32, c: u16, step: u32, a: u64, b: u64, blk: Option<u64>| {
            tl.records.push(OpRecord {
                id: OpId(id),
                stream: StreamId(s),
                category: CategoryId(c),
                step,
                layer: (a / 7) as u32 % 4,
                ready: Ps::from_ns(a),
                start: Ps::from_ns(a),
                end: Ps::from_ns(b),
                blocker: blk.map(OpId),
                bytes: if c == 0 { 0 } else { 1 << 20 },
                latency: Ps::ZERO,
            });
            id += 1;
        };
    for st in 0..steps {
        let t = st as u64 * 100_000;
        push(&mut tl, 1, 1, st, t, t + 15_000, None);
        push(
            &mut tl,
            0,
            0,
            st,
            t + 15_000,
            t + 60_000,
            Some(st as u64 * 6),
        );
        push(&mut tl, 3, 2, st, t + 60_000, t + 70_000, None);
        push(&mut tl, 0, 0, st, t + 70_000, t + 95_000, None);
        push(&mut tl, 3, 3, st, t + 20_000, t + 35_000, None);
        push(&mut tl, 2, 0, st, t + 35_000, t + 90_000, None);
    }
    tl
}

#[test]
fn gantt() {
    let tl = demo_timeline(3);
    let p = Gantt::new(
        &tl,
        GanttOptions {
            title: "Simulated streams, H100 node".into(),
            ..Default::default()
        },
    );
    assert_eq!(p.selection().ops.len(), 18);
    assert_eq!(p.x_label(), "simulated time (us)");
    check(
        "gantt",
        &p,
        &[
            "simulated time (us)",
            "stream",
            "gpu0 compute",
            "engram-fetch (memory)",
        ],
    );
}

#[test]
fn gantt_caps_huge_timelines_to_a_window() {
    let tl = demo_timeline(1_000);
    let opts = GanttOptions {
        title: "capped".into(),
        window: None,
        max_ops: 600,
    };
    let g = Gantt::new(&tl, opts);
    let sel = g.selection();
    assert_eq!(sel.total, 6_000);
    assert_eq!(sel.ops.len(), 600);
    // 600 ops = 100 steps; the window ends where step 100's first op starts.
    assert_eq!(sel.window, (Ps::ZERO, Ps::from_ns(100 * 100_000)));
    let r = g.render().unwrap();
    assert!(svg_texts(&r)
        .iter()
        .any(|t| t == "capped (first 600 of 6000 ops)"));
}

#[test]
fn cdf() {
    let a: Vec<f64> = (0..200)
        .map(|i| 1e-4 + (i as f64).powf(1.5) * 2e-6)
        .collect();
    let b: Vec<f64> = (0..200).map(|i| 5e-5 + (i as f64) * 3e-6).collect();
    let p = Cdf {
        title: "Per-step exposed latency".into(),
        quantity: "exposed latency per step".into(),
        population: "steps".into(),
        series: vec![
            CdfSeries {
                name: "H800 + NVMe".into(),
                values_s: a,
            },
            CdfSeries {
                name: "GB300 + DRAM".into(),
                values_s: b,
            },
        ],
    };
    assert_eq!(p.x_label(), "exposed latency per step (ms)");
    check(
        "cdf",
        &p,
        &["exposed latency per step (ms)", "steps at or below (%)"],
    );
    assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 50.0), 2.0);
    assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 99.0), 4.0);
}

#[test]
fn sweep() {
    let sizes = [1e9, 1e10, 1e11, 1e12];
    let mk = |name: &str, f: &dyn Fn(f64) -> f64| Series {
        name: name.into(),
        points: sizes.iter().map(|&x| (x / 1e9, f(x))).collect(),
    };
    for (log_x, log_y) in [(false, false), (true, false), (false, true), (true, true)] {
        let p = SweepChart {
            title: "Throughput vs Engram table size".into(),
            x: Axis::new("Engram table size", "GB"),
            y: Axis::new("decode throughput", "tokens/s"),
            series: vec![
                mk("H800, table in DRAM", &|x| 9000.0 - x.log10() * 300.0),
                mk("H800, table on NVMe", &|x| 8000.0 - x.log10() * 500.0),
                mk("GB300, table in DRAM", &|x| 15000.0 - x.log10() * 200.0),
            ],
            log_x,
            log_y,
            keep_order: false,
        };
        let name = match (log_x, log_y) {
            (false, false) => "sweep",
            (true, false) => "sweep-log",
            (false, true) => "sweep-log-y",
            (true, true) => "sweep-log-xy",
        };
        check(
            name,
            &p,
            &[
                "Engram table size (GB)",
                "decode throughput (tokens/s)",
                "GB300, table in DRAM",
            ],
        );
    }
}

#[test]
fn pareto() {
    let pt = |l: &str, c: f64, t: f64| ParetoPoint {
        label: l.into(),
        cost: c,
        throughput: t,
    };
    let points = vec![
        pt("H800 x8", 16.0, 9_000.0),
        pt("H100 x8", 20.0, 10_500.0),
        pt("H200 x8", 24.0, 13_000.0),
        pt("B200 x8", 40.0, 24_000.0),
        pt("GB200 NVL72 (per 8)", 48.0, 27_000.0),
        pt("GB300 NVL72 (per 8)", 56.0, 26_000.0),
        pt("H100 x8 + NVMe", 21.0, 8_000.0),
    ];
    assert_eq!(pareto_frontier(&points), vec![0, 1, 2, 3, 4]);
    let p = ParetoPlot {
        title: "Cost efficiency".into(),
        cost: Axis::new("cost", "USD/hour"),
        throughput: Axis::new("throughput", "tokens/s"),
        points,
    };
    check(
        "pareto",
        &p,
        &[
            "cost (USD/hour)",
            "throughput (tokens/s)",
            "H200 x8",
            "Pareto frontier",
        ],
    );
}

#[test]
fn time_lines() {
    let t: Vec<f64> = (0..500).map(|i| i as f64 * 0.01).collect();
    let line = |name: &str, f: &dyn Fn(f64) -> f64| Series {
        name: name.into(),
        points: t.iter().map(|&x| (x, f(x))).collect(),
    };
    let p = TimeLines {
        title: "batch and KV cache over the run".into(),
        x: Axis::new("simulated time", "s"),
        panels: vec![
            Panel {
                y: Axis::new("requests", "count"),
                series: vec![
                    line("in the batch", &|x| (x * 7.0).floor() % 33.0),
                    line("waiting", &|x| (x * 3.0).floor()),
                ],
            },
            Panel {
                y: Axis::new("KV cache used", "%"),
                series: vec![line("KV cache used", &|x| 20.0 * x)],
            },
        ],
    };
    check(
        "time-lines",
        &p,
        &[
            "simulated time (s)",
            "requests (count)",
            "KV cache used (%)",
            "in the batch",
            "waiting",
        ],
    );
    let empty = TimeLines {
        panels: vec![Panel {
            y: Axis::new("x", "s"),
            series: vec![],
        }],
        ..p
    };
    assert!(matches!(empty.render(), Err(PlotError::Input(_))));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let p = Cdf {
        title: "x".into(),
        quantity: "y".into(),
        population: "steps".into(),
        series: vec![CdfSeries {
            name: "a".into(),
            values_s: vec![],
        }],
    };
    assert!(matches!(p.render(), Err(PlotError::Input(_))));
    let s = SweepChart {
        title: "x".into(),
        x: Axis::new("a", "B"),
        y: Axis::new("b", "s"),
        series: vec![Series {
            name: "s".into(),
            points: vec![(0.0, 1.0)],
        }],
        log_x: true,
        log_y: false,
        keep_order: false,
    };
    assert!(matches!(s.render(), Err(PlotError::Input(_))));
}
