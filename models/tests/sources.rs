//! Every source a shipped profile cites is explained in docs/sources.md.
use memwall_models::{embedded_files, sources};

/// Every `source = "..."` string in a profile's text.
fn sources_of(v: &toml::Value, out: &mut Vec<String>) {
    match v {
        toml::Value::Table(t) => {
            if let Some(s) = t.get("source").and_then(|s| s.as_str()) {
                out.push(s.to_string());
            }
            t.values().for_each(|x| sources_of(x, out));
        }
        toml::Value::Array(a) => a.iter().for_each(|x| sources_of(x, out)),
        _ => {}
    }
}

#[test]
fn every_cited_source_has_an_entry() {
    let mut missing = Vec::new();
    let mut cited = 0;
    for (path, text) in embedded_files() {
        let v: toml::Value = toml::from_str(text).unwrap();
        let mut srcs = Vec::new();
        sources_of(&v, &mut srcs);
        for s in srcs {
            let keys = sources::keys(&s);
            assert!(!keys.is_empty(), "{path}: source {s:?} names nothing");
            for k in keys {
                cited += 1;
                if sources::title(&k).is_none() {
                    missing.push(format!("{path}: {k} (from {s:?})"));
                }
            }
        }
    }
    assert!(cited > 400, "only {cited} citations found");
    assert!(
        missing.is_empty(),
        "no entry in docs/sources.md for:\n{}",
        missing.join("\n")
    );
}

#[test]
fn keys_split_ids_sections_and_citations() {
    assert_eq!(sources::keys("R6; R22"), ["R6", "R22"]);
    assert_eq!(sources::keys("R16 §4.5, Fig. 2"), ["R16"]);
    assert_eq!(sources::keys("R1 /2; R8"), ["R1", "R8"]);
    assert_eq!(
        sources::keys("R32; hardware.md §11"),
        ["R32", "hardware.md §11"]
    );
    assert_eq!(
        sources::keys("hardware.md §4/§9.13"),
        ["hardware.md §4", "hardware.md §9.13"]
    );
    assert_eq!(
        sources::keys("hardware.md §3, §9.5"),
        ["hardware.md §3", "hardware.md §9.5"]
    );
    assert_eq!(
        sources::keys("NVIDIA A100 datasheet (40 GB SXM; not in hardware.md)"),
        ["NVIDIA A100 datasheet"]
    );
    assert_eq!(sources::keys("PCIe 6.0 FLIT mode"), ["PCIe 6.0 FLIT mode"]);
}

#[test]
fn show_prints_the_titles_of_cited_sources() {
    let reg = memwall_models::Registry::embedded().unwrap();
    let text = memwall_models::show(&reg, "h100-sxm").unwrap();
    assert!(
        text.contains("  R1: NVIDIA H100 Tensor Core GPU datasheet\n"),
        "{text}"
    );
}
