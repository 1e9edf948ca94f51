//! What an image file says about itself: the XMP packet's title (`dc:title`), description
//! (`dc:description`), keywords (`dc:subject`) and date, as Lightroom, digiKam and most cameras'
//! software write them into the file, and EXIF's date and camera (kamadak-exif, which reads JPEG,
//! TIFF, HEIF/AVIF, PNG and WebP). The date is the first of `photoshop:DateCreated`, EXIF
//! DateTimeOriginal, `xmp:CreateDate` (when it was digitised: a scan's), EXIF DateTimeDigitized
//! and DateTime. A sidecar (`--metadata`) wins over all of them, field by field. (`.xmp` sidecar
//! files beside the images, darktable's default, are not read.) Any change to what `read` returns
//! needs a new cache version (cache.rs).
//!
//! The XMP packet is found by scanning the file for it, as the XMP specification allows for any
//! container (JPEG APP1, PNG iTXt, TIFF, WebP, HEIF), and parsed with `roxmltree`. IPTC-IIM
//! (Photoshop's older APP13 block) is not read: the same fields are in XMP wherever current
//! software writes IIM. Everything here is untrusted text and is cut to the index's limits.

use chromatica_core::bundle::{MAX_CAPTION, MAX_TAG, MAX_TAGS, MAX_TITLE};
use chromatica_core::filter::valid_date;
use serde::{Deserialize, Serialize};

/// The largest XMP packet read (bytes), and the most XML nodes parsed of it: a hostile packet
/// costs at most a few MB of a build job's memory.
const MAX_PACKET: usize = 1 << 20;
const MAX_NODES: u32 = 50_000;
const DC: &str = "http://purl.org/dc/elements/1.1/";
const RDF: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
const XML: &str = "http://www.w3.org/XML/1998/namespace";
const PHOTOSHOP: &str = "http://ns.adobe.com/photoshop/1.0/";
const XMP: &str = "http://ns.adobe.com/xap/1.0/";

/// An image's own metadata (empty fields: none).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Embedded {
    pub title: String,
    pub caption: String,
    pub tags: Vec<String>,
    /// `YYYY[-MM[-DD]]` (see the module's header for which).
    pub date: String,
    /// EXIF's camera: its make and model.
    pub camera: String,
}

/// The metadata `bytes` (a whole image file) carry.
pub fn read(bytes: &[u8]) -> Embedded {
    let (mut out, digitised) = packet(bytes).map(parse).unwrap_or_default();
    let mut dates = vec![std::mem::take(&mut out.date)];
    let exif = exif::Reader::new().read_from_container(&mut std::io::Cursor::new(bytes)).ok();
    let text = |tag| match exif.as_ref().and_then(|e| e.get_field(tag, exif::In::PRIMARY)).map(|f| &f.value) {
        Some(exif::Value::Ascii(values)) => values.first().map(|v| cut(&String::from_utf8_lossy(v), MAX_TAG)).unwrap_or_default(),
        _ => String::new(),
    };
    dates.extend([text(exif::Tag::DateTimeOriginal), digitised, text(exif::Tag::DateTimeDigitized), text(exif::Tag::DateTime)]);
    out.date = dates.into_iter().map(|d| d.trim().get(..10).unwrap_or(d.trim()).replace(':', "-")).find(|d| valid_date(d)).unwrap_or_default();
    let (make, model) = (text(exif::Tag::Make), text(exif::Tag::Model));
    // Models usually repeat the make ("Canon" + "Canon EOS R5").
    out.camera = if model.to_lowercase().starts_with(&make.to_lowercase()) { model } else { format!("{make} {model}").trim().to_string() };
    out
}

/// The XMP packet's text: from `<x:xmpmeta` (or `<rdf:RDF`) to its end tag.
fn packet(bytes: &[u8]) -> Option<&str> {
    for (open, close) in [(&b"<x:xmpmeta"[..], &b"</x:xmpmeta>"[..]), (b"<rdf:RDF", b"</rdf:RDF>")] {
        if let Some(start) = memchr::memmem::find(bytes, open) {
            let rest = &bytes[start..bytes.len().min(start + MAX_PACKET)];
            let end = memchr::memmem::find(rest, close)? + close.len();
            return std::str::from_utf8(&rest[..end]).ok();
        }
    }
    None
}

