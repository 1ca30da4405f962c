//! The browser bundle as a browser gets it: the pages name its files by
//! content hash, those names are cached for a year, a precompressed copy is
//! picked by Accept-Encoding, and HTML and JSON answers go out compressed.

use crate::support::*;
use reqwest::StatusCode;
use server::site_files::{prepare, Compression};
use std::io::Read;

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

fn brotli_decoded(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096).read_to_end(&mut out).unwrap();
    out
}

fn gzip_decoded(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

/// The hashed name a page links to, e.g. `/pkg/steward.<hash>.css`.
fn linked(html: &str, stem: &str, ext: &str) -> String {
    html.match_indices(&format!("/pkg/{stem}."))
        .map(|(at, _)| html[at..].split('"').next().unwrap().to_owned())
        .find(|href| href.ends_with(ext) && href.len() == format!("/pkg/{stem}..{ext}").len() + 16)
        .unwrap_or_else(|| panic!("no hashed {stem}.{ext} in the page"))
}

/// The script and wasm the page's hydration script loads: `("", "pkg", "app.<hash>", "app.<hash>")`.
fn loaded(html: &str) -> (String, String) {
    let call = html.split("(\"\", \"pkg\", ").nth(1).expect("the hydration script's call");
    let stems: Vec<&str> = call.split('"').filter(|s| s.starts_with("app.")).take(2).collect();
    assert_eq!(stems.len(), 2, "{call}");
    for stem in &stems {
        assert_eq!(stem.len(), "app.".len() + 16, "a hashed name: {stem}");
    }
    (format!("/pkg/{}.js", stems[0]), format!("/pkg/{}.wasm", stems[1]))
}

#[tokio::test]
async fn the_bundle_is_named_by_content_cached_for_a_year_and_sent_compressed() {
    let site = std::env::temp_dir().join(format!("steward-site-{}", uuid::Uuid::new_v4().simple()));
    let pkg = site.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let css = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../style/main.css")).unwrap();
    std::fs::write(pkg.join("steward.css"), &css).unwrap();
    std::fs::write(pkg.join("favicon.svg"), b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>").unwrap();
    std::fs::write(pkg.join("app.js"), "export default function init() {}\n".repeat(40)).unwrap();
    std::fs::write(pkg.join("app_bg.wasm"), b"\0asm\x01\0\0\0".repeat(200)).unwrap();
    std::fs::create_dir_all(pkg.join("snippets/app-0123")).unwrap();
    std::fs::write(pkg.join("snippets/app-0123/inline0.js"), "export function copy() {}").unwrap();
    prepare(&pkg, Compression::Fast).unwrap();
    let root = site.clone();
    let app =
        TestApp::spawn_with(Options { tune: Some(Box::new(move |s| s.site_root = root)), ..Default::default() }).await;
    let http = reqwest::Client::new();
    let get = |path: String, encoding: &'static str| {
        let mut req = http.get(format!("{}{path}", app.base));
        if !encoding.is_empty() {
            req = req.header("accept-encoding", encoding);
        }
        req.send()
    };

    // The sign-in page, compressed, links the hashed stylesheet, script and wasm.
    let page = get(format!("/t/{DEMO}/login"), "br, gzip").await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(header(&page, "content-encoding"), "br", "HTML goes out compressed");
    let html = String::from_utf8(brotli_decoded(&page.bytes().await.unwrap())).unwrap();
    let stylesheet = linked(&html, "steward", "css");
    let (script, wasm) = loaded(&html);
    assert!(!html.contains("rel=\"preload\""), "nothing is preloaded ahead of the first paint");
    linked(&html, "favicon", "svg");

    // A year of caching, the brotli copy for a browser that takes it, the gzip one otherwise.
    let br = get(stylesheet.clone(), "gzip, deflate, br").await.unwrap();
    assert_eq!(br.status(), StatusCode::OK);
    assert_eq!(header(&br, "cache-control"), "public, max-age=31536000, immutable");
    assert_eq!(header(&br, "content-encoding"), "br");
    assert!(header(&br, "content-type").starts_with("text/css"), "{}", header(&br, "content-type"));
    assert!(header(&br, "vary").to_lowercase().contains("accept-encoding"));
    let sent = br.bytes().await.unwrap();
    assert!(sent.len() < css.len() / 3, "{} of {} bytes", sent.len(), css.len());
    assert_eq!(brotli_decoded(&sent), css);
    let gz = get(stylesheet.clone(), "gzip").await.unwrap();
    assert_eq!(header(&gz, "content-encoding"), "gzip");
    assert_eq!(gzip_decoded(&gz.bytes().await.unwrap()), css);
    let plain = get(stylesheet.clone(), "").await.unwrap();
    assert!(header(&plain, "content-encoding").is_empty());
    assert_eq!(plain.bytes().await.unwrap().to_vec(), css);
    let declined = get(stylesheet, "br;q=0, gzip").await.unwrap();
    assert_eq!(header(&declined, "content-encoding"), "gzip", "q=0 declines brotli");

    let wasm_res = get(wasm, "br").await.unwrap();
    assert_eq!(header(&wasm_res, "content-type"), "application/wasm");
    assert_eq!(header(&wasm_res, "content-encoding"), "br");
    let js = get(script, "").await.unwrap();
    assert!(header(&js, "content-type").starts_with("text/javascript"), "{}", header(&js, "content-type"));

    // A name without a hash is not cached for long; nothing outside the folder is served.
    let unhashed = get("/pkg/steward.css".into(), "").await.unwrap();
    assert_eq!(unhashed.status(), StatusCode::OK);
    assert_eq!(header(&unhashed, "cache-control"), "no-cache");
    let snippet = get("/pkg/snippets/app-0123/inline0.js".into(), "").await.unwrap();
    assert_eq!(snippet.status(), StatusCode::OK, "wasm-bindgen's snippets one folder down");
    assert!(header(&snippet, "content-type").starts_with("text/javascript"));
    for path in [
        "/pkg/missing.js",
        "/pkg/..%2Fpkg%2Fhash.txt",
        "/pkg/.hidden",
        "/pkg/snippets/.x.js",
        "/pkg/snippets/../hash.txt",
        "/pkg/snippets//x.js",
    ] {
        assert_eq!(get(path.into(), "").await.unwrap().status(), StatusCode::NOT_FOUND, "{path}");
    }

    // Pages the server writes itself use the same names; JSON answers are compressed too.
    let form = get(format!("/forms/{DEMO}/{LEAD_WORKFLOW}"), "").await.unwrap();
    assert!(form.text().await.unwrap().contains(&linked(&html, "steward", "css")));
    let json = get("/api/openapi.json".into(), "gzip").await.unwrap();
    assert_eq!(header(&json, "content-encoding"), "gzip");
    let spec: serde_json::Value = serde_json::from_slice(&gzip_decoded(&json.bytes().await.unwrap())).unwrap();
    assert!(spec["paths"].is_object());
    std::fs::remove_dir_all(&site).ok();
}
