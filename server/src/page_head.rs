//! The `<head>` of the pages the server writes without Leptos: the hosted
//! forms and the pages an emailed approval link opens. They use the app's
//! stylesheet and icon under their content-hashed names.

use std::sync::OnceLock;

static SITE_ROOT: OnceLock<String> = OnceLock::new();

/// Called once when the server starts; the first site root wins (a process
/// serves one site, the Rust tests start several servers on the same one).
pub fn set_site_root(site_root: &str) {
    let _ = SITE_ROOT.set(site_root.to_string());
}

fn href(name: &str) -> String {
    match SITE_ROOT.get() {
        Some(root) => app::ssr::assets::href(root, name),
        None => format!("/pkg/{name}"),
    }
}

/// `<head>…</head>` with the (already escaped) title and any extra tags.
pub fn head(title_html: &str, extra: &str) -> String {
    format!(
        "<head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"icon\" href=\"{}\" type=\"image/svg+xml\">{extra}<title>{title_html}</title>\
         <link rel=\"stylesheet\" href=\"{}\"></head>",
        href("favicon.svg"),
        href("steward.css"),
    )
}
