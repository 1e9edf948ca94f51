//! The site's first screen, pre-rendered: `index.html` as the build writes it carries the page as
//! the app draws it for the default query (core's `page::DEFAULT_FRAGMENT`), results included, so a
//! visitor sees thumbnails (and can open them) while the wasm is still on its way. The results are
//! the engine's own answer to that query (the build searches its new index once), also embedded as
//! JSON for the app to start from: the app mounts showing exactly these, then its first search
//! replaces them with the same ranking.
//!
//! The markup mirrors the app's views (web/src/*.rs) element for element, so the page does not move
//! when the app takes over; the browser tests compare the two layouts box by box. The query panel
//! is `inert` until then (its controls would not react yet); the result links work at once.
//! `boot.js` drops the pre-render when the URL names another query.
//!
//! Everything that comes from the collection (file names) is escaped; the JSON is made safe to
//! sit inside a `<script>` element.

use crate::preview::{HEIGHT as PREVIEW_HEIGHT, PREVIEW_FILE, WIDTH as PREVIEW_WIDTH};
use crate::site_info::{SiteInfo, DEFAULT_TAGLINE};
use anyhow::Result;
use chromatica_core::filter::Facet;
use chromatica_core::page::{self, DAY_PATTERN, DEFAULT_AVOID, EAGER_THUMBS, PRESETS};
use chromatica_core::query::{UrlState, MAX_K};
use chromatica_core::search::{ResultItem, SearchResponse};
use std::fmt::Write as _;

/// What `public/index.html` holds where the build writes the pre-render and the description.
const APP_PLACEHOLDER: &str = r#"<div id="app" data-chromatica-app><p class="boot" role="status">Loading Chromatica…</p></div>"#;
const DESCRIPTION_PLACEHOLDER: &str = r#"<meta name="description" content="Search images by color — entirely in your browser.">"#;
const TITLE_PLACEHOLDER: &str = "<title>Chromatica — color search</title>";
/// Where the app's mount point starts (the build adds the site's title and tagline to it).
const APP_START: &str = r#"<div id="app" data-chromatica-app"#;
/// The page's footer, as the app draws it (app.rs).
const CREDIT: &str = "Color search by Chromatica: it runs entirely in your browser.";
/// The id of the JSON copy of the pre-rendered response (read by web/src/lib.rs).
pub const FIRST_RESPONSE_ID: &str = "chromatica-first";

/// The first screen of a site: the default query, its results, the collection's size, and the
/// site's identity (and whether the build made its preview image).
pub struct FirstScreen<'a> {
    pub state: &'a UrlState,
    pub response: &'a SearchResponse,
    pub images: usize,
    pub shards: usize,
    pub site: &'a SiteInfo,
    pub preview: bool,
}

