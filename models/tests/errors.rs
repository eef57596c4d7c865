//! Bad profiles fail with file, line, field and a hint.
use memwall_models::*;

const GOOD_LINK: &str = r#"kind = "link"
name = "my-link"
description = "test link"
type = "nvlink"
latency = { value = "2.3 us", basis = "measured", source = "R23" }

[bandwidth]
peak = { value = "450 GB/s", basis = "peak", source = "R1" }
achievable = { value = "395 GB/s", basis = "measured", source = "R23" }
"#;

fn one_error(file: &str, text: &str) -> ProfileError {
    let errs = validate_text(file, text).expect_err("should fail");
    assert!(!errs.is_empty());
    errs.into_iter().next().unwrap()
}

#[test]
fn good_user_link_validates() {
    validate_text("user/my-link.toml", GOOD_LINK).unwrap();
}

#[test]
fn misspelt_field_suggests_the_right_one() {
    let text = GOOD_LINK.replace("latency =", "latncy =");
    let e = one_error("user/my-link.toml", &text);
    let s = e.to_string();
    assert_eq!(e.file, "user/my-link.toml");
    assert_eq!(e.line, Some(5), "{s}");
    assert_eq!(e.field, "latncy", "{s}");
    assert!(s.contains("unknown field `latncy`"), "{s}");
    assert!(s.contains("did you mean `latency`"), "{s}");
    assert!(s.starts_with("user/my-link.toml:5:"), "{s}");
}

#[test]
fn misspelt_nested_field() {
    let text = GOOD_LINK.replace("achievable = {", "achievabel = {");
    let e = one_error("f.toml", &text);
    let s = e.to_string();
    assert_eq!(e.line, Some(9), "{s}");
    assert_eq!(e.field, "bandwidth.achievabel", "{s}");
    assert!(s.contains("did you mean `achievable`"), "{s}");
}

#[test]
fn missing_unit_is_rejected_with_example() {
    let text = GOOD_LINK.replace("\"450 GB/s\"", "450");
    let e = one_error("f.toml", &text);
    let s = e.to_string();
    assert_eq!(e.line, Some(8), "{s}");
    assert_eq!(e.field, "bandwidth.peak.value", "{s}");
    assert!(s.contains("bare number 450"), "{s}");
    assert!(
        s.contains("hint: write it with a unit, e.g. \"3.35 TB/s\""),
        "{s}"
    );
}

#[test]
fn missing_unit_in_a_string_too() {
    let text = GOOD_LINK.replace("\"450 GB/s\"", "\"450\"");
    let e = one_error("f.toml", &text);
    assert_eq!(e.field, "bandwidth.peak.value");
    assert!(e.message.contains("unit is missing"), "{e}");
}

#[test]
fn wrong_unit_names_both_kinds() {
    let text = GOOD_LINK.replace("\"2.3 us\"", "\"2.3 GB/s\"");
    let e = one_error("f.toml", &text);
    let s = e.to_string();
    assert_eq!(e.line, Some(5), "{s}");
    assert_eq!(e.field, "latency.value", "{s}");
    assert!(s.contains("wrong unit \"GB/s\""), "{s}");
    assert!(s.contains("a bandwidth, but a time is required"), "{s}");
    assert!(s.contains("hint:") && s.contains("\"2.8 us\""), "{s}");
}

#[test]
fn negative_value_is_rejected() {
    let text = GOOD_LINK.replace("\"395 GB/s\"", "\"-395 GB/s\"");
    let e = one_error("f.toml", &text);
    let s = e.to_string();
    assert_eq!(e.line, Some(9), "{s}");
    assert_eq!(e.field, "bandwidth.achievable.value", "{s}");
    assert!(s.contains("negative"), "{s}");
    assert!(e.hint.is_some());
}

