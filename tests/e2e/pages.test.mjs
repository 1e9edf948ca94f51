// Error states and hostile content: a broken index head, hostile file names, offline file:// mode.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { launchBrowser, startServer, startPlainServer, openApp, siteDir, cli, watchErrors, repoRoot } from './lib.mjs';

let browser;
const work = mkdtempSync(join(process.env.TMPDIR || '/tmp', 'chromatica-e2e-'));
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); rmSync(work, { recursive: true, force: true }); });

test('a truncated or corrupted index head shows a readable error in the page', async () => {
  // The head is stored gzip-compressed: damage its inflated bytes (then store them again), or the
  // stored ones.
  const inside = (damage) => (b) => gzipSync(damage(Buffer.from(gunzipSync(b))));
  for (const [name, mutate, message] of [
    ['truncated', inside((b) => b.subarray(0, b.length >> 1)), /truncated/],
    ['flipped', inside((b) => { b[b.length - 5] ^= 0xff; return b; }), /checksum/],
    ['html', () => Buffer.from('<html>404</html>'), /not a Chromatica index file/],
    ['bad gzip', (b) => { const c = Buffer.from(b); c[c.length >> 1] ^= 0xff; c[(c.length >> 1) + 1] ^= 0xff; return c; }, /could not inflate/],
  ]) {
    const dir = join(work, name.replace(' ', '-'));
    cpSync(siteDir(), dir, { recursive: true });
    writeFileSync(join(dir, 'index', 'head.bin'), mutate(readFileSync(join(dir, 'index', 'head.bin'))));
    const server = await startServer(dir);
    const page = await browser.newPage();
    try {
      await page.goto(server.url);
      await page.waitForFunction((re) => new RegExp(re).test(document.querySelector('[data-testid=error]')?.textContent || ''), message.source, { timeout: 15000 });
      await assert.rejects(page.evaluate(() => window.chromatica.ready), message);
      assert.match(await page.locator('[data-testid=status]').textContent(), /could not be loaded/);
    } finally { await page.close(); server.stop(); }
  }
});

test('hostile file names are shown as text and run no script', async () => {
  const images = join(work, 'hostile-images');
  mkdirSync(images, { recursive: true });
  const names = ['<img src=x onerror="window.__pwned=1">.jpg', '"quoted" & <b>bold.jpg', '\u202Egnp.evil.jpg', 'a'.repeat(200) + '.jpg'];
  const demo = readFileSync(join(repoRoot, 'demo-images', 'budgie_ocean-waves.jpg'));
  for (const n of names) writeFileSync(join(images, n), demo);
  const site = join(work, 'hostile-site');
  execFileSync(cli, ['build', images, '--out', site, '--json']);
  const server = await startServer(site);
  const page = await browser.newPage();
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
  try {
    await openApp(page, server.url + '#colors=3060A0&k=10');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=result]').length === 4);
    const shown = await page.$$eval('[data-testid=path]', (els) => els.map((e) => e.textContent));
    for (const n of names) assert.ok(shown.includes(n), `missing ${JSON.stringify(n)}`);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assert.equal(await page.locator('.card b').count(), 0);
    assert.deepEqual(dialogs, []);
    const hrefs = await page.$$eval('.card a', (as) => as.map((a) => a.getAttribute('href')));
    for (const h of hrefs) assert.match(h, /^originals\/[0-9a-f]{2}\/[0-9a-f]{16}\.jpg$/);
  } finally { await page.close(); server.stop(); }
});

test('offline: the site opened from file:// searches like over HTTP and downloads the collage', async () => {
  const server = await startServer(siteDir());
  const web = await browser.newPage();
  await openApp(web, server.url);
  const query = { colors: ['2E86AB', 'F3A712'], weights: [0.7, 0.3], k: 10 };
  const overHttp = await web.evaluate((q) => window.chromatica.search(q), query);
  await web.close();
  server.stop();

  const page = await browser.newPage({ acceptDownloads: true });
  const errors = watchErrors(page);
  await page.goto('file://' + join(siteDir(), 'index.html'));
  await page.waitForFunction(() => window.chromatica && window.chromatica.ready, null, { timeout: 30000 });
  await page.evaluate(() => window.chromatica.ready);
  const offline = await page.evaluate((q) => window.chromatica.search(q), query);
  assert.equal((await page.evaluate(() => window.chromatica.info())).worker, false, 'file:// searches on the page thread');
  assert.deepEqual(offline.results.map((r) => [r.id, r.distance]), overHttp.results.map((r) => [r.id, r.distance]));
  await page.locator('[data-testid=result]').first().waitFor();
  await page.locator('[data-testid=collage-toggle]').click();
  await page.waitForFunction(() => document.querySelector('[data-testid=collage]').width > 300
    && document.querySelector('[data-testid=collage-status]').textContent === '');
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-testid=collage-download]').click()]);
  const png = readFileSync(await download.path());
  assert.deepEqual([...png.subarray(1, 4)], [80, 78, 71]);
  assert.deepEqual(errors.filter((e) => !/favicon/.test(e)), []);
  await page.close();
});

