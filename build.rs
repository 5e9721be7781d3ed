//! `sqlx::migrate!` embeds the `migrations/` directories in the binary when the crate is
//! compiled, and cargo does not watch them by itself: without this, a new or changed migration
//! would leave the node built with the old ones.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
