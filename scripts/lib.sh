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
# `release` (what the run command serves): the size-optimised wasm-release
# profile, then wasm-opt -Oz from npm's binaryen (Debian's breaks hydration,
# see BUILD-NOTES). `debug` (what the tests use): a quick build.
build_site() {
  local profile="${1:-debug}"
  ensure_wasm_tools
  local site="$ROOT/target/site/pkg" wasm
  mkdir -p "$site"
  if [ "$profile" = release ]; then
    say "building the browser app (wasm, size-optimised release; the first time takes a while)"
    cargo build -p app --lib --target wasm32-unknown-unknown --features hydrate --profile wasm-release
    wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/app.wasm"
  else
    say "building the browser app (wasm, debug)"
    cargo build -p app --lib --target wasm32-unknown-unknown --features hydrate
    wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/debug/app.wasm"
  fi
  wasm-bindgen --target web --out-dir "$site" --out-name app "$wasm"
  if [ "$profile" = release ]; then
    if ensure_npm_tools; then
      say "shrinking the wasm (wasm-opt -Oz)"
      "$ROOT/tools/node_modules/.bin/wasm-opt" -Oz --strip-debug --strip-producers \
        --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
        --enable-mutable-globals --enable-reference-types --enable-multivalue \
        "$site/app_bg.wasm" -o "$site/app_bg.wasm"
    else
      say "npm is missing: serving the wasm without wasm-opt (install Node.js for a smaller download)"
    fi
  fi
  cp "$ROOT/style/main.css" "$site/steward.css"
  cp "$ROOT/style/favicon.svg" "$site/favicon.svg"
}

# wasm-opt (and Lighthouse) from npm, pinned in tools/package-lock.json.
ensure_npm_tools() {
  [ -x "$ROOT/tools/node_modules/.bin/wasm-opt" ] && return 0
  command -v npm >/dev/null || return 1
  say "installing the npm build tools in tools/ (once)"
  # A peer that npm resolves to "latest" can leave the lock behind the registry:
  # then install from package.json (same pinned versions) without rewriting the lock.
  npm ci --prefix "$ROOT/tools" --no-audit --no-fund >/dev/null 2>&1 ||
    npm install --prefix "$ROOT/tools" --no-audit --no-fund --no-save >/dev/null
}

build_binaries() {
  say "building the server and the worker"
  cargo build -p server -p worker
}

# Content-hashed names and brotli/gzip copies of the bundle (server/src/site_files.rs).
prepare_site() {
  local compression="fast"
  [ "${1:-debug}" = release ] && compression="best"
  say "naming and compressing the browser bundle ($compression)"
  "$CARGO_TARGET_DIR/debug/steward" assets "$ROOT/target/site/pkg" --compression "$compression"
}

# Everything the run command and the tests serve: `build_all release|debug`.
build_all() {
  build_site "$1"
  build_binaries
  prepare_site "$1"
}
