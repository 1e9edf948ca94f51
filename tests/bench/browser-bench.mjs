// Browser benchmark: cold load to first results and search latency through window.chromatica,
// in headless Chromium. Usage: node bench/browser-bench.mjs <site-dir> [queries] [threads|single]
// `threads` (default): `chromatica serve` (cross-origin isolated: the multi-threaded worker);
// `single`: a plain static server (the single-threaded worker).
import { launchBrowser, startServer, startPlainServer } from '../e2e/lib.mjs';

const [site, count = '200', mode = 'threads'] = process.argv.slice(2);
if (!site || !['threads', 'single'].includes(mode)) {
  console.error('usage: node bench/browser-bench.mjs <site-dir> [queries] [threads|single]');
  process.exit(2);
}
const n = Number(count);
const server = await (mode === 'threads' ? startServer(site) : startPlainServer(site));
const browser = await launchBrowser();
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.round((s.length - 1) * p)]; };
try {
  const page = await browser.newPage();
  const t0 = Date.now();
  await page.goto(server.url);
  // The engine's first results (its timings shown), not the page's pre-rendered ones.
  await page.waitForFunction(() => document.querySelector('[data-testid=timings]')?.textContent.includes('total'), null, { timeout: 60000 });
  const firstResults = Date.now() - t0;
  const info = await page.evaluate(() => window.chromatica.info());
  const stats = await page.evaluate(async (n) => {
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const hex = () => Math.floor(rnd() * 0xffffff).toString(16).padStart(6, '0');
    const total = [], wall = [], rerank = [], ann = [];
    for (let i = 0; i < n; i++) {
      const k = 1 + Math.floor(rnd() * 3);
      const colors = Array.from({ length: k }, hex), weights = Array.from({ length: k }, () => 0.1 + rnd());
      const t = performance.now();
      const r = await window.chromatica.search({ colors, weights, k: 20 });
      wall.push(performance.now() - t);
      total.push(r.metadata.total_time_ms); rerank.push(r.metadata.rerank_time_ms); ann.push(r.metadata.ann_time_ms);
    }
    const similar = [];
    for (let i = 0; i < n / 4; i++) {
      const r = await window.chromatica.searchSimilar(Math.floor(rnd() * 1e9) % (await window.chromatica.info()).images, 20);
      similar.push(r.metadata.total_time_ms);
    }
    return { total, wall, rerank, ann, similar };
  }, n);
  const mem = await page.evaluate(() => performance.memory ? Math.round(performance.memory.usedJSHeapSize / 1048576) : null);
  const row = (name, xs) => console.log(`${name.padEnd(28)} p50 ${pct(xs, 0.5).toFixed(2).padStart(7)} ms   p95 ${pct(xs, 0.95).toFixed(2).padStart(7)} ms`);
  console.log(`site: ${site} — ${info.images} images, ${info.shards ?? 1} shard(s), head ${info.head_bytes ?? info.bundle_bytes} bytes, ${info.threads} thread(s)`);
  console.log(`cold load to first results: ${firstResults} ms (index download+decode ${info.load_ms.toFixed(0)} ms); JS heap ${mem} MB; wasm memory of the index ${(info.memory_bytes / 1048576).toFixed(0)} MB; search ${info.worker ? 'in a worker' : 'on the page thread'}`);
  row('color search total', stats.total);
  row('  ANN stage', stats.ann);
  row('  rerank stage', stats.rerank);
  row('color search wall (API)', stats.wall);
  row('more-like-this total', stats.similar);
} finally { await browser.close(); server.stop(); }
