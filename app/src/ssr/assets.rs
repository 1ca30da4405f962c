//! The browser bundle's file names. `steward assets` gives each file a name
//! that carries a hash of its content (so browsers may keep it for a year) and
//! writes `hash.txt` beside them: one `name: hash` line per file, in the format
//! Leptos's `HydrationScripts` reads for `js` and `wasm`. A site built without
//! that step (the Rust tests' empty site) keeps the plain names.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, OnceLock},
};

/// The manifest's file name, inside the site's `pkg` folder.
pub const MANIFEST: &str = "hash.txt";

/// Logical name (`steward.css`, or Leptos's `js`/`wasm`) → content hash.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AssetHashes(HashMap<String, String>);

impl AssetHashes {
    pub fn parse(text: &str) -> Self {
        Self(
            text.lines()
                .filter_map(|line| line.split_once(':'))
                .map(|(name, hash)| (name.trim().to_string(), hash.trim().to_string()))
                .filter(|(name, hash)| !name.is_empty() && !hash.is_empty())
                .collect(),
        )
    }

    pub fn render(entries: &[(&str, &str)]) -> String {
        entries.iter().map(|(name, hash)| format!("{name}: {hash}\n")).collect()
    }

    /// `steward.css` → `steward.<hash>.css` when the manifest names it.
    pub fn file_name(&self, name: &str) -> String {
        match self.0.get(name) {
            Some(hash) => hashed_name(name, hash),
            None => name.to_string(),
        }
    }

    /// Whether a file in `pkg` is one of the current hashed names (cached for a year).
    pub fn is_current_hashed(&self, file: &str) -> bool {
        self.0.iter().any(|(key, hash)| hashed_name(logical_name(key), hash) == file)
    }
}

/// The file a manifest key names: Leptos's `js` and `wasm` are `app.js` and
/// `app.wasm`; every other key is its file's own name.
pub fn logical_name(key: &str) -> &str {
    match key {
        "js" => "app.js",
        "wasm" => "app.wasm",
        other => other,
    }
}

/// `app.js` + `abc` → `app.abc.js`.
pub fn hashed_name(name: &str, hash: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
        None => format!("{name}.{hash}"),
    }
}

pub fn manifest_path(site_root: &str) -> PathBuf {
    Path::new(site_root).join("pkg").join(MANIFEST)
}

/// The manifest of a site, read once per process and site.
pub fn hashes(site_root: &str) -> Arc<AssetHashes> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<AssetHashes>>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(site_root.to_string())
        .or_insert_with(|| {
            let text = std::fs::read_to_string(manifest_path(site_root)).unwrap_or_default();
            Arc::new(AssetHashes::parse(&text))
        })
        .clone()
}

/// The stems of the app's JS glue and wasm (`app.<hash>` each; without a
/// manifest, wasm-bindgen's own `app` and `app_bg`), as the hydration script loads them.
pub fn app_stems(site_root: &str) -> (String, String) {
    let hashes = hashes(site_root);
    match (hashes.0.get("js"), hashes.0.get("wasm")) {
        (Some(js), Some(wasm)) => (format!("app.{js}"), format!("app.{wasm}")),
        _ => ("app".to_string(), "app_bg".to_string()),
    }
}

/// The script that loads and hydrates the app once the browser is idle.
pub fn hydration_script(site_root: &str) -> String {
    let (js, wasm) = app_stems(site_root);
    // Its comments stay in the source, not in every page.
    let script: Vec<&str> =
        include_str!("hydrate_script.js").lines().filter(|line| !line.trim_start().starts_with("//")).collect();
    format!("{}(\"\", \"pkg\", {js:?}, {wasm:?});", script.join("\n"))
}

/// The address of one of the bundle's files, e.g. `href(root, "steward.css")`.
pub fn href(site_root: &str, name: &str) -> String {
    format!("/pkg/{}", hashes(site_root).file_name(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_come_from_the_manifest_and_plain_names_stay_without_one() {
        let hashes = AssetHashes::parse("js: 1a2b\nwasm: 3c4d\nsteward.css: 5e6f\n\n");
        assert_eq!(hashes.file_name("steward.css"), "steward.5e6f.css");
        assert_eq!(hashes.file_name("favicon.svg"), "favicon.svg");
        assert!(hashes.is_current_hashed("app.1a2b.js"));
        assert!(hashes.is_current_hashed("app.3c4d.wasm"));
        assert!(hashes.is_current_hashed("steward.5e6f.css"));
        assert!(!hashes.is_current_hashed("steward.css"));
        assert!(!hashes.is_current_hashed("steward.0000.css"));
        let text = AssetHashes::render(&[("js", "1a2b"), ("steward.css", "5e6f")]);
        assert_eq!(hashes.0.get("wasm").map(String::as_str), Some("3c4d"));
        assert_eq!(AssetHashes::parse(&text).file_name("steward.css"), "steward.5e6f.css");
    }
}