#[test]
fn absurd_values_are_rejected() {
    let text = GOOD_LINK.replace("\"450 GB/s\"", "\"4.5 PB/s\"");
    let e = one_error("f.toml", &text);
    assert_eq!(e.line, Some(8));
    assert_eq!(e.field, "bandwidth.peak.value");
    assert!(e.message.contains("absurd"), "{e}");
    assert!(e.hint.as_deref().unwrap_or("").contains("TB/s"), "{e}");

    let text = GOOD_LINK.replace("\"2.3 us\"", "\"2.3 s\"");
    let e = one_error("f.toml", &text);
    assert_eq!(e.field, "latency.value");
    assert!(e.message.contains("absurd"), "{e}");

    // HBM above 100 TB: a field-specific limit, found after parsing
    let gpu = embedded_files()
        .iter()
        .find(|(p, _)| *p == "gpus/h100-sxm.toml")
        .unwrap()
        .1;
    let text = gpu
        .replace("name = \"h100-sxm\"", "name = \"my-gpu\"")
        .replace("\"80 GB\"", "\"800 TB\"");
    let e = one_error("my-gpu.toml", &text);
    let s = e.to_string();
    assert_eq!(e.field, "memory.capacity.value", "{s}");
    assert!(s.contains("absurd") && s.contains("100 TB"), "{s}");
    assert!(e.line.is_some(), "{s}");
}

#[test]
fn unknown_part_reference_lists_known_names() {
    let sys = embedded_files()
        .iter()
        .find(|(p, _)| *p == "systems/dgx-h100.toml")
        .unwrap()
        .1;
    let text = sys
        .replace("name = \"dgx-h100\"", "name = \"my-node\"")
        .replace("gpu = \"h100-sxm\"", "gpu = \"h100-sxn\"");
    let e = one_error("my-node.toml", &text);
    let s = e.to_string();
    assert_eq!(e.file, "my-node.toml");
    assert_eq!(e.field, "node.gpu", "{s}");
    assert_eq!(e.line, Some(6), "{s}");
    assert!(s.contains("unknown gpu \"h100-sxn\""), "{s}");
    assert!(s.contains("did you mean \"h100-sxm\""), "{s}");
    assert!(s.contains("h800") && s.contains("b200"), "{s}");
}

#[test]
fn reference_of_the_wrong_kind() {
    let sys = embedded_files()
        .iter()
        .find(|(p, _)| *p == "systems/dgx-h100.toml")
        .unwrap()
        .1;
    let text = sys
        .replace("name = \"dgx-h100\"", "name = \"my-node\"")
        .replace("nic = \"connectx-7\"", "nic = \"nvlink4\"");
    let e = one_error("my-node.toml", &text);
    assert_eq!(e.field, "node.nic");
    assert!(e.message.contains("is a link profile, not a nic"), "{e}");
}

#[test]
fn switch_wiring_errors_point_at_the_switch() {
    let sys = embedded_files()
        .iter()
        .find(|(p, _)| *p == "systems/dgx-h100.toml")
        .unwrap()
        .1;
    let text = sys
        .replace("name = \"dgx-h100\"", "name = \"my-node\"")
        .replacen("socket = 1", "socket = 5", 1);
    let e = one_error("my-node.toml", &text);
    assert_eq!(e.field, "node.switches[2].socket", "{e}");
    assert!(e.message.contains("socket 5 does not exist"), "{e}");
    assert!(e.line.is_some());
}

#[test]
fn missing_basis_and_bad_basis() {
    let text = GOOD_LINK.replace(", basis = \"peak\"", "");
    let e = one_error("f.toml", &text);
    assert_eq!(e.field, "bandwidth.peak.basis", "{e}");
    assert!(
        e.hint.as_deref().unwrap().contains("basis = \"peak\""),
        "{e}"
    );

    let text = GOOD_LINK.replace("basis = \"peak\"", "basis = \"peek\"");
    let e = one_error("f.toml", &text);
    assert!(e.to_string().contains("did you mean \"peak\""), "{e}");
}

#[test]
fn estimate_needs_a_note() {
    let text = GOOD_LINK.replace(
        "basis = \"measured\", source = \"R23\" }\n\n",
        "basis = \"estimate\", source = \"R23\" }\n\n",
    );
    let e = one_error("f.toml", &text);
    assert_eq!(e.field, "latency.note", "{e}");
    assert!(e.message.contains("estimate needs a note"), "{e}");
}

