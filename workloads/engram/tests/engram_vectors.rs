//! Bit-exact checks of the Engram hash and compressed tokenizer against the reference
//! vectors in tests/fixtures/engram/ (see SOURCE.md there).

#[path = "../../../tests/common/inputs.rs"]
mod common_inputs;

use std::sync::OnceLock;

use common_inputs::{fetched, fixture};
use memwall_engram::{
    load_tokenizer, CompressedVocab, EngramHasher, EngramLayout, NgramHistory, DEAD,
};
use serde_json::Value;

fn json(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| match x {
            Value::String(s) => s.parse().unwrap(),
            _ => x.as_u64().unwrap(),
        })
        .collect()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let i = x.as_i64().unwrap();
            if i < 0 {
                DEAD
            } else {
                i as u32
            }
        })
        .collect()
}

fn rows2d(v: &Value) -> Vec<u64> {
    v.as_array().unwrap().iter().flat_map(u64s).collect()
}

fn v41_map() -> &'static CompressedVocab {
    static MAP: OnceLock<CompressedVocab> = OnceLock::new();
    MAP.get_or_init(|| {
        let bytes = std::fs::read(fixture("engram_v41_compressed_map.u32le.bin")).unwrap();
        CompressedVocab::from_u32le_bytes(&bytes).unwrap()
    })
}

#[test]
fn demo_constants() {
    let d = json("engram_demo_vectors.json");
    let l = EngramLayout::builtin("demo").unwrap();
    let der = &d["derived"];
    assert_eq!(l.multiplier_bound, der["half_bound"].as_u64().unwrap());
    for layer in &l.layers {
        let key = layer.layer_id.to_string();
        assert_eq!(layer.multipliers, u64s(&der["layer_multipliers"][&key]));
        let primes: Vec<u64> = der["table_sizes_primes"][&key]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(u64s)
            .collect();
        assert_eq!(layer.primes, primes);
        assert_eq!(layer.offsets, u64s(&der["flat_offsets"][&key]));
        assert_eq!(
            layer.table_rows,
            der["rows_per_layer_table"][&key].as_u64().unwrap()
        );
    }
    assert_eq!(l.row_bytes(), 256);
}

