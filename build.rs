//! Embeds the shipped scenarios, `scenarios/*.toml` (tools/build/embed.rs), so that
//! `memwall run NAME` works from any folder.
include!("tools/build/embed.rs");

fn main() {
    embed_toml_dir("scenarios", "scenarios.rs", Depth::Top);
}