#[test]
fn achievable_above_peak_and_missing_efficiency() {
    let text = GOOD_LINK.replace("\"395 GB/s\"", "\"500 GB/s\"");
    let e = one_error("f.toml", &text);
    assert_eq!(e.field, "bandwidth.achievable.value");
    let text = GOOD_LINK.replace(
        "achievable = { value = \"395 GB/s\", basis = \"measured\", source = \"R23\" }\n",
        "",
    );
    let e = one_error("f.toml", &text);
    assert_eq!(e.field, "bandwidth");
    assert!(e.hint.as_deref().unwrap().contains("efficiency"), "{e}");
}

#[test]
fn syntax_errors_and_unknown_kind_do_not_panic() {
    let e = one_error("f.toml", "kind = \"gpu\"\nname = \n");
    assert_eq!(e.line, Some(2), "{e}");
    let e = one_error("f.toml", "kind = \"gpuu\"\nname = \"x\"\n");
    assert!(e.to_string().contains("did you mean \"gpu\""), "{e}");
    let e = one_error("f.toml", "name = \"x\"\n");
    assert_eq!(e.field, "kind");
}

#[test]
fn user_files_override_by_name_and_extend() {
    let dir = std::env::temp_dir().join(format!("memwall-models-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let link = embedded_files()
        .iter()
        .find(|(p, _)| *p == "networks/pcie-gen5-x16.toml")
        .unwrap()
        .1;
    std::fs::write(
        dir.join("pcie.toml"),
        link.replace("\"55.4 GB/s\"", "\"50 GB/s\""),
    )
    .unwrap();
    std::fs::write(dir.join("mine.toml"), GOOD_LINK).unwrap();
    let reg = Registry::with_user_paths(std::slice::from_ref(&dir)).unwrap();
    assert_eq!(
        reg.link("pcie-gen5-x16").unwrap().bandwidth.achievable,
        50_000_000_000
    );
    assert!(reg.link("my-link").is_ok());
    assert!(!reg.get("my-link").unwrap().embedded);
    // the override flows into systems
    let s = reg.system("dgx-h100").unwrap();
    assert_eq!(
        s.node.switches[0].uplink.bandwidth.achievable,
        50_000_000_000
    );
    assert!(cli_list(std::slice::from_ref(&dir))
        .unwrap()
        .contains("my-link"));
    assert!(cli_validate(std::slice::from_ref(&dir))
        .unwrap()
        .starts_with("ok"));
    // a user file reusing a name of another kind is an error
    std::fs::write(
        dir.join("clash.toml"),
        GOOD_LINK.replace("my-link", "h100-sxm"),
    )
    .unwrap();
    let errs = cli_validate(std::slice::from_ref(&dir)).unwrap_err();
    assert!(errs.contains("already used by the gpu profile"), "{errs}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn show_unknown_name_suggests() {
    let e = cli_show("dgx-h10", &[]).unwrap_err();
    assert!(e.contains("did you mean \"dgx-h100\""), "{e}");
}

#[test]
fn readme_system_example_validates() {
    let readme = include_str!("../../hw-profiles/README.md");
    let start = readme.find("### A system").unwrap();
    let block = &readme[start..];
    let open = block.find("```toml\n").unwrap() + "```toml\n".len();
    let close = block[open..].find("```").unwrap();
    let text = &block[open..open + close];
    validate_text("README.md", text).unwrap_or_else(|e| panic!("{}", e));
    let mut reg = Registry::embedded().unwrap();
    reg.add_text("README.md", text, false).unwrap();
    let s = reg.system("my-node").unwrap();
    assert_eq!(s.economics.hourly_micro_usd, Some(25_000_000));
    assert_eq!(s.economics.purchase_micro_usd, Some(300_000_000_000));
    assert_eq!(s.cluster.unwrap().total_gpus, 32);
}
