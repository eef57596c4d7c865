//! Summary table, tidy CSV and Chrome-trace export on a small hand-built timeline.

use memwall_reports::chrome_trace::*;
use memwall_sim::attribute;
use memwall_sim::*;

/// gpu: compute 0-10 us, waits for an Engram fetch (copy stream, 2-14 us, 1 MiB), compute
/// 14-20 us, a blocking EP dispatch on the compute stream itself 20-23 us (4 KiB), compute
/// 23-30 us. So busy 23 us, exposed 4 us (fetch) + 3 us (dispatch), bubble 0.
fn tiny() -> Timeline {
    let rec = |id: u64,
               s: u32,
               c: u16,
               step: u32,
               layer: u32,
               a: u64,
               b: u64,
               blk: Option<u64>,
               bytes: u64| OpRecord {
        id: OpId(id),
        stream: StreamId(s),
        category: CategoryId(c),
        step,
        layer,
        ready: Ps(a),
        start: Ps(a),
        end: Ps(b),
        blocker: blk.map(OpId),
        bytes,
        latency: Ps::ZERO,
    };
    let us = 1_000_000;
    Timeline {
        streams: vec![
            StreamInfo {
                name: "gpu0".into(),
                serial: true,
                compute: true,
            },
            StreamInfo {
                name: "gpu0 \"copy\"".into(),
                serial: true,
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
        ],
        base: 0,
        records: vec![
            rec(0, 0, 0, 0, 0, 0, 10 * us, None, 0),
            rec(1, 1, 1, 0, 1, 2 * us, 14 * us, None, 1 << 20),
            rec(2, 0, 0, 0, 1, 14 * us, 20 * us, Some(1), 0),
            rec(3, 0, 2, 1, 0, 20 * us, 23 * us, Some(2), 4096),
            rec(4, 0, 0, 1, 0, 23 * us, 30 * us, Some(3), 0),
        ],
    }
}

#[test]
fn chrome_trace_two_sides() {
    let orig = tiny();
    let mut sim = tiny();
    // A sub-nanosecond start: 2 us + 79 ps.
    sim.records[1].start = Ps(2_000_079);
    sim.records[4].end = Ps::MAX; // unfinished: not exported
    let sides = [
        TraceSide {
            process_name: "original (captured)",
            timeline: &orig,
        },
        TraceSide {
            process_name: "simulated on H100",
            timeline: &sim,
        },
    ];
    let text = chrome_trace_string(&sides);
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let ev = v["traceEvents"].as_array().unwrap();
    let x: Vec<_> = ev.iter().filter(|e| e["ph"] == "X").collect();
    let m: Vec<_> = ev.iter().filter(|e| e["ph"] == "M").collect();
    assert_eq!(x.len(), 9);
    assert_eq!(m.len(), 12);
    assert_eq!(ev.len(), 21);
    let pname = |pid: u64| {
        m.iter()
            .find(|e| e["name"] == "process_name" && e["pid"] == pid)
            .unwrap()["args"]["name"]
            .clone()
    };
    assert_eq!(pname(1), "original (captured)");
    assert_eq!(pname(2), "simulated on H100");
    let tname = m
        .iter()
        .find(|e| e["name"] == "thread_name" && e["pid"] == 2 && e["tid"] == 2)
        .unwrap();
    assert_eq!(tname["args"]["name"], "gpu0 \"copy\"");
    assert_eq!(x.iter().filter(|e| e["pid"] == 1).count(), 5);
    // Exact decimals in the text, not float renderings.
    assert!(text.contains("\"pid\":2,\"tid\":2,\"ts\":2.000079,\"dur\":11.999921,"));
    assert!(text.contains("\"pid\":1,\"tid\":1,\"ts\":14,\"dur\":6,"));
    let fetch = x
        .iter()
        .find(|e| e["pid"] == 1 && e["args"]["op"] == 1)
        .unwrap();
    assert_eq!(fetch["name"], "engram-fetch");
    assert_eq!(fetch["cat"], "memory");
    assert_eq!(fetch["args"]["bytes"], 1_048_576);
    assert_eq!(fetch["args"]["layer"], 1);
    assert_eq!(fetch["args"]["step"], 0);
    assert!(fetch["args"]["blocker"].is_null());
    let c = x
        .iter()
        .find(|e| e["pid"] == 1 && e["args"]["op"] == 2)
        .unwrap();
    assert_eq!(c["args"]["blocker"], 1);

    let dir = std::env::temp_dir().join(format!("memwall-trace-{}", std::process::id()));
    let p = dir.join("trace.json");
    let counts = write_chrome_traces(&p, &sides).unwrap();
    assert_eq!(
        counts,
        TraceCounts {
            ops: 9,
            unfinished: 1,
            metadata: 12
        }
    );
    assert_eq!(std::fs::read_to_string(&p).unwrap(), text);
    let one = write_chrome_trace(&p, "simulated on H100", &orig).unwrap();
    assert_eq!(one.ops, 5);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn exposed_per_step_from_attribution() {
    use memwall_reports::plots::exposed_per_step_s;
    let tl = tiny();
    let at = attribute(&tl, (Ps::ZERO, tl.makespan()));
    assert_eq!(exposed_per_step_s(&at).len(), 2);
}