#[test]
fn demo_rows() {
    let d = json("engram_demo_vectors.json");
    let l = EngramLayout::builtin("demo").unwrap();
    let h = EngramHasher::new(&l);
    let c = h.columns();
    let cases = d["cases"].as_array().unwrap();
    let hash_only = d["hash_only_cases"].as_array().unwrap();
    let mut checked = 0;
    for case in cases.iter().chain(hash_only) {
        let x = ids(&case["compressed_ids"]);
        let got = h.hash_sequence(&x).unwrap();
        let per = x.len() * c;
        for (li, layer) in l.layers.iter().enumerate() {
            let lv = &case["layers"][layer.layer_id.to_string()];
            let local = rows2d(&lv["local_row_per_head"]);
            let flat = &got[li * per..(li + 1) * per];
            let got_local: Vec<u64> = flat
                .iter()
                .enumerate()
                .map(|(i, &r)| r - layer.offsets[i % c])
                .collect();
            assert_eq!(
                got_local, local,
                "{} layer {}",
                case["name"], layer.layer_id
            );
            if let Some(f) = lv.get("flat_row_in_layer_table") {
                assert_eq!(flat, rows2d(f).as_slice(), "{}", case["name"]);
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 10);
}

#[test]
fn v41_constants() {
    let d = json("engram_v41_vectors.json");
    let l = EngramLayout::builtin("v41-flash").unwrap();
    let der = &d["derived"];
    assert_eq!(
        l.multiplier_bound,
        der["multiplier_bound"].as_u64().unwrap()
    );
    assert_eq!(l.table_rows(), vec![384_006_168, 384_016_682]);
    assert_eq!(l.row_bytes(), 264);
    assert_eq!(l.heads(), 8);
    assert_eq!(l.layer_ids(), vec![1, 14]);
    for layer in &l.layers {
        let key = layer.layer_id.to_string();
        assert_eq!(layer.multipliers, u64s(&der["multipliers"][&key]));
        let primes: Vec<u64> = der["primes"][&key]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(u64s)
            .collect();
        assert_eq!(layer.primes, primes);
        assert_eq!(layer.offsets, u64s(&der["offsets"][&key]));
        assert_eq!(
            layer.table_rows,
            der["rows_per_table"][&key].as_u64().unwrap()
        );
    }
}

/// Windows, mixes and rows of every v4.1 case, including chunked continuation and DEAD.
#[test]
fn v41_rows_windows_mixes() {
    let d = json("engram_v41_vectors.json");
    let l = EngramLayout::builtin("v41-flash").unwrap();
    let h = EngramHasher::new(&l);
    let c = h.columns();
    let mut n_cases = 0;
    for case in d["text_cases"]
        .as_array()
        .unwrap()
        .iter()
        .chain(d["hash_only_cases"].as_array().unwrap())
    {
        let name = case["name"].as_str().unwrap();
        let x = ids(&case["compressed_ids"]);
        let mut hist = match case.get("history_before_start_pos") {
            Some(prev) => NgramHistory::from_previous(&h, &ids(prev)).unwrap(),
            None => NgramHistory::start(&h),
        };
        // Windows, position by position.
        let mut w = hist.clone();
        let windows = case["windows"].as_array().unwrap();
        for (t, &id) in x.iter().enumerate() {
            w.push(id);
            assert_eq!(w.window(), u64s(&windows[t]).as_slice(), "{name} t={t}");
            for (li, layer) in l.layers.iter().enumerate() {
                let mixes = &case["layers"][layer.layer_id.to_string()]["mix_u64_dec"][t];
                assert_eq!(h.mixes(li, w.window()), u64s(mixes), "{name} t={t}");
            }
        }
        let mut got = Vec::new();
        h.hash_chunk(&mut hist, &x, &mut got).unwrap();
        assert_eq!(hist, w);
        let per = x.len() * c;
        for (li, layer) in l.layers.iter().enumerate() {
            let want = rows2d(&case["layers"][layer.layer_id.to_string()]["rows"]);
            assert_eq!(&got[li * per..(li + 1) * per], want.as_slice(), "{name}");
        }
        n_cases += 1;
    }
    assert_eq!(n_cases, 13);
}

/// The fixture map is a valid interning map of the right size, and agrees with the vectors.
#[test]
fn v41_fixture_map() {
    let d = json("engram_v41_vectors.json");
    let m = v41_map();
    assert_eq!(m.raw_len(), 129_280);
    assert_eq!(m.size(), 99_092);
    for (raw, comp) in d["tokenizer"]["compressed_map_spot_checks"]
        .as_object()
        .unwrap()
    {
        assert_eq!(
            u64::from(m.compress(raw.parse().unwrap()).unwrap()),
            comp.as_u64().unwrap()
        );
    }
    for case in d["text_cases"].as_array().unwrap() {
        let mut out = Vec::new();
        m.compress_into(&ids(&case["raw_ids"]), &mut out).unwrap();
        assert_eq!(out, ids(&case["compressed_ids"]));
    }
    m.check_config(&EngramLayout::builtin("v41-flash").unwrap().config)
        .unwrap();
    let e = m
        .check_config(&EngramLayout::builtin("demo").unwrap().config)
        .unwrap_err()
        .to_string();
    assert!(e.contains("99092") && e.contains("98627"), "{e}");
}

/// V' = 99,092 must come out of the real V4 tokenizer.json, map identical to the fixture,
/// and the text cases must encode to the vectors' raw ids.
#[test]
fn v41_map_from_real_tokenizer() {
    let Some(path) = fetched("deepseek-v4/tokenizer.json") else {
        return;
    };
    let tok = load_tokenizer(&path).unwrap();
    let built = CompressedVocab::from_tokenizer(&tok, "v4").unwrap();
    assert_eq!(built.size(), 99_092);
    assert_eq!(built.as_slice(), v41_map().as_slice());
    let d = json("engram_v41_vectors.json");
    for case in d["text_cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let enc = tok.encode(text, false).unwrap();
        let mut raw = enc.get_ids().to_vec();
        if case["bos_prepended"].as_bool() == Some(true) && raw.first() != Some(&0) {
            raw.insert(0, 0);
        }
        assert_eq!(raw, ids(&case["raw_ids"]), "{}", case["name"]);
    }
}

/// V' = 98,627 from the real V3 tokenizer.json, and the demo cases' raw -> compressed ids.
#[test]
fn demo_map_from_real_tokenizer() {
    let Some(path) = fetched("deepseek-v3/tokenizer.json") else {
        return;
    };
    let built = CompressedVocab::from_tokenizer_file(&path).unwrap();
    assert_eq!(built.size(), 98_627);
    assert_eq!(built.raw_len(), 128_815);
    built
        .check_config(&EngramLayout::builtin("demo").unwrap().config)
        .unwrap();
    let d = json("engram_demo_vectors.json");
    for case in d["cases"].as_array().unwrap() {
        let mut out = Vec::new();
        built
            .compress_into(&ids(&case["raw_ids"]), &mut out)
            .unwrap();
        assert_eq!(out, ids(&case["compressed_ids"]), "{}", case["name"]);
    }
    // The wrong tokenizer for a config is a clear error, not a panic.
    let e = built
        .check_config(&EngramLayout::builtin("v41-flash").unwrap().config)
        .unwrap_err()
        .to_string();
    assert!(e.contains("mismatch"), "{e}");
}

#[test]
fn missing_or_bad_tokenizer_is_an_error() {
    let e = CompressedVocab::from_tokenizer_file(std::path::Path::new("/nonexistent/t.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("fetch-inputs"), "{e}");
    let bad = fixture("engram_demo_vectors.json"); // JSON, but not a tokenizer
    assert!(CompressedVocab::from_tokenizer_file(&bad).is_err());
}
