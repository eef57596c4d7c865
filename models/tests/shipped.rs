use memwall_models::*;

#[test]
fn every_shipped_profile_validates() {
    let reg = Registry::embedded().unwrap_or_else(|e| panic!("{}", error::render_errors(&e)));
    let errors = reg.validate();
    assert!(errors.is_empty(), "{}", error::render_errors(&errors));
}

#[test]
fn dump_for_eyes() {
    let reg = Registry::embedded().unwrap();
    println!("{}", list_table(&reg));
    println!("{}", show(&reg, "dgx-h100").unwrap());
    println!("{}", show(&reg, "gb300-nvl72").unwrap());
    println!("{}", show(&reg, "h800").unwrap());
}
