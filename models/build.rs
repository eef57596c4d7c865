//! Embeds every `*.toml` under the repository's `hw-profiles/` (tools/build/embed.rs).
include!("../tools/build/embed.rs");

fn main() {
    embed_toml_dir("../hw-profiles", "embedded.rs", Depth::Recursive);
}
