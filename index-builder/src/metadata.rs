//! What a collection says about its images: a sidecar file given with `chromatica build --metadata
//! FILE`, keyed by each image's path relative to the images folder. Either CSV with a header row
//! (`.csv`) or JSON Lines (`.jsonl`, `.ndjson`: one object a line):
//!
//! ```text
//! path,title,caption,url,tags
//! 2023/iceland/falls.jpg,Skógafoss,"Photo: A. N. Other, CC-BY 4.0",https://example.org/falls,waterfall; iceland
//! ```
//! ```text
//! {"path": "2023/iceland/falls.jpg", "title": "Skógafoss", "tags": ["waterfall", "iceland"]}
//! ```
//! Columns/keys: `path` (required), `title`, `caption` (or `alt`), `url` (the page a result opens:
//! http(s) or site-relative), `tags` (a list, or text separated by `;`), `date` (`YYYY`, `YYYY-MM`
//! or `YYYY-MM-DD`; a time after it, or EXIF's `YYYY:MM:DD`, is accepted and cut; it wins over the
//! EXIF date taken). Any other column or key is kept as an extra field: shown in the detail view,
//! and its words are searchable (up to 16 per image). The file is untrusted text: nothing in it is ever HTML. Nothing in it stops a build:
//! a malformed line is skipped and reported by its number, a path that is not among the images is
//! reported, a `javascript:`/`data:` or other unsafe link is dropped, over-long text is cut, each
//! with a warning.

use anyhow::{bail, Context, Result};
use chromatica_core::bundle::{safe_url, ImageText, MAX_CAPTION, MAX_EXTRA, MAX_FIELD_NAME, MAX_TAG, MAX_TAGS, MAX_TITLE, MAX_URL};
use chromatica_core::filter::valid_date;
use std::collections::HashMap;
use std::path::Path;

/// At most this many warnings are kept (a broken file would otherwise print one per line).
const MAX_WARNINGS: usize = 50;
/// The fields with a meaning of their own; any other is an extra field.
const KNOWN: [&str; 7] = ["path", "title", "caption", "alt", "url", "tags", "date"];

/// One line of a sidecar, as read.
#[derive(Default)]
struct Fields {
    path: String,
    title: String,
    caption: String,
    url: String,
    tags: Vec<String>,
    date: String,
    extra: Vec<(String, String)>,
}

/// A sidecar read: the text of each image by path, and what was wrong with the file.
#[derive(Default)]
pub struct Sidecar {
    pub by_path: HashMap<String, ImageText>,
    pub warnings: Vec<String>,
    dropped_warnings: usize,
}

