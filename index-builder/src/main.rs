//! `chromatica`: build a static color-search site from a folder of images, search it, serve it.

mod cache;
mod eval;
mod merge;
mod metadata;
mod precompress;
mod prerender;
mod preview;
mod serve;
mod site;
mod site_build;
mod site_index;
mod site_info;
mod synth;
mod terminal;

use anyhow::{bail, Context, Result};
use chromatica_core::bundle;
use chromatica_core::histogram::Histogram;
use chromatica_core::query::{parse_k, parse_rerank_k, Query, SearchOptions};
use chromatica_core::search::{SearchRequest, Source, DEFAULT_RERANK_K};
use chromatica_core::BackgroundMode;
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(name = "chromatica", version = concat!(env!("CARGO_PKG_VERSION"), " (web app ", env!("CHROMATICA_APP_FINGERPRINT"), ")"), about = "Color-based image search that runs entirely in the browser.")]
#[command(after_help = "Examples:
  chromatica build ~/Pictures/trip --out trip-site
  chromatica serve trip-site            # open the printed URL
  chromatica search trip-site --colors FF0000,00FF00 --weights 0.7,0.3 -k 10
  chromatica info trip-site")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Index a folder of images (recursive) into a static search site.
    #[command(
        after_help = "Re-running on the same --out only decodes new or changed images; the previous site stays intact until the new one is complete."
    )]
    Build {
        /// Folder with images (jpeg, png, webp, gif, bmp, tiff; heic/heif and avif where built with
        /// libheif), searched recursively.
        images: PathBuf,
        /// Output folder for the site: new, empty, or a site built before (only the files an earlier
        /// build wrote are replaced; everything else in it is kept).
        #[arg(long)]
        out: PathBuf,
        /// Parallel decoding jobs (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Longest side of thumbnails, in pixels.
        #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(32..=1024))]
        thumb_size: u32,
        /// Do not copy the original images into the site (results then link to thumbnails).
        #[arg(long)]
        no_originals: bool,
        /// Print a JSON summary on stdout instead of text.
        #[arg(long)]
        json: bool,
        /// Write into a non-empty folder that is not a Chromatica site: the site's files are added
        /// beside what is there; nothing there is removed or overwritten.
        #[arg(long)]
        force: bool,
        /// Also index images that symlinks lead to outside the images folder.
        #[arg(long)]
        follow_symlinks: bool,
        /// Memory, in MB, that reading and decoding images may use at once over all jobs; larger
        /// images are skipped with a reason.
        #[arg(long, default_value_t = 768, value_parser = clap::value_parser!(u64).range(64..=1_000_000))]
        max_memory: u64,
        /// Candidates each search reranks with Sinkhorn (the site's default; queries may ask for
        /// fewer, or for more with `chromatica search`). Larger: better recall, slower searches.
        #[arg(long, default_value_t = DEFAULT_RERANK_K, value_parser = parse_rerank_k)]
        rerank_k: usize,
        /// Plain backgrounds: `ignore` histograms product and object photos on a plain backdrop
        /// (white, black, grey, any one color) from their foreground only, so a red dress on white
        /// is found as red; other photos are left as they are. Stored in the site; example images
        /// searched on it get the same treatment.
        #[arg(long, value_enum, default_value_t = BackgroundMode::Keep)]
        background: BackgroundMode,
        /// Build only part I of N (`--part 3/8`, I from 1): the images whose path hashes to it. Each
        /// part is a site of its own; `chromatica merge` joins the parts into the whole site, the
        /// same bytes as one build of all images (docs/recipes/distributed-build.md).
        #[arg(long, value_parser = parse_part)]
        part: Option<(usize, usize)>,
        /// Longest side, in pixels, of the JPEG renditions the site shows for originals that
        /// browsers cannot display (HEIC); default: full size.
        #[arg(long, value_parser = clap::value_parser!(u32).range(64..=65_535))]
        original_max: Option<u32>,
        /// Do not write the `.br` and `.gz` copies of the page, app and index files (for hosts that
        /// serve precompressed files; docs/hosting.md). Parts (`--part`) never get them.
        #[arg(long)]
        no_precompress: bool,
        /// The site's title (page header, browser tab, link previews). Also `title = "…"` in a
        /// chromatica.toml in the images folder; a flag wins over the file.
        #[arg(long)]
        title: Option<String>,
        /// A sentence or two about the collection (header, search engines, link previews).
        #[arg(long)]
        description: Option<String>,
        /// Where the site is published, e.g. https://example.org/gallery/ (link previews need it).
        #[arg(long)]
        base_url: Option<String>,
        /// The accent color of sliders, focus rings and hover borders, e.g. "#1f6f8f".
        #[arg(long)]
        accent: Option<String>,
        /// Titles, captions, links and tags of the images: a CSV file with a header row, or JSON
        /// Lines, keyed by `path` relative to the images folder (README "Titles and links").
        #[arg(long, value_name = "FILE")]
        metadata: Option<PathBuf>,
    },
    /// Join the parts of a build made with `build --part I/N` (on one machine or many) into one
    /// site: the same index as one `build` of all the images.
    Merge {
        /// The part sites, all N of them.
        #[arg(required = true)]
        parts: Vec<PathBuf>,
        /// Output folder for the whole site (rules as for `build --out`).
        #[arg(long)]
        out: PathBuf,
        /// Write into a non-empty folder that is not a Chromatica site (adding, never replacing).
        #[arg(long)]
        force: bool,
        /// Print a JSON summary on stdout instead of text.
        #[arg(long)]
        json: bool,
        /// Do not write the `.br` and `.gz` copies (as for `build`).
        #[arg(long)]
        no_precompress: bool,
    },
    /// Search a built site by colors, by an example image or for images like one of the site's,
    /// with the same code, ranking and JSON as the browser app; filters (--text, --folder, --tags,
    /// --from, --to, --orientation) narrow any of them, or alone list the images they pass.
    #[command(group = clap::ArgGroup::new("source").required(false).args(["colors", "image", "similar"]))]
    Search {
        site: PathBuf,
        /// Comma-separated hex colors: FF0000,#00ff00 (1 to 5).
        #[arg(long)]
        colors: Option<String>,
        /// Comma-separated weights, one per color (default: equal).
        #[arg(long, requires = "colors")]
        weights: Option<String>,
        /// An example image: its colors are searched (JPEG decoded as the page does).
        #[arg(long)]
        image: Option<PathBuf>,
        /// "More like this": the id of an image of the site (`id` in the results).
        #[arg(long)]
        similar: Option<u32>,
        #[command(flatten)]
        options: SearchOptions,
        /// Print the JSON the page's API answers with.
        #[arg(long)]
        json: bool,
    },
    /// Serve a built site on 127.0.0.1 with the headers wasm threads need.
    Serve {
        site: PathBuf,
        /// Port (0 picks a free one).
        #[arg(long, default_value_t = 8000)]
        port: u16,
        /// Seconds a client may take to send its request, and to accept each part of the answer.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
        timeout: u64,
        /// A host name (with port, as the browser sends it: gallery.example:8000) to answer besides
        /// 127.0.0.1, localhost and [::1], e.g. behind a reverse proxy. Requests for any other
        /// host are refused (protection against DNS rebinding).
        #[arg(long)]
        host_name: Option<String>,
    },
    /// Measure recall@k of the two-stage search against exhaustive Sinkhorn, and its latency, for
    /// several rerank_k values (random color queries and "more like this" queries).
    Eval {
        site: PathBuf,
        /// Number of queries of each kind.
        #[arg(long, default_value_t = 100)]
        queries: usize,
        /// Comma-separated rerank_k values to try (default: the site's own, e.g. 50,100,200,400).
        #[arg(long)]
        rerank_k: Option<String>,
        #[arg(short, default_value_t = 10, value_parser = parse_k)]
        k: usize,
        /// Comma-separated routing widths to try: shards are probed until they hold this many
        /// images (default: the site's own).
        #[arg(long)]
        probe: Option<String>,
        /// Threads for the timed two-stage searches (the exhaustive ground truth uses every core).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Measure filtered searches instead, one row per filter, in the URL's form:
        /// `folder=synthetic/3&q=harbour` (repeatable).
        #[arg(long)]
        filter: Vec<String>,
        /// With --filter: probe shards until they hold this many passing images (default: the
        /// engine's FILTER_PROBE_PASSING).
        #[arg(long)]
        filter_probe: Option<usize>,
        /// Keep the exhaustive top k of the queries in this file: read it when it was written for
        /// this site and these queries (checked), else compute it and write it (minutes a query at
        /// a million images).
        #[arg(long)]
        truth: Option<PathBuf>,
    },
    /// Make a large synthetic collection from a built site (random mixtures of its histograms,
    /// its thumbnails), for scale benchmarks.
    Synth {
        site: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 100_000)]
        count: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Show what a built site contains.
    Info {
        site: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", terminal::safe(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Merge { parts, out, force, json, no_precompress } => {
            let summary = merge::run(&parts, &out, force, !no_precompress)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                println!(
                    "Merged {} parts: {} images in {} shard(s), index {} bytes -> {}",
                    parts.len(),
                    summary.images,
                    summary.shards,
                    summary.index_bytes,
                    terminal::safe(&summary.out)
                );
            }
            Ok(())
        }
        Command::Build {
            images,
            out,
            jobs,
            thumb_size,
            no_originals,
            json,
            force,
            follow_symlinks,
            max_memory,
            rerank_k,
            background,
            part,
            original_max,
            no_precompress,
            title,
            description,
            base_url,
            accent,
            metadata,
        } => {
            let opts = site_build::BuildOptions {
                images,
                out,
                jobs: jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)),
                thumb_size,
                originals: !no_originals,
                progress: !json && std::io::stderr().is_terminal(),
                force,
                follow_symlinks,
                max_memory: max_memory * 1_000_000,
                rerank_k,
                background,
                part,
                original_max,
                precompress: !no_precompress && part.is_none(),
                site: site_info::SiteInfo { title, description, base_url, accent },
                metadata,
            };
            let summary = site_build::build(&opts)?;
            for warning in &summary.metadata_warnings {
                eprintln!("warning: {}", terminal::safe(warning));
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                println!(
                    "Indexed {} images ({} decoded, {} unchanged), skipped {}, in {:.1} s -> {}",
                    summary.indexed,
                    summary.decoded,
                    summary.reused,
                    summary.skipped.len(),
                    summary.timings_ms.total / 1000.0,
                    terminal::safe(&summary.out)
                );
                if summary.background == BackgroundMode::Ignore {
                    println!(
                        "Backgrounds: ignored; a plain background was left out of {} of {} images",
                        summary.backgrounds_removed, summary.indexed
                    );
                }
                println!(
                    "Index: {} bytes in {} shard(s) ({:.0} bytes per image; a visit loads the head of {} bytes and the shards its queries need). Serve it with: chromatica serve {}",
                    summary.index_bytes,
                    summary.shards,
                    summary.bytes_per_image,
                    summary.head_bytes,
                    terminal::safe(&summary.out)
                );
            }
            Ok(())
        }
        Command::Search { site, colors, weights, image, similar, options, json } => {
            let query = colors.map(|colors| Query::parse(&colors, weights.as_deref()).context("invalid query")).transpose()?;
            let mut engine = site_index::open(&site)?;
            let source = match (query, image, similar) {
                (Some(query), _, _) => Source::colors(&query),
                // An example image is described as the site's images are: with its background mode.
                (_, Some(image), _) => Source::histogram(&image_histogram(&image, engine.head().params.background)?),
                (_, _, Some(image)) => Source::Similar { image },
                _ if options.filter.is_empty() => {
                    bail!("give --colors, --image or --similar, or a filter (--text, --folder, --tags, --from, --to, --orientation)")
                }
                _ => Source::Browse,
            };
            let start = Instant::now();
            let clock = || start.elapsed().as_secs_f64() * 1000.0;
            let response = site_index::search(&mut engine, &site, &SearchRequest { source, options }, &clock)?;
            for warning in &response.warnings {
                eprintln!("warning: {}", terminal::safe(warning));
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&response)?);
            } else {
                for r in &response.results {
                    let title = if r.title.is_empty() { String::new() } else { format!("  ({})", terminal::safe(&r.title)) };
                    if response.query.mode == "filter" {
                        println!("{:>3}  {}{title}", r.rank, terminal::safe(&r.path));
                    } else {
                        println!("{:>3}  ΔE {:>6.2}  {}{title}", r.rank, r.distance, terminal::safe(&r.path));
                    }
                }
                if let Some(matching) = response.metadata.matching {
                    println!("{matching} images pass the filter");
                }
                let m = &response.metadata;
                println!(
                    "{} results of {} images in {:.2} ms (query {:.2}, ANN {:.2}, rerank {:.2})",
                    response.results_count, m.index_size, m.total_time_ms, m.query_time_ms, m.ann_time_ms, m.rerank_time_ms
                );
            }
            Ok(())
        }
        Command::Serve { site, port, timeout, host_name } => {
            serve::serve(&site, &serve::Options { port, timeout: std::time::Duration::from_secs(timeout), host_name })
        }
        Command::Synth { site, out, count, seed } => synth::run(&site, &out, count, seed),
        Command::Eval { site, queries, rerank_k, probe, k, threads, filter, filter_probe, truth } => {
            let sweep =
                eval::Sweep { rerank_ks: rerank_k.as_deref(), probes: probe.as_deref(), filters: &filter, filter_probe, truth: truth.as_deref() };
            eval::run(&site, queries, &sweep, k, threads)
        }
        Command::Info { site, json } => info(&site, json),
    }
}