// Queries covering the rerank paths: colors at several k, an example-image-like histogram
// ("more like this"), and k large enough that pruning barely applies.
const PARITY_QUERIES = [
  ['search', { colors: ['44AF69', 'F0E0D0'], weights: [2, 1], k: 15 }],
  ['search', { colors: ['FF0000'], k: 1 }],
  ['search', { colors: ['203040', 'E0C080', '808080'], weights: [1, 1, 3], k: 100 }],
  ['searchSimilar', 7, 20],
  ['searchSimilar', 120, 50],
];
const rankings = (page) => page.evaluate(async (qs) => {
  const out = [];
  for (const [fn, ...args] of qs) out.push((await window.chromatica[fn](...args)).results.map((r) => [r.id, r.distance]));
  return out;
}, PARITY_QUERIES);

test('threads: under chromatica serve the page searches on wasm threads; a plain host falls back to one; same results', async () => {
  const plain = await startPlainServer(siteDir());
  const isolated = await startServer(siteDir());
  const a = await browser.newPage();
  const b = await browser.newPage();
  const warnings = []; // the pool threads' console reaches the page's
  b.on('console', (m) => { if (m.type() === 'warning') warnings.push(m.text()); });
  try {
    const errorsPlain = await openApp(a, plain.url);
    const errorsIsolated = await openApp(b, isolated.url);
    assert.equal(await a.evaluate(() => window.crossOriginIsolated), false);
    assert.equal(await b.evaluate(() => window.crossOriginIsolated), true);
    const single = await a.evaluate(() => window.chromatica.info());
    const threaded = await b.evaluate(() => window.chromatica.info());
    const cores = await b.evaluate(() => navigator.hardwareConcurrency);
    assert.deepEqual([single.worker, single.threads], [true, 1]);
    assert.deepEqual([threaded.worker, threaded.threads], [true, Math.min(cores, 8)]);
    assert.ok(cores < 2 || threaded.threads > 1, `only ${threaded.threads} thread on ${cores} cores`);
    // The page says which mode it runs in.
    await a.locator('[data-testid=result]').first().waitFor();
    await b.locator('[data-testid=result]').first().waitFor();
    assert.match(await a.getByTestId('index-info').textContent(), /· 1 thread \(search worker\)$/);
    assert.match(await b.getByTestId('index-info').textContent(), new RegExp(`· ${threaded.threads} threads? \\(search worker(, wasm threads)?\\)$`));
    const [ra, rb] = await Promise.all([rankings(a), rankings(b)]);
    assert.ok(ra.every((r) => r.length > 0));
    assert.deepEqual(rb, ra);
    assert.deepEqual(errorsPlain, []);
    assert.deepEqual(errorsIsolated, []);
    assert.deepEqual(warnings, []);
  } finally { await a.close(); await b.close(); plain.stop(); isolated.stop(); }
});

test('a link that names a query: boot.js starts the search worker during the wasm download, and the app adopts it', async () => {
  const plain = await startPlainServer(siteDir());
  const page = await browser.newPage();
  const requested = [];
  page.on('request', (r) => requested.push(new URL(r.url()).pathname));
  // The order of what happens: the worker must start before the wasm is compiled.
  await page.addInitScript(() => {
    window.__events = [];
    const compile = WebAssembly.compileStreaming;
    WebAssembly.compileStreaming = (...a) => compile.apply(WebAssembly, a).then((m) => { window.__events.push('compiled'); return m; });
    const Native = window.Worker;
    window.Worker = function (url, options) { window.__events.push(`worker ${url}`); return new Native(url, options); };
    window.Worker.prototype = Native.prototype; // instances still pass `instanceof Worker`
  });
  try {
    const errors = await openApp(page, plain.url + '#colors=44AF69&k=5');
    await page.locator('[data-testid=result]').first().waitFor();
    const info = await page.evaluate(() => window.chromatica.info());
    assert.deepEqual([info.worker, info.threads], [true, 1]);
    assert.equal(page.workers().length, 1, 'one search worker, not a second');
    assert.equal(requested.filter((p) => p === '/worker.js').length, 1);
    // The worker instantiates the page's module: the wasm is downloaded once.
    assert.deepEqual(requested.filter((p) => p.includes('chromatica_bg.wasm')), ['/chromatica_bg.wasm.gz']);
    assert.equal(await page.evaluate(() => window.__chromaticaWorker), undefined, 'taken by the app');
    assert.deepEqual(await page.evaluate(() => window.__events), ['worker worker.js', 'compiled']);
    assert.deepEqual(errors, []);
  } finally { await page.close(); plain.stop(); }
});

test('threads: if the threaded worker cannot start, the isolated page falls back to one thread', async () => {
  const copy = join(work, 'no-threads-site');
  cpSync(siteDir(), copy, { recursive: true });
  rmSync(join(copy, 'threads'), { recursive: true });
  const server = await startServer(copy);
  const page = await browser.newPage();
  const warnings = [];
  page.on('console', (m) => { if (m.type() === 'warning') warnings.push(m.text()); });
  try {
    await openApp(page, server.url);
    assert.equal(await page.evaluate(() => window.crossOriginIsolated), true);
    const info = await page.evaluate(() => window.chromatica.info());
    assert.deepEqual([info.worker, info.threads], [true, 1]);
    const r = await page.evaluate(() => window.chromatica.search({ colors: ['44AF69'], k: 5 }));
    assert.equal(r.results.length, 5);
    assert.ok(warnings.some((w) => /multi-threaded search worker failed/.test(w)), warnings.join(' | '));
  } finally { await page.close(); server.stop(); }
});
