//! Rebuilds the server when the dashboard's files change: they are embedded
//! into the binary (`src/playground.rs`).

fn main() {
    println!("cargo:rerun-if-changed=playground");
}
