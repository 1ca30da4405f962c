# Steward: one image with the server (`steward`) and the worker (`steward-worker`).
# Build:  docker build -t steward .
# The browser bundle is built the same way as scripts/lib.sh does (cargo +
# wasm-bindgen, no cargo-leptos): the size-optimised wasm-release profile,
# wasm-opt -Oz from npm's binaryen, then `steward assets` (hashed names, brotli/gzip).

FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN rustup target add wasm32-unknown-unknown \
 && cargo install wasm-bindgen-cli --version 0.2.130 \
 && apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
COPY tools/package.json tools/package-lock.json /src/tools/
RUN npm ci --prefix /src/tools --omit=optional --no-audit --no-fund
COPY . .
RUN cargo build --release -p server -p worker \
 && cargo build -p app --lib --target wasm32-unknown-unknown --features hydrate --profile wasm-release \
 && mkdir -p /out/site/pkg \
 && wasm-bindgen --target web --out-dir /out/site/pkg --out-name app \
      target/wasm32-unknown-unknown/wasm-release/app.wasm \
 && tools/node_modules/.bin/wasm-opt -Oz --strip-debug --strip-producers \
      --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
      --enable-mutable-globals --enable-reference-types --enable-multivalue \
      /out/site/pkg/app_bg.wasm -o /out/site/pkg/app_bg.wasm \
 && cp style/main.css /out/site/pkg/steward.css \
 && cp style/favicon.svg /out/site/pkg/favicon.svg \
 && target/release/steward assets /out/site/pkg --compression best \
 && cp target/release/steward target/release/steward-worker /out/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --uid 10001 steward
COPY --from=build /out/steward /out/steward-worker /usr/local/bin/
COPY --from=build /out/site /app/site
ENV STEWARD_SITE_ROOT=/app/site \
    STEWARD_ENV=production \
    STEWARD_BIND=0.0.0.0:3000 \
    RUST_LOG=info,sqlx=warn,sea_orm_migration=warn
USER steward
WORKDIR /app
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s CMD curl -fs http://127.0.0.1:3000/healthz || exit 1
CMD ["steward", "serve"]