/// `index.html` for a site: `template` (the app's `index.html`) with a description of the
/// collection and, when there are results, the pre-rendered first screen. A template without the
/// places for them (an older app, written on purpose) is left as it is.
pub fn index_html(template: &str, first: &FirstScreen) -> Result<String> {
    let site = first.site;
    let description = site.description.clone().unwrap_or_else(|| {
        format!(
            "Search {} image{} by color, by example image or “more like this” — entirely in your browser.",
            first.images,
            if first.images == 1 { "" } else { "s" }
        )
    });
    let mut head = format!(r#"<meta name="description" content="{}">"#, escape(&description));
    // Link previews (Open Graph, Twitter): their image and address must be absolute, so they need
    // the site's base URL.
    let title = site.title.clone().unwrap_or_else(|| "Chromatica — color search".into());
    let _ = write!(
        head,
        r#"<meta property="og:type" content="website"><meta property="og:title" content="{}"><meta property="og:description" content="{}">"#,
        escape(&title),
        escape(&description)
    );
    if let Some(base) = &site.base_url {
        let _ = write!(head, r#"<meta property="og:url" content="{0}"><link rel="canonical" href="{0}">"#, escape(base));
        if first.preview {
            let _ = write!(
                head,
                r#"<meta property="og:image" content="{}{PREVIEW_FILE}"><meta property="og:image:width" content="{PREVIEW_WIDTH}"><meta property="og:image:height" content="{PREVIEW_HEIGHT}"><meta name="twitter:card" content="summary_large_image">"#,
                escape(base)
            );
        }
    }
    if let Some(accent) = &site.accent {
        // A checked #RRGGBB (site_info.rs); escaped all the same.
        let accent = escape(accent);
        let _ = write!(head, r#"<meta name="theme-color" content="{accent}"><style>html:root{{--accent:{accent};--accent-2:{accent}}}</style>"#);
    }
    let html = template.replacen(DESCRIPTION_PLACEHOLDER, &head, 1).replacen(TITLE_PLACEHOLDER, &format!("<title>{}</title>", escape(&title)), 1);
    let html = html.replacen(APP_START, &format!("{APP_START}{}", identity_attributes(site)), 1);
    let placeholder = APP_PLACEHOLDER.replacen(APP_START, &format!("{APP_START}{}", identity_attributes(site)), 1);
    if first.response.results.is_empty() || !html.contains(&placeholder) {
        return Ok(html);
    }
    Ok(html.replacen(&placeholder, &app(first)?, 1))
}

/// The site's title and tagline for the app's header, as attributes of its mount point (read by
/// web/src/lib.rs); none for the defaults.
fn identity_attributes(site: &SiteInfo) -> String {
    let mut out = String::new();
    if let Some(title) = &site.title {
        let _ = write!(out, r#" data-title="{}""#, escape(title));
    }
    if let Some(tagline) = &site.description {
        let _ = write!(out, r#" data-tagline="{}""#, escape(tagline));
    }
    out
}

fn app(first: &FirstScreen) -> Result<String> {
    let json = serde_json::to_string(first.response)?;
    let mut out = String::new();
    let site = first.site;
    write!(
        out,
        r#"{APP_START}{} data-prerendered="{}"><div class="chromatica"><header class="topbar"><div class="brand"><span class="logo" aria-hidden="true"></span><h1>{}</h1></div><p class="tagline">{}</p></header><main class="layout">"#,
        identity_attributes(site),
        escape(&first.state.to_fragment()),
        escape(site.title()),
        escape(site.description.as_deref().unwrap_or(DEFAULT_TAGLINE)),
    )?;
    query_panel(&mut out, first.state);
    results_panel(&mut out, first);
    write!(
        out,
        r#"</main><footer class="credit">{CREDIT}</footer></div><script type="application/json" id="{FIRST_RESPONSE_ID}">{}</script></div>"#,
        script_safe(&json)
    )?;
    Ok(out)
}

/// The query panel as `QueryPanel` (query_panel.rs) draws it for `state`, inert.
fn query_panel(out: &mut String, state: &UrlState) {
    out.push_str(r#"<section class="panel query" aria-label="Color query" inert><h2>Colors</h2><ul class="rows">"#);
    let (hexes, weights) = state.query.as_ref().map(|q| (q.hex_colors(), q.weights().to_vec())).unwrap_or_default();
    let total: f64 = weights.iter().sum();
    let named = 1.0 - state.options.any;
    for (i, (hex, weight)) in hexes.iter().zip(&weights).enumerate() {
        let n = i + 1;
        let pct = if total > 0.0 { weight / total * 100.0 * named } else { 0.0 };
        let slider = (weight * 100.0).clamp(1.0, 100.0);
        let _ = write!(
            out,
            r##"<li class="row"><span class="grip" aria-hidden="true"></span><input type="color" value="#{lower}" aria-label="Color {n} picker"><input class="hex" type="text" value="{hex}" maxlength="7" aria-label="Color {n} hex code"><input class="weight" type="range" min="1" max="100" step="1" value="{slider}" aria-label="Color {n} weight"><output class="pct">{pct:.0}%</output><button class="icon remove" aria-label="Remove color {n}">×</button></li>"##,
            lower = hex.to_lowercase(),
        );
    }
    out.push_str(r#"</ul><p class="muted no-colors" hidden>No colors: the filter's images, in the index's order. Add a color to rank them by it.</p><div class="any-row"><label class="any-switch"><input type="checkbox"><span class="any-swatch" aria-hidden="true"></span>Any other color</label></div>"#);
    out.push_str(
        r#"<div class="actions"><button class="secondary">+ Add color</button><label class="k">Results <select aria-label="Number of results">"#,
    );
    for k in page::k_choices(state.options.k) {
        let _ = write!(out, r#"<option value="{k}"{}>{k}</option>"#, if k == state.options.k { " selected" } else { "" });
    }
    let _ = write!(
        out,
        r##"</select></label></div><div class="avoid" role="group" aria-label="Colors to avoid"><span class="avoid-label">Without</span><span class="avoid-add"><input type="color" value="{}" aria-label="A color to avoid"><button class="secondary">Avoid</button></span></div><div class="presets" role="group" aria-label="Preset palettes">"##,
        DEFAULT_AVOID.to_lowercase()
    );
    for (name, colors) in PRESETS {
        let _ = write!(out, r#"<button class="chip"><span class="chip-colors" aria-hidden="true">"#);
        for (hex, w) in *colors {
            let _ = write!(out, r#"<i style="background:#{hex};flex-grow:{w}"></i>"#);
        }
        let _ = write!(out, "</span>{name}</button>");
    }
    out.push_str(r#"<button class="chip"><svg class="die" viewBox="0 0 16 16" width="14" height="14" aria-hidden="true"><rect x="1.5" y="1.5" width="13" height="13" rx="3.5" fill="none" stroke="currentColor" stroke-width="1.5"></rect><circle cx="5.3" cy="5.3" r="1.3" fill="currentColor"></circle><circle cx="8" cy="8" r="1.3" fill="currentColor"></circle><circle cx="10.7" cy="10.7" r="1.3" fill="currentColor"></circle></svg>Random</button></div>"#);
    out.push_str(r#"<canvas class="viz" width="720" height="260" aria-hidden="true"></canvas><div class="export" role="group" aria-label="Take this palette away"><span class="export-label">Palette</span><button class="chip">Hex</button><button class="chip">CSS</button><button class="chip">JSON</button><button class="chip">.ase</button><span class="export-status"></span></div><div class="drop"><label class="file"><input type="file" accept="image/*" aria-label="Search by an example image"><span>Search by example image</span></label><span class="hint"> or drop one here — it never leaves your browser</span></div></section>"#);
}

/// The results panel as `ResultsPanel` (results.rs) draws `first.response`.
fn results_panel(out: &mut String, first: &FirstScreen) {
    let _ = write!(
        out,
        r#"<section class="panel results-panel" aria-label="Results"><div class="meta"><span class="status" role="status">Loading the search engine…</span><span class="source"></span><span class="timings"></span><span class="index-info">{} images · {} shard{}</span></div>{filters}<div class="collage-bar" inert><button class="secondary">Collage</button><span class="muted"></span></div><ol class="grid" data-testid="prerendered-results">"#,
        first.images,
        first.shards,
        if first.shards == 1 { "" } else { "s" },
        filters = filter_bar(first),
    );
    for (i, item) in first.response.results.iter().enumerate() {
        card(out, item, i);
    }
    out.push_str("</ol>");
    let k = first.state.options.k;
    if first.response.results.len() >= k && k < MAX_K {
        out.push_str(r#"<div class="more" inert><button class="secondary">Show more</button></div>"#);
    }
    out.push_str("</section>");
}

/// The filter bar as `FilterBar` (filters.rs) draws it for `first`, inert.
fn filter_bar(first: &FirstScreen) -> String {
    let filter = &first.state.options.filter;
    let mut out = format!(
        r#"<div class="filters" role="search" aria-label="Filter images" inert><input type="search" class="filter-text" placeholder="Filter by words: titles, tags, folders…" aria-label="Filter by words" value="{}"><select class="filter-shape" aria-label="Shape"><option value="">Any shape</option><option value="landscape">Landscape</option><option value="portrait">Portrait</option><option value="square">Square</option></select><label class="filter-date">From <input type="text" class="filter-day" placeholder="YYYY-MM-DD" pattern="{pattern}" maxlength="10" aria-label="From date: a year, a month (YYYY-MM) or a day" value="{from}"></label><label class="filter-date">To <input type="text" class="filter-day" placeholder="YYYY-MM-DD" pattern="{pattern}" maxlength="10" aria-label="To date: a year, a month (YYYY-MM) or a day" value="{to}"></label><span class="matching"></span></div>"#,
        escape(&filter.text),
        from = escape(&filter.from),
        to = escape(&filter.to),
        pattern = escape(DAY_PATTERN),
    );
    let chips = page::chips(&first.response.facets, filter);
    let _ = write!(out, r#"<div class="facets" role="group" aria-label="Folders and tags" inert{}>"#, if chips.is_empty() { " hidden" } else { "" });
    for chip in chips {
        let (mark, title) = match &chip.facet {
            Facet::Folder(f) => ("▸ ", format!("Folder {}", f.trim_end_matches('/'))),
            Facet::Tag(_) => ("#", format!("Tag {}", chip.label)),
        };
        let count = chip.count.map(|n| format!(r#"<span class="count">{n}</span>"#)).unwrap_or_default();
        let _ = write!(
            out,
            r#"<button class="chip facet" aria-pressed="{}" title="{}">{mark}{}{count}</button>"#,
            chip.pressed,
            escape(&title),
            escape(&chip.label)
        );
    }
    out.push_str("</div>");
    out
}

/// One result as `ResultCard` (results.rs) draws it; the `i`th on the page.
fn card(out: &mut String, item: &ResultItem, i: usize) {
    let path = escape(&item.path);
    let loading = if i < EAGER_THUMBS {
        if i == 0 {
            r#" fetchpriority="high""#
        } else {
            ""
        }
    } else {
        r#" loading="lazy""#
    };
    // The page the collection links the image to (checked safe by the index), else its original.
    let href = escape(if item.url.is_empty() { &item.original } else { &item.url });
    let alt = if item.title.is_empty() { path.clone() } else { escape(&item.title) };
    let title = if item.title.is_empty() { String::new() } else { format!(r#"<div class="card-title">{}</div>"#, escape(&item.title)) };
    let _ = write!(
        out,
        r#"<li class="card"><a class="thumb" href="{href}" target="_blank" rel="noopener" title="{path}"><img src="{thumb}" alt="{alt}"{loading} decoding="async" width="256" height="256"></a><div class="card-body"><div class="card-line"><span class="rank">#{rank}</span><span class="distance" title="Sinkhorn earth mover's distance in CIE Lab units">ΔE {distance:.1}</span></div>{title}<div class="path">{path}</div><div class="swatches" aria-hidden="true">"#,
        thumb = escape(&item.thumb),
        rank = item.rank,
        distance = item.distance,
    );
    for (hex, share) in &item.palette {
        let _ = write!(out, r#"<span class="swatch" style="background:#{};flex-grow:{share:.3}"></span>"#, escape(hex));
    }
    out.push_str(r#"</div><button class="link" inert>More like this</button></div></li>"#);
}

/// Text for HTML text and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// JSON that cannot end its `<script>` element or open a comment: `<`, `>` and `&` as escapes
/// (JSON strings allow `\u003c`; outside strings JSON has none of them).
fn script_safe(json: &str) -> String {
    json.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chromatica_core::search::{Metadata, QueryEcho};

    fn response(path: &str) -> SearchResponse {
        SearchResponse {
            query: QueryEcho { colors: vec!["E4572E".into()], weights: vec![1.0], mode: "colors".into(), similar_to: None },
            results_count: 1,
            results: vec![ResultItem {
                id: 0,
                path: path.into(),
                thumb: "thumbs/ab/ab.jpg".into(),
                original: "originals/ab/ab.jpg".into(),
                distance: 12.34,
                rank: 1,
                palette: vec![("E4572E".into(), 1.0)],
                width: 64,
                height: 48,
                ..Default::default()
            }],
            warnings: vec![],
            facets: vec![],
            metadata: Metadata {
                query_time_ms: 0.0,
                ann_time_ms: 0.0,
                rerank_time_ms: 0.0,
                total_time_ms: 0.0,
                index_size: 1,
                candidates: 1,
                matching: None,
                memory_bytes: None,
            },
        }
    }

    fn template() -> String {
        format!(
            "<html><head>{TITLE_PLACEHOLDER}{DESCRIPTION_PLACEHOLDER}</head><body>{APP_PLACEHOLDER}<script src=\"boot.js\"></script></body></html>"
        )
    }

    #[test]
    fn hostile_file_names_stay_text() {
        let state = chromatica_core::page::default_state().unwrap();
        let r = response("<img src=x onerror=alert(1)>\"'&</script><!--.jpg");
        let html =
            index_html(&template(), &FirstScreen { state: &state, response: &r, images: 1, shards: 1, site: &SiteInfo::default(), preview: false })
                .unwrap();
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(!html.contains("</script><!--"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;&lt;/script&gt;&lt;!--.jpg"));
        // A collection's hostile title and link, likewise.
        let mut r2 = response("a.jpg");
        r2.results[0].title = "<b onmouseover=x>t</b>".into();
        r2.results[0].url = "photos/a\"><script>.html".into();
        let html2 =
            index_html(&template(), &FirstScreen { state: &state, response: &r2, images: 1, shards: 1, site: &SiteInfo::default(), preview: false })
                .unwrap();
        assert!(html2.contains(r#"<div class="card-title">&lt;b onmouseover=x&gt;t&lt;/b&gt;</div>"#), "{html2}");
        assert!(html2.contains(r#"href="photos/a&quot;&gt;&lt;script&gt;.html""#), "{html2}");
        // The JSON copy still decodes to the same response.
        let start = html.find(&format!(r#"id="{FIRST_RESPONSE_ID}">"#)).unwrap() + FIRST_RESPONSE_ID.len() + 6;
        let end = start + html[start..].find("</script>").unwrap();
        assert_eq!(serde_json::from_str::<SearchResponse>(&html[start..end]).unwrap(), r);
        assert!(html.contains(r#"content="Search 1 image by color"#));
    }

    #[test]
    fn the_site_identity_goes_into_the_page() {
        let state = chromatica_core::page::default_state().unwrap();
        let r = response("a.jpg");
        let site = SiteInfo {
            title: Some("Harbour <photos> & \"co\"".into()),
            description: Some("Boats, by color".into()),
            base_url: Some("https://example.org/h/".into()),
            accent: Some("#1F6F8F".into()),
        };
        let html = index_html(&template(), &FirstScreen { state: &state, response: &r, images: 1, shards: 1, site: &site, preview: true }).unwrap();
        let escaped = "Harbour &lt;photos&gt; &amp; &quot;co&quot;";
        assert!(html.contains(&format!("<title>{escaped}</title>")), "{html}");
        assert!(html.contains(&format!(r#"<meta property="og:title" content="{escaped}">"#)));
        assert!(html.contains(r#"<meta name="description" content="Boats, by color">"#));
        assert!(html.contains(r#"<meta property="og:image" content="https://example.org/h/preview.jpg">"#));
        assert!(html.contains(r#"<meta name="twitter:card" content="summary_large_image">"#));
        assert!(html.contains(r#"<link rel="canonical" href="https://example.org/h/">"#));
        assert!(html.contains("html:root{--accent:#1F6F8F;--accent-2:#1F6F8F}"), "the accent wins over style.css's :root");
        assert!(html.contains(&format!(r#"<h1>{escaped}</h1>"#)) && html.contains(&format!(r#"data-title="{escaped}""#)));
        // Without a base URL there is no (relative, hence invalid) preview address.
        let local = SiteInfo { base_url: None, ..site };
        let html = index_html(&template(), &FirstScreen { state: &state, response: &r, images: 1, shards: 1, site: &local, preview: true }).unwrap();
        assert!(!html.contains("og:image") && !html.contains("canonical"));
    }

    #[test]
    fn no_results_keep_the_loading_page() {
        let state = chromatica_core::page::default_state().unwrap();
        let mut r = response("a.jpg");
        r.results.clear();
        let html =
            index_html(&template(), &FirstScreen { state: &state, response: &r, images: 0, shards: 1, site: &SiteInfo::default(), preview: false })
                .unwrap();
        assert!(html.contains(APP_PLACEHOLDER));
        let other = "<html><body><p>an older page</p></body></html>";
        assert_eq!(
            index_html(
                other,
                &FirstScreen { state: &state, response: &response("a.jpg"), images: 1, shards: 1, site: &SiteInfo::default(), preview: false }
            )
            .unwrap(),
            other
        );
    }

    #[test]
    fn the_embedded_template_has_both_places() {
        if let Some((_, bytes)) = crate::site::APP_FILES.iter().find(|(name, _)| *name == "index.html") {
            let text = std::str::from_utf8(bytes).unwrap();
            assert!(text.contains(APP_PLACEHOLDER) && text.contains(DESCRIPTION_PLACEHOLDER) && text.contains(TITLE_PLACEHOLDER));
        }
    }
}
