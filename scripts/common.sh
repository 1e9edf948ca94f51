# Sourced by the scripts in this folder: shared helpers. Not run on its own.
say() { printf '\033[1m== %s\033[0m\n' "$*"; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }
# `cargo install` puts binaries here; a fresh shell may not have it on PATH yet.
if [ -d "$HOME/.cargo/bin" ]; then
  case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) export PATH="$HOME/.cargo/bin:$PATH" ;; esac
fi
# The version of the wasm-bindgen crate that Cargo.lock pins (the CLI must match it exactly).
wbg_lock_version() {
  awk '$0 == "[[package]]" { name = "" }
    $1 == "name" { name = $3 }
    $1 == "version" && name == "\"wasm-bindgen\"" { gsub(/"/, "", $3); print $3; exit }' Cargo.lock
}
# The pinned nightly: only for the threaded search worker (wasm atomics need -Z build-std) and
# cargo-fuzz. Everything else builds on stable.
NIGHTLY=nightly-2026-05-20
