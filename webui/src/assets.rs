//! The UI's files, compiled into the binary by `build.rs` from `webui/ui/`: looked up by URL path,
//! with their content type and a content-hash ETag.

use std::collections::HashMap;
use std::sync::LazyLock;

use sha2::{Digest, Sha256};

mod table {
    include!(concat!(env!("OUT_DIR"), "/assets.rs"));
}

/// One embedded file.
pub struct Asset {
    pub bytes: &'static [u8],
    pub content_type: &'static str,
    /// Strong ETag: the first 16 bytes of the content's SHA-256, quoted.
    pub etag: String,
}

static ASSETS: LazyLock<HashMap<&'static str, Asset>> = LazyLock::new(|| {
    table::FILES
        .iter()
        .map(|(path, bytes)| {
            let digest = Sha256::digest(bytes);
            let asset = Asset {
                bytes,
                content_type: content_type(path),
                etag: format!("\"{}\"", hex::encode(&digest[..16])),
            };
            (*path, asset)
        })
        .collect()
});

/// The file served at `path` (e.g. `/app/main.js`), if there is one.
pub fn get(path: &str) -> Option<&'static Asset> {
    ASSETS.get(path)
}

/// The page every client-side route loads.
pub fn index() -> &'static Asset {
    // build.rs embeds ui/index.html; the `every_page_and_module_is_embedded` test guards it.
    ASSETS
        .get("/index.html")
        .expect("ui/index.html is embedded at build time")
}

/// Every embedded path, sorted.
pub fn paths() -> Vec<&'static str> {
    let mut paths: Vec<_> = ASSETS.keys().copied().collect();
    paths.sort_unstable();
    paths
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json" | "webmanifest") => "application/json",
        Some("woff2") => "font/woff2",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_and_module_is_embedded() {
        let paths = paths();
        for needed in [
            "/index.html",
            "/app/main.js",
            "/app/app.css",
            "/app/redirection.js",
        ] {
            assert!(paths.contains(&needed), "{needed} missing from {paths:?}");
        }
        assert!(index().content_type.starts_with("text/html"));
        assert_eq!(
            get("/app/main.js").map(|a| a.content_type),
            Some("text/javascript; charset=utf-8")
        );
    }

    #[test]
    fn etags_follow_the_content() {
        let a = get("/app/main.js").unwrap();
        let b = get("/app/app.css").unwrap();
        assert_ne!(a.etag, b.etag);
        assert_eq!(a.etag.len(), 34);
        assert_eq!(a.etag, get("/app/main.js").unwrap().etag);
    }

    #[test]
    fn nothing_is_fetched_from_elsewhere() {
        // Works offline: no page or module refers to another origin for code, styles or fonts.
        for path in paths() {
            let text = String::from_utf8_lossy(get(path).unwrap().bytes);
            for needle in [
                "src=\"http",
                "href=\"http",
                "@import url(http",
                "from 'http",
                "from \"http",
            ] {
                assert!(!text.contains(needle), "{path} loads {needle}…");
            }
        }
    }
}