impl Sidecar {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the metadata file {}", path.display()))?;
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        let mut sidecar = Sidecar::default();
        match ext.as_str() {
            "csv" => sidecar.read_csv(&text),
            "jsonl" | "ndjson" => sidecar.read_jsonl(&text),
            _ => bail!("the metadata file {} must be .csv (with a header row) or .jsonl (JSON Lines)", path.display()),
        }
        Ok(sidecar)
    }

    fn warn(&mut self, message: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(message);
        } else {
            self.dropped_warnings += 1;
        }
    }

    fn read_csv(&mut self, text: &str) {
        let mut reader = csv::ReaderBuilder::new().flexible(false).trim(csv::Trim::All).from_reader(text.as_bytes());
        let headers: Vec<String> = match reader.headers() {
            Ok(h) => h.iter().map(|s| s.trim().to_ascii_lowercase()).collect(),
            Err(e) => return self.warn(format!("metadata: cannot read the header row: {e}")),
        };
        if !headers.iter().any(|h| h == "path") {
            return self.warn("metadata: the header row has no `path` column; nothing was read".into());
        }
        for record in reader.records() {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(0);
                    self.warn(format!("metadata line {line}: skipped ({e})"));
                    continue;
                }
            };
            let line = record.position().map(|p| p.line()).unwrap_or(0);
            let field = |name: &str| headers.iter().position(|h| h == name).and_then(|i| record.get(i)).unwrap_or("").to_string();
            let caption = if headers.iter().any(|h| h == "caption") { field("caption") } else { field("alt") };
            let tags = field("tags").split(';').map(str::to_string).collect();
            let extra = headers.iter().filter(|h| !KNOWN.contains(&h.as_str())).map(|h| (h.clone(), field(h))).collect();
            let fields = Fields { path: field("path"), title: field("title"), caption, url: field("url"), tags, date: field("date"), extra };
            self.add(line, fields);
        }
    }

    fn read_jsonl(&mut self, text: &str) {
        for (i, line) in text.lines().enumerate() {
            let n = i as u64 + 1;
            if line.trim().is_empty() {
                continue;
            }
            let object = match serde_json::from_str::<serde_json::Value>(line) {
                Ok(serde_json::Value::Object(o)) => o,
                Ok(_) => {
                    self.warn(format!("metadata line {n}: skipped (not a JSON object)"));
                    continue;
                }
                Err(e) => {
                    self.warn(format!("metadata line {n}: skipped ({e})"));
                    continue;
                }
            };
            let text_of = |key: &str| match object.get(key) {
                Some(serde_json::Value::String(s)) => s.trim().to_string(),
                Some(serde_json::Value::Number(x)) => x.to_string(),
                _ => String::new(),
            };
            let caption = if object.contains_key("caption") { text_of("caption") } else { text_of("alt") };
            let tags = match object.get("tags") {
                Some(serde_json::Value::Array(items)) => items.iter().filter_map(|t| t.as_str().map(str::to_string)).collect(),
                Some(serde_json::Value::String(s)) => s.split(';').map(str::to_string).collect(),
                _ => Vec::new(),
            };
            let extra = object.keys().filter(|k| !KNOWN.contains(&k.as_str())).map(|k| (k.clone(), text_of(k))).collect();
            let fields = Fields { path: text_of("path"), title: text_of("title"), caption, url: text_of("url"), tags, date: text_of("date"), extra };
            self.add(n, fields);
        }
    }

    fn add(&mut self, line: u64, fields: Fields) {
        let Fields { path, title, caption, url, tags, date, extra } = fields;
        let path = path.trim().trim_start_matches("./").replace('\\', "/");
        if path.is_empty() {
            return self.warn(format!("metadata line {line}: skipped (no path)"));
        }
        let title = self.cut(line, "title", title, MAX_TITLE);
        let caption = self.cut(line, "caption", caption, MAX_CAPTION);
        let url = url.trim().to_string();
        let url = if url.is_empty() || (url.len() <= MAX_URL && safe_url(&url)) {
            url
        } else {
            self.warn(format!("metadata line {line}: the url of {path:?} was dropped (only http(s) and site-relative links, up to {MAX_URL} bytes)"));
            String::new()
        };
        let mut kept = Vec::new();
        for tag in tags.into_iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()) {
            if kept.len() == MAX_TAGS {
                self.warn(format!("metadata line {line}: {path:?} has more than {MAX_TAGS} tags; the rest were dropped"));
                break;
            }
            let tag = self.cut(line, "tag", tag, MAX_TAG);
            if !kept.contains(&tag) {
                kept.push(tag);
            }
        }
        let date = date.trim();
        let day = date.get(..10).unwrap_or(date).replace(':', "-");
        let date = if date.is_empty() || valid_date(&day) {
            day
        } else {
            self.warn(format!(
                "metadata line {line}: the date {:?} of {path:?} was dropped (use YYYY, YYYY-MM or YYYY-MM-DD)",
                date.chars().take(40).collect::<String>()
            ));
            String::new()
        };
        let mut fields = Vec::new();
        for (name, value) in extra.into_iter().filter(|(_, v)| !v.trim().is_empty()) {
            if fields.len() == MAX_EXTRA || name.len() > MAX_FIELD_NAME {
                self.warn(format!("metadata line {line}: the field {:?} of {path:?} was dropped (at most {MAX_EXTRA} other fields, names up to {MAX_FIELD_NAME} bytes)", name.chars().take(40).collect::<String>()));
                continue;
            }
            let value = self.cut(line, &name, value, MAX_CAPTION);
            fields.push((name, value));
        }
        let text = ImageText { title, caption, url, tags: kept, date, extra: fields };
        if self.by_path.insert(path.clone(), text).is_some() {
            self.warn(format!("metadata line {line}: {path:?} appears again; this line wins"));
        }
    }

    /// `value` cut to `max` bytes (at a character boundary), with a warning when it was longer.
    fn cut(&mut self, line: u64, what: &str, value: String, max: usize) -> String {
        let (value, cut) = index_builder::embedded::clean(&value, max);
        if cut {
            self.warn(format!("metadata line {line}: a {what} longer than {max} bytes was cut"));
        }
        value
    }

    /// The texts of `paths` in order (empty for images the file does not name), reporting the
    /// file's paths that are not among them; then every warning, the dropped ones counted.
    pub fn texts_for(mut self, paths: &[&str]) -> (Vec<ImageText>, Vec<String>) {
        let texts = paths.iter().map(|p| self.by_path.remove(*p).unwrap_or_default()).collect();
        let mut unknown: Vec<String> = self.by_path.into_keys().collect();
        unknown.sort();
        let mut warnings = self.warnings;
        if !unknown.is_empty() {
            let shown: Vec<&str> = unknown.iter().take(5).map(String::as_str).collect();
            warnings.push(format!(
                "metadata: {} path(s) are not among the images ({}{})",
                unknown.len(),
                shown.join(", "),
                if unknown.len() > 5 { ", …" } else { "" }
            ));
        }
        if self.dropped_warnings > 0 {
            warnings.push(format!("metadata: {} more warnings not shown", self.dropped_warnings));
        }
        (texts, warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str, text: &str) -> Sidecar {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        Sidecar::read(&path).unwrap()
    }

    #[test]
    fn csv_with_bad_lines_links_and_lengths() {
        let long = "x".repeat(MAX_TITLE + 10);
        let csv = format!(
            "path,title,alt,url,tags,credit,date\n\
             a.jpg,  Harbour ,\"Boats, at dawn\",https://example.org/a,boats; sea ;boats,me,2023:07:14 10:00:00\n\
             b.jpg,<script>alert(1)</script>,,javascript:alert(1),,,July\n\
             c.jpg,only two\n\
             d.jpg,{long},,/gallery/d.html,,,2021\n"
        );
        let s = read("m.csv", &csv);
        let (texts, warnings) = s.texts_for(&["a.jpg", "b.jpg", "d.jpg", "e.jpg"]);
        assert_eq!(
            texts[0],
            ImageText {
                title: "Harbour".into(),
                caption: "Boats, at dawn".into(),
                url: "https://example.org/a".into(),
                tags: vec!["boats".into(), "sea".into()],
                date: "2023-07-14".into(),
                extra: vec![("credit".into(), "me".into())],
            }
        );
        assert_eq!(texts[1].title, "<script>alert(1)</script>", "kept as text; the page never parses it");
        assert_eq!(texts[1].url, "", "the javascript: link is dropped");
        assert_eq!(texts[2].title.len(), MAX_TITLE);
        assert_eq!((texts[1].date.as_str(), texts[2].date.as_str()), ("", "2021"));
        assert_eq!(texts[3], ImageText::default());
        let all = warnings.join("\n");
        assert!(all.contains("the date \"July\" of \"b.jpg\" was dropped"), "{all}");
        assert!(all.contains("url of \"b.jpg\" was dropped"), "{all}");
        assert!(all.contains("longer than"), "{all}");
        assert!(all.contains("metadata line 4: skipped"), "{all}");
    }

    #[test]
    fn json_lines_with_bad_lines_and_unknown_paths() {
        let s = read(
            "m.jsonl",
            "{\"path\": \"./x/a.jpg\", \"title\": \"A\", \"tags\": [\"t1\", \"t2\"], \"url\": \"data:text/html,hi\"}\n\
             not json\n\
             [1, 2]\n\
             \n\
             {\"path\": \"gone.jpg\", \"title\": \"Gone\"}\n",
        );
        let (texts, warnings) = s.texts_for(&["x/a.jpg"]);
        assert_eq!((texts[0].title.as_str(), texts[0].tags.len(), texts[0].url.as_str()), ("A", 2, ""));
        let all = warnings.join("\n");
        assert!(all.contains("line 2: skipped") && all.contains("line 3: skipped (not a JSON object)"), "{all}");
        assert!(all.contains("1 path(s) are not among the images (gone.jpg)"), "{all}");
        assert!(all.contains("url of \"x/a.jpg\" was dropped"), "{all}");
    }

    #[test]
    fn other_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m.xlsx"), "x").unwrap();
        assert!(Sidecar::read(&dir.path().join("m.xlsx")).is_err());
        assert!(Sidecar::read(&dir.path().join("missing.csv")).is_err());
    }
}
