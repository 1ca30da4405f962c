//! The browser bundle's files under `/pkg`: how the build prepares them and
//! how the server hands them out.
//!
//! `steward assets <pkg dir>` (run by the build scripts after wasm-bindgen)
//! copies each file to a name carrying a hash of its content, writes
//! `hash.txt` (see `app::ssr::assets`) and precompresses every copy with
//! brotli and gzip, so the server never compresses the bundle per request.
//! The server answers a hashed name with `Cache-Control: immutable` for a
//! year and picks the precompressed copy the browser accepts.

use actix_files::NamedFile;
use actix_web::{
    http::header::{self, ContentEncoding, HeaderValue},
    web, HttpRequest, HttpResponse, Responder,
};
use app::ssr::assets::{hashed_name, logical_name, AssetHashes, MANIFEST};
use leptos::config::LeptosOptions;
use sha2::{Digest, Sha256};
use std::{
    io::Write,
    path::{Path, PathBuf},
};

/// What wasm-bindgen and the build scripts leave in `pkg`, with the key each
/// is known by in `hash.txt` (`js` and `wasm` are the keys Leptos reads).
const BUNDLE: &[(&str, &str)] =
    &[("app.js", "js"), ("app_bg.wasm", "wasm"), ("steward.css", "steward.css"), ("favicon.svg", "favicon.svg")];

/// How hard to compress: `Best` for what people download (the release
/// bundle), `Fast` for the large debug bundle the tests build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    Best,
    Fast,
}

#[derive(Debug)]
pub struct Prepared {
    pub name: String,
    pub bytes: u64,
    pub brotli: u64,
    pub gzip: u64,
}

/// Hashes, names and precompresses the bundle in `pkg`; removes the copies
/// an earlier build left. Returns what it wrote, for the build to print.
pub fn prepare(pkg: &Path, compression: Compression) -> anyhow::Result<Vec<Prepared>> {
    let mut entries = Vec::new();
    let mut written = Vec::new();
    let mut keep = vec![MANIFEST.to_string()];
    for (source, key) in BUNDLE {
        let path = pkg.join(source);
        let bytes = std::fs::read(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let hash = hex_prefix(&Sha256::digest(&bytes));
        let name = hashed_name(logical_name(key), &hash);
        std::fs::write(pkg.join(&name), &bytes)?;
        let brotli = write_brotli(&pkg.join(format!("{name}.br")), &bytes, compression)?;
        let gzip = write_gzip(&pkg.join(format!("{name}.gz")), &bytes, compression)?;
        keep.extend([source.to_string(), name.clone(), format!("{name}.br"), format!("{name}.gz")]);
        entries.push((*key, hash));
        written.push(Prepared { name, bytes: bytes.len() as u64, brotli, gzip });
    }
    let manifest: Vec<(&str, &str)> = entries.iter().map(|(k, h)| (*k, h.as_str())).collect();
    std::fs::write(pkg.join(MANIFEST), AssetHashes::render(&manifest))?;
    // Earlier builds' hashed copies; wasm-bindgen's own outputs (snippets, .d.ts) stay.
    for entry in std::fs::read_dir(pkg)? {
        let name = entry?.file_name().to_string_lossy().to_string();
        if !keep.contains(&name) && looks_hashed(&name) {
            std::fs::remove_file(pkg.join(&name))?;
        }
    }
    Ok(written)
}

fn hex_prefix(digest: &[u8]) -> String {
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// `name.<16 hex>.ext` (and its `.br`/`.gz`).
fn looks_hashed(name: &str) -> bool {
    name.split('.').any(|part| part.len() == 16 && part.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn write_brotli(path: &Path, bytes: &[u8], compression: Compression) -> anyhow::Result<u64> {
    let quality = match compression {
        Compression::Best => 11,
        Compression::Fast => 1,
    };
    let mut out = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut out, 64 * 1024, quality, 24);
        writer.write_all(bytes)?;
    }
    std::fs::write(path, &out)?;
    Ok(out.len() as u64)
}

fn write_gzip(path: &Path, bytes: &[u8], compression: Compression) -> anyhow::Result<u64> {
    let level = match compression {
        Compression::Best => flate2::Compression::best(),
        Compression::Fast => flate2::Compression::fast(),
    };
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), level);
    encoder.write_all(bytes)?;
    let out = encoder.finish()?;
    std::fs::write(path, &out)?;
    Ok(out.len() as u64)
}

