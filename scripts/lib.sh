# Shared by the scripts in this folder. Source it; do not run it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
WASM_BINDGEN_VERSION="0.2.130"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The wasm target and the wasm-bindgen CLI (pinned to the crate version in Cargo.lock).
ensure_wasm_tools() {
  if ! rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
    say "installing the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
    say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 2 minutes, once)"
    # Without --locked: with it, resolution fails on webpki-roots (see shared BUILD-NOTES).
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
  fi
}

# Builds the browser bundle (hydrate wasm + JS glue + CSS) into target/site/pkg.
build_site() {
  ensure_wasm_tools
  say "building the browser app (wasm)"
  cargo build -p app --lib --target wasm32-unknown-unknown --features hydrate
  local site="$ROOT/target/site/pkg"
  mkdir -p "$site"
  wasm-bindgen --target web --out-dir "$site" --out-name app \
    "$CARGO_TARGET_DIR/wasm32-unknown-unknown/debug/app.wasm"
  cp "$ROOT/style/main.css" "$site/steward.css"
  cp "$ROOT/style/favicon.svg" "$site/favicon.svg"
}

build_binaries() {
  say "building the server and the worker"
  cargo build -p server -p worker
}
