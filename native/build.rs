// The N-API symbols come from the `node` executable that loads the addon, so they stay undefined at link time.
// Linux shared libraries allow that by default; macOS needs to be told to look them up when loaded.
fn main() {
  if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("macos") {
    println!("cargo:rustc-link-arg=-undefined");
    println!("cargo:rustc-link-arg=dynamic_lookup");
  }
}
