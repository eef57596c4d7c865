//! Embeds every `*.toml` under `configs/` (tools/build/embed.rs).
include!("../../tools/build/embed.rs");

fn main() {
    embed_toml_dir("configs", "embedded.rs", Depth::Recursive);
}
