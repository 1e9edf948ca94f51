//! The site's own identity: its title, description, public address and accent color. They come
//! from `chromatica build` flags or from a `chromatica.toml` beside the images (so a rebuild needs
//! no flags; a flag wins over the file and applies to that build only), are kept in the site's
//! manifest (which `merge` reads back), and end up in `index.html`: the header, `<title>`, the meta
//! description, Open Graph and Twitter card tags with a preview image (prerender.rs, preview.rs).
//! The accent colors the sliders, focus rings and hover borders, and is the browser's theme color.
//!
//! ```toml
//! # chromatica.toml, in the images folder
//! title = "Harbour photographs, 1890–1930"
//! description = "The museum's harbour collection, searchable by color."
//! base_url = "https://example.org/harbour/"   # where the site is published (for link previews)
//! accent = "#1f6f8f"                          # sliders, focus rings, hover borders
//! ```
//! All four are optional. Every value is checked here, with a message that says what is wrong.

use anyhow::{bail, Context, Result};
use chromatica_core::color::{parse_hex, to_hex};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The file, in the images folder, that holds a site's settings.
pub const CONFIG_FILE: &str = "chromatica.toml";
/// Longest title and description, in characters (a title is a line; a description a few).
const MAX_TITLE: usize = 120;
const MAX_DESCRIPTION: usize = 400;
/// The default page title and tagline.
pub const DEFAULT_TITLE: &str = "Chromatica";
pub const DEFAULT_TAGLINE: &str = "Search images by color — entirely in your browser.";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The site's public address, ending in `/` (http or https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// `#RRGGBB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accent: Option<String>,
}

impl SiteInfo {
    /// The settings for a build of `images`: its `chromatica.toml` if there is one, then `flags`
    /// over it; checked and normalised.
    pub fn for_build(images: &Path, flags: SiteInfo) -> Result<Self> {
        let path = images.join(CONFIG_FILE);
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str::<SiteInfo>(&text).with_context(|| format!("{} is not valid", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => SiteInfo::default(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        SiteInfo {
            title: flags.title.or(file.title),
            description: flags.description.or(file.description),
            base_url: flags.base_url.or(file.base_url),
            accent: flags.accent.or(file.accent),
        }
        .checked()
    }

    /// Every value checked: text trimmed, without control characters and not too long, the
    /// address an absolute http(s) URL ending in `/`, the accent a color.
    pub fn checked(self) -> Result<Self> {
        let text = |value: Option<String>, what: &str, max: usize| -> Result<Option<String>> {
            let Some(value) = value else { return Ok(None) };
            let value = value.trim().to_string();
            if value.chars().any(char::is_control) {
                bail!("the {what} has control characters (line breaks, tabs): give it as one line of text");
            }
            if value.chars().count() > max {
                bail!("the {what} is {} characters long; at most {max} fit", value.chars().count());
            }
            Ok((!value.is_empty()).then_some(value))
        };
        let base_url = match self.base_url.map(|u| u.trim().to_string()).filter(|u| !u.is_empty()) {
            None => None,
            Some(url) => {
                let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
                let host = rest.and_then(|r| r.split('/').next()).unwrap_or("");
                // The address of a folder: no query, fragment or user name, nothing to escape.
                if host.is_empty()
                    || url.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>' | '\\' | '?' | '#' | '@'))
                {
                    bail!("the base URL {url:?} is not an http(s) address like https://example.org/gallery/");
                }
                Some(if url.ends_with('/') { url } else { format!("{url}/") })
            }
        };
        let accent = match self.accent.map(|a| a.trim().to_string()).filter(|a| !a.is_empty()) {
            None => None,
            Some(a) => Some(format!("#{}", to_hex(parse_hex(&a).with_context(|| format!("the accent {a:?} is not a color like #1f6f8f"))?))),
        };
        Ok(SiteInfo {
            title: text(self.title, "title", MAX_TITLE)?,
            description: text(self.description, "description", MAX_DESCRIPTION)?,
            base_url,
            accent,
        })
    }

    /// No setting given.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The title shown in the header and the browser tab.
    pub fn title(&self) -> &str {
        self.title.as_deref().unwrap_or(DEFAULT_TITLE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(title: &str, base: &str, accent: &str) -> Result<SiteInfo> {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        SiteInfo { title: some(title), description: None, base_url: some(base), accent: some(accent) }.checked()
    }

    #[test]
    fn values_are_checked_and_normalised() {
        let ok = info("  Harbour  ", "https://example.org/harbour", "1f6f8f").unwrap();
        assert_eq!(ok.title.as_deref(), Some("Harbour"));
        assert_eq!(ok.base_url.as_deref(), Some("https://example.org/harbour/"));
        assert_eq!(ok.accent.as_deref(), Some("#1F6F8F"));
        assert_eq!(info("", "", "").unwrap(), SiteInfo::default());
        assert!(info("a\nb", "", "").unwrap_err().to_string().contains("control characters"));
        assert!(info(&"x".repeat(121), "", "").unwrap_err().to_string().contains("121 characters"));
        for bad in [
            "javascript:alert(1)",
            "ftp://x/",
            "https://",
            "https://a b/",
            "//example.org/",
            "https://x/\"><script>",
            "https://x/?a=1",
            "https://x/#top",
            "https://me@x/",
        ] {
            assert!(info("", bad, "").is_err(), "{bad}");
        }
        assert!(format!("{:#}", info("", "", "teal").unwrap_err()).contains("not a color"));
    }

    #[test]
    fn the_file_is_read_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "title = \"From the file\"\naccent = \"#E4572E\"\n").unwrap();
        let flags = SiteInfo { description: Some("From a flag".into()), ..Default::default() };
        let got = SiteInfo::for_build(dir.path(), flags).unwrap();
        assert_eq!((got.title(), got.description.as_deref(), got.accent.as_deref()), ("From the file", Some("From a flag"), Some("#E4572E")));
        let flags = SiteInfo { title: Some("From a flag".into()), ..Default::default() };
        assert_eq!(SiteInfo::for_build(dir.path(), flags).unwrap().title(), "From a flag");
        std::fs::write(dir.path().join(CONFIG_FILE), "titel = \"typo\"\n").unwrap();
        let err = format!("{:#}", SiteInfo::for_build(dir.path(), SiteInfo::default()).unwrap_err());
        assert!(err.contains("titel"), "{err}");
    }
}