/// The packet's fields (its `date` is `photoshop:DateCreated`), and `xmp:CreateDate`.
fn parse(xml: &str) -> (Embedded, String) {
    let options = roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: MAX_NODES, ..Default::default() };
    let Ok(doc) = roxmltree::Document::parse_with_options(xml, options) else { return Default::default() };
    let element =
        |ns: &str, name: &str| doc.descendants().find(|n| n.is_element() && n.tag_name().namespace() == Some(ns) && n.tag_name().name() == name);
    // A property as an attribute of an rdf:Description, or as an element's text.
    let simple = |ns: &str, name: &str| {
        doc.descendants()
            .filter(|n| n.is_element())
            .find_map(|n| n.attribute((ns, name)))
            .map(str::to_string)
            .or_else(|| element(ns, name).and_then(|n| n.text()).map(str::to_string))
            .unwrap_or_default()
    };
    let items = |ns: &str, name: &str| -> Vec<roxmltree::Node<'_, '_>> {
        element(ns, name)
            .map(|n| n.descendants().filter(|li| li.is_element() && li.tag_name().namespace() == Some(RDF) && li.tag_name().name() == "li").collect())
            .unwrap_or_default()
    };
    // A language alternative: the default language's, else the first.
    let alt = |ns: &str, name: &str| {
        let lis = items(ns, name);
        let pick = lis.iter().find(|li| li.attribute((XML, "lang")) == Some("x-default")).or(lis.first());
        pick.and_then(|li| li.text()).map(|t| cut(t, MAX_TITLE.max(MAX_CAPTION))).unwrap_or_default()
    };
    let mut tags: Vec<String> = Vec::new();
    for li in items(DC, "subject") {
        let tag = cut(li.text().unwrap_or(""), MAX_TAG);
        if !tag.is_empty() && !tags.contains(&tag) && tags.len() < MAX_TAGS {
            tags.push(tag);
        }
    }
    let fields = Embedded {
        title: cut(&alt(DC, "title"), MAX_TITLE),
        caption: cut(&alt(DC, "description"), MAX_CAPTION),
        tags,
        date: cut(&simple(PHOTOSHOP, "DateCreated"), 64),
        camera: String::new(),
    };
    (fields, cut(&simple(XMP, "CreateDate"), 64))
}

/// Untrusted text as the index keeps it: controls as spaces, trimmed, cut to `max` bytes at a
/// character boundary; and whether it was cut. (The sidecar's reader warns when it was.)
pub fn clean(text: &str, max: usize) -> (String, bool) {
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let clean = clean.trim();
    let mut end = clean.len().min(max);
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    (clean[..end].to_string(), end < clean.len())
}

/// [`clean`], without the space a cut may leave at the end.
fn cut(text: &str, max: usize) -> String {
    clean(text, max).0.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKET: &str = r#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" photoshop:DateCreated="2023-07-14T10:02:00">
<dc:title><rdf:Alt><rdf:li xml:lang="de">Wasserfall</rdf:li><rdf:li xml:lang="x-default">Skógafoss &amp; rainbow</rdf:li></rdf:Alt></dc:title>
<dc:description><rdf:Alt><rdf:li xml:lang="x-default">&lt;b&gt;Falls&lt;/b&gt; in June</rdf:li></rdf:Alt></dc:description>
<dc:subject><rdf:Bag><rdf:li>waterfall</rdf:li><rdf:li>Iceland</rdf:li><rdf:li>waterfall</rdf:li></rdf:Bag></dc:subject>
</rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"#;

    #[test]
    fn reads_title_caption_keywords_and_date_from_a_packet_anywhere() {
        let mut file = b"\xFF\xD8\xFF\xE1\x00\x10http://ns.adobe.com/xap/1.0/\0".to_vec();
        file.extend_from_slice(PACKET.as_bytes());
        file.extend_from_slice(&[0xFF, 0xD9]);
        let e = read(&file);
        assert_eq!(e.title, "Skógafoss & rainbow");
        assert_eq!(e.caption, "<b>Falls</b> in June", "text, never markup");
        assert_eq!(e.tags, ["waterfall", "Iceland"]);
        assert_eq!(e.date, "2023-07-14");
    }

    #[test]
    fn damaged_or_hostile_packets_give_nothing_or_are_cut() {
        assert_eq!(read(b"no metadata here"), Embedded::default());
        assert_eq!(read(b"<x:xmpmeta><rdf:RDF><unclosed"), Embedded::default());
        assert_eq!(read(&PACKET.as_bytes()[..PACKET.len() / 2]), Embedded::default());
        let long = PACKET.replace("Skógafoss &amp; rainbow", &"é".repeat(MAX_TITLE));
        let e = read(long.as_bytes());
        assert!(e.title.len() <= MAX_TITLE && e.title.chars().all(|c| c == 'é'));
        // A DTD (an entity bomb's way in) is refused by the parser, not expanded.
        let bomb =
            PACKET.replacen("<x:xmpmeta", r#"<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><x:xmpmeta"#, 1);
        let bomb = &bomb[bomb.find("<!DOCTYPE").unwrap()..];
        assert_eq!(parse(bomb).0, Embedded::default());
        assert_eq!(parse(&PACKET[PACKET.find("<x:xmpmeta").unwrap()..PACKET.find("<?xpacket end").unwrap()]).0.title, "Skógafoss & rainbow");
        // Too many nodes: nothing, rather than memory.
        let many = format!(r#"<x:xmpmeta xmlns:x="adobe:ns:meta/">{}</x:xmpmeta>"#, "<a/>".repeat(MAX_NODES as usize + 1));
        assert!(roxmltree::Document::parse_with_options(
            &many,
            roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: MAX_NODES, ..Default::default() }
        )
        .is_err());
    }
}
