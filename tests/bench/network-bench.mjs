// What a visitor downloads and waits for, in headless Chromium against a plain static server
// (no compression, no cross-origin isolation: the single-threaded worker), optionally with the
// network throttled through the DevTools protocol to "4G" (10 Mbit/s, 40 ms round trip).
//
// Usage: node bench/network-bench.mjs <site-dir> [queries=50] [4g|none] [plain|br] [filter]
// (`br`: the server sends the build's precompressed Brotli copies, as a configured host does;
// `filter`: a filter in the URL's form, e.g. `folder=synthetic/3&q=early`, that the link and every
// later query carry, so the bytes are those of filtered searches, chips included.)
// Prints one JSON line: index bytes before the first results (index files only: not the app's
// wasm/js, not thumbnails), cold load to first results, new index bytes per later query (p50,
// p95), search latency once the files are cached (p50, p95 of the JS API's wall time), and the
// engine's wasm memory after the queries. Works for sites of either index format (bundle.bin or
// index/): run it on an old and a new site one after the other to compare them side by side.
import { launchBrowser, startPlainServer } from '../e2e/lib.mjs';

const [site, count = '50', network = '4g', encoding = 'plain', filter = ''] = process.argv.slice(2);
const filterKeys = Object.fromEntries(new URLSearchParams(filter));
if (filterKeys.q !== undefined) { filterKeys.text = filterKeys.q; delete filterKeys.q; }
if (!site || !['4g', 'none'].includes(network) || !['plain', 'br'].includes(encoding)) {
  console.error('usage: node bench/network-bench.mjs <site-dir> [queries] [4g|none] [plain|br]');
  process.exit(2);
}
const n = Number(count);
let indexBytes = 0, otherBytes = 0;
const isIndex = (path) => path.startsWith('/index/') || path === '/bundle.bin';
const server = await startPlainServer(site, { precompressed: encoding === 'br', onServe: (path, bytes) => { if (isIndex(path)) indexBytes += bytes; else otherBytes += bytes; } });
const browser = await launchBrowser();
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.round((s.length - 1) * p)]; };
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  const throttle = async (session) => {
    if (network === '4g') await session.send('Network.emulateNetworkConditions', { offline: false, latency: 40, downloadThroughput: 10e6 / 8, uploadThroughput: 10e6 / 8 });
  };
  await throttle(cdp);
  // What a visitor sees, timed by the page's own clock from the start of navigation (as Lighthouse
  // times paints; a harness's wall clock would also count Playwright's round trips and the load
  // event, which waits for every thumbnail): the frame after the first result card enters the
  // document ("results shown"), and the first result's thumbnail loaded.
  const shown = (results) => {
    window.__shown = null;
    window.__thumb = null;
    new MutationObserver((_, observer) => {
      if (window.__shown === null && document.querySelector(results)) {
        window.__shown = -1;
        observer.disconnect();
        requestAnimationFrame(() => setTimeout(() => { window.__shown = performance.now(); }));
      }
    }).observe(document, { childList: true, subtree: true });
    document.addEventListener('load', (e) => {
      if (window.__thumb === null && e.target.closest?.(results)) window.__thumb = performance.now();
    }, true);
  };
  const visit = async (p, url, results) => {
    await p.addInitScript(shown, results);
    await p.goto(url, { waitUntil: 'commit' });
    await p.waitForFunction(() => window.__shown > 0 && window.__thumb !== null, null, { timeout: 120000, polling: 50 });
    return p.evaluate(() => ({ shown: Math.round(window.__shown), thumb: Math.round(window.__thumb) }));
  };
  // The page's own first screen (its default query, pre-rendered by the build): a fresh context.
  const first = await browser.newContext();
  const firstPage = await first.newPage();
  await throttle(await first.newCDPSession(firstPage));
  const prerendered = await visit(firstPage, server.url, '[data-testid=prerendered-results] li, [data-testid=result]');
  await first.close();
  indexBytes = 0;
  otherBytes = 0;
  const cold = await visit(page, server.url + '#colors=2E86AB,F3A712&weights=0.7,0.3&k=20' + (filter ? '&' + filter : ''), '[data-testid=result]');
  const firstIndexBytes = indexBytes;
  // Later queries: random 1-3 color queries; new index bytes per query, then the same queries
  // again with everything they need cached (search latency).
  const queries = [];
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const hex = () => Math.floor(rnd() * 0xffffff).toString(16).padStart(6, '0').toUpperCase();
  for (let i = 0; i < n; i++) {
    const k = 1 + Math.floor(rnd() * 3);
    queries.push({ colors: Array.from({ length: k }, hex), weights: Array.from({ length: k }, () => 0.1 + rnd()), k: 20, ...filterKeys });
  }
  const perQuery = [];
  for (const q of queries) {
    const before = indexBytes;
    await page.evaluate((q) => window.chromatica.search(q), q);
    perQuery.push(indexBytes - before);
  }
  if (network === '4g') await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  const { wall, memory } = await page.evaluate(async (qs) => {
    const wall = [];
    let memory = null;
    for (const q of qs) {
      const t = performance.now();
      const r = await window.chromatica.search(q);
      wall.push(performance.now() - t);
      memory = r.metadata.memory_bytes ?? memory;
    }
    return { wall, memory };
  }, queries);
  const info = await page.evaluate(() => window.chromatica.info());
  console.log(JSON.stringify({
    site, network, encoding, filter, images: info.images,
    prerendered_first_results_ms: prerendered.shown,
    prerendered_first_thumbnail_ms: prerendered.thumb,
    index_bytes_before_first_results: firstIndexBytes,
    app_and_other_bytes: otherBytes,
    cold_load_to_first_results_ms: cold.shown,
    cold_load_to_first_thumbnail_ms: cold.thumb,
    later_query_new_bytes: { p50: pct(perQuery, 0.5), p95: pct(perQuery, 0.95), max: Math.max(...perQuery) },
    cached_search_ms: { p50: +pct(wall, 0.5).toFixed(2), p95: +pct(wall, 0.95).toFixed(2) },
    wasm_memory_mb_after_queries: +(((memory ?? info.memory_bytes) || 0) / 1048576).toFixed(1),
    engine: info.worker ? `worker, ${info.threads} thread(s)` : 'page thread',
  }));
} finally { await browser.close(); await server.stop(); }
