//! Embeds the engine profiles under `configs/engines/` (tools/build/embed.rs).
include!("../../tools/build/embed.rs");

fn main() {
    embed_toml_dir("configs/engines", "engines.rs", Depth::Top);
}