/// `GET /pkg/{file:.*}`.
pub async fn serve(req: HttpRequest, file: web::Path<String>, options: web::Data<LeptosOptions>) -> HttpResponse {
    let file = file.into_inner();
    // wasm-bindgen's `snippets/<crate>/inline0.js` sit one folder down; nothing climbs out.
    let safe = file.split('/').all(|part| {
        !part.is_empty()
            && !part.starts_with('.')
            && part.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    });
    if !safe || file == MANIFEST {
        return HttpResponse::NotFound().finish();
    }
    let pkg = PathBuf::from(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
    let hashes = app::ssr::assets::hashes(&options.site_root);
    let accepts = |coding: &str| {
        req.headers().get_all(header::ACCEPT_ENCODING).filter_map(|v| v.to_str().ok()).any(|v| {
            v.split(',').any(|part| {
                let mut pieces = part.trim().split(';');
                pieces.next() == Some(coding) && !pieces.any(|q| q.trim().replace(' ', "") == "q=0")
            })
        })
    };
    // A precompressed copy the browser accepts, else the file itself (which
    // the `Compress` middleware may still compress on the way out).
    let variants = [("br", ContentEncoding::Brotli), ("gzip", ContentEncoding::Gzip)];
    let precompressed = variants.iter().find_map(|(coding, encoding)| {
        let suffix = if *coding == "br" { "br" } else { "gz" };
        let path = pkg.join(format!("{file}.{suffix}"));
        (accepts(coding) && path.is_file()).then_some((path, *encoding))
    });
    let (path, encoding) = match precompressed {
        Some((path, encoding)) => (path, Some(encoding)),
        None => (pkg.join(&file), None),
    };
    let Ok(named) = NamedFile::open_async(&path).await else {
        return HttpResponse::NotFound().finish();
    };
    let ext = Path::new(&file).extension().and_then(|e| e.to_str()).unwrap_or_default();
    let mut named = named.set_content_type(actix_files::file_extension_to_mime(ext));
    if let Some(encoding) = encoding {
        named = named.set_content_encoding(encoding);
    }
    let mut res = named.respond_to(&req).map_into_boxed_body();
    let cache = if hashes.is_current_hashed(&file) { "public, max-age=31536000, immutable" } else { "no-cache" };
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    res.headers_mut().insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_names_files_by_content_and_clears_the_previous_build() {
        let dir = std::env::temp_dir().join(format!("steward-pkg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        for (source, _) in BUNDLE {
            std::fs::write(dir.join(source), format!("contents of {source} ").repeat(50)).unwrap();
        }
        let first = prepare(&dir, Compression::Fast).unwrap();
        let css = first.iter().find(|p| p.name.starts_with("steward.")).unwrap().name.clone();
        assert!(css.ends_with(".css") && css.len() == "steward..css".len() + 16, "{css}");
        assert!(dir.join(format!("{css}.br")).is_file() && dir.join(format!("{css}.gz")).is_file());
        assert!(first.iter().all(|p| p.brotli < p.bytes && p.gzip < p.bytes), "{first:?}");
        let hashes = AssetHashes::parse(&std::fs::read_to_string(dir.join(MANIFEST)).unwrap());
        assert_eq!(hashes.file_name("steward.css"), css);

        // A new stylesheet gets a new name; the old copy and its compressed forms go.
        std::fs::write(dir.join("steward.css"), "body { color: black }").unwrap();
        let second = prepare(&dir, Compression::Fast).unwrap();
        let new_css = second.iter().find(|p| p.name.starts_with("steward.")).unwrap().name.clone();
        assert_ne!(new_css, css);
        assert!(!dir.join(&css).exists() && !dir.join(format!("{css}.br")).exists());
        assert!(dir.join("app_bg.wasm").exists(), "wasm-bindgen's own output stays");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