/// `I/N` with 1 <= I <= N.
fn parse_part(text: &str) -> Result<(usize, usize), String> {
    let bad = || format!("expected a part as I/N with 1 <= I <= N (e.g. 3/8), got {text:?}");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if i == 0 || i > n {
        return Err(bad());
    }
    Ok((i, n))
}

/// `chromatica info`: the index's head, shards and pages, and their sizes.
fn info(site: &Path, json: bool) -> Result<()> {
    let mut engine = site_index::open(site)?;
    // The shards (not the pages): they list the pages and their sizes.
    let mut fetch = site_index::fetcher(site);
    engine.set_cache_budget(usize::MAX);
    for want in engine.everything() {
        let bytes = fetch(&want);
        engine.insert(&want, bytes.as_deref().map_err(|e| e.clone()));
    }
    if let Some(failure) = engine.failures().first() {
        anyhow::bail!("the index of {} is damaged: {failure}", site.display());
    }
    let head = engine.head().clone();
    let n = head.len();
    let mut sizes: Vec<u32> = head.shards.iter().map(|s| s.images).collect();
    sizes.sort_unstable();
    // Sizes as stored (compressed: what a host sends); `inflated` is the bytes decoded.
    let stored = |c: &bundle::ChunkRef| site_index::stored_len(site, &c.path());
    let head_bytes = site_index::stored_len(site, bundle::HEAD_FILE);
    let shard_bytes: u64 = head.shards.iter().map(|s| stored(&s.vectors)).sum();
    let page_refs: Vec<bundle::ChunkRef> = (0..head.shards.len()).flat_map(|s| engine.shard_pages(s).unwrap_or(&[]).to_vec()).collect();
    let pages: Vec<u64> = page_refs.iter().map(stored).collect();
    let page_bytes: u64 = pages.iter().sum();
    let table_bytes: u64 = head.shards.iter().map(|s| stored(&s.pages)).sum();
    let term_bytes: u64 = head.terms.iter().map(|t| stored(&t.chunk)).sum();
    let total = head_bytes + shard_bytes + table_bytes + page_bytes + term_bytes;
    let inflated = head.byte_len as u64
        + head.shards.iter().map(|s| (s.vectors.len + s.pages.len) as u64).sum::<u64>()
        + page_refs.iter().map(|c| c.len as u64).sum::<u64>()
        + head.terms.iter().map(|t| t.chunk.len as u64).sum::<u64>();
    let per_image = |b: u64| b as f64 / n.max(1) as f64;
    let p = &head.params;
    let info = serde_json::json!({
        "format_version": bundle::FORMAT_VERSION,
        "images": n,
        "head_bytes": head_bytes,
        "shards": head.shards.len(),
        "shard_images": {"min": sizes.first(), "median": sizes.get(sizes.len() / 2), "max": sizes.last()},
        "shard_bytes": shard_bytes,
        "pages": pages.len(),
        "page_bytes": page_bytes,
        "page_table_bytes": table_bytes,
        "term_chunks": head.terms.len(),
        "term_bytes": term_bytes,
        "facets": head.facets.len(),
        "index_bytes": total,
        "index_bytes_inflated": inflated,
        "bytes_per_image": per_image(total),
        "params": p,
        "background": p.background,
        "backgrounds_removed": head.backgrounds_removed,
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&info)?);
        return Ok(());
    }
    println!("Site:            {}", site.display());
    println!("Format version:  {}", bundle::FORMAT_VERSION);
    println!("Images:          {n}");
    println!("Head:            {head_bytes} bytes (every visit loads it)");
    println!(
        "Shards:          {} of {}-{} images (median {}), {} bytes ({:.0} per image): vectors{}",
        head.shards.len(),
        sizes.first().unwrap_or(&0),
        sizes.last().unwrap_or(&0),
        sizes.get(sizes.len() / 2).unwrap_or(&0),
        shard_bytes,
        per_image(shard_bytes),
        if head.shards.len() == 1 { " and the HNSW graph" } else { "" }
    );
    println!(
        "Pages:           {} of {} images, {} bytes ({:.0} per image): names, histograms, palettes",
        pages.len(),
        p.page_images,
        page_bytes,
        per_image(page_bytes)
    );
    println!("Page tables:     {table_bytes} bytes (where each shard's pages are)");
    println!(
        "Terms:           {} chunks, {term_bytes} bytes ({:.0} per image): the words, folders, tags, dates and shapes filters match; {} folders and tags as chips",
        head.terms.len(),
        per_image(term_bytes),
        head.facets.len()
    );
    println!("Index:           {total} bytes ({:.0} per image), stored compressed; {inflated} bytes inflated", per_image(total));
    println!("Routing:         a query scans the nearest shards until they hold {} images", p.probe_images);
    println!(
        "ANN:             {}-d vectors{}",
        p.ann_dims,
        if head.shards.len() == 1 {
            format!("; HNSW M {}, ef_construction {}, ef_search {}, seed {:#x}", p.m, p.ef_construction, p.ef_search, p.seed)
        } else {
            String::new()
        }
    );
    println!("Rerank:          {} candidates (Sinkhorn-EMD)", p.rerank_k);
    match p.background {
        BackgroundMode::Keep => println!("Backgrounds:     kept (histograms of whole images)"),
        BackgroundMode::Ignore => println!("Backgrounds:     ignored; a plain background was left out of {} of {n} images", head.backgrounds_removed),
    }
    Ok(())
}

/// An example image's histogram, decoded and histogrammed exactly as the page does it (core's
/// query-image code, with the site's `background` mode) for JPEG; other formats through the
/// builder's decoders (the page uses the browser's for those).
fn image_histogram(path: &Path, background: BackgroundMode) -> Result<Histogram> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let invalid = |e: String| anyhow::anyhow!("{}: {e}", path.display());
    if let Some(h) = chromatica_core::query_image::histogram_of_encoded(&bytes, background).map_err(invalid)? {
        return Ok(h);
    }
    let decoded = index_builder::decode::decode(&bytes, chromatica_core::histogram::MAX_SIDE, 1 << 30).map_err(invalid)?;
    chromatica_core::query_image::histogram_of_pixels(decoded.pixels.width, decoded.pixels.height, decoded.pixels.pixels, background).map_err(invalid)
}
