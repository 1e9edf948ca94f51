// Sharded sites: a synthetic collection of many shards, searched over a plain static host,
// `chromatica serve` and file:// with the CLI's ranking; a page downloads only the shards its
// queries need; a missing or corrupt shard leaves the rest answering; a rebuild with one image
// changed rewrites only that image's shards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, rmSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { gunzipSync, gzipSync } from 'node:zlib';
import { launchBrowser, startServer, startPlainServer, openApp, siteDir, cli, cliSearch, watchErrors } from './lib.mjs';

let browser, synth, info;
const work = mkdtempSync(join(process.env.TMPDIR || '/tmp', 'chromatica-shards-'));
before(async () => {
  browser = await launchBrowser();
  synth = join(work, 'synth');
  execFileSync(cli, ['synth', siteDir(), '--out', synth, '--count', '12000']);
  info = JSON.parse(execFileSync(cli, ['info', synth, '--json']).toString());
});
after(async () => { await browser?.close(); rmSync(work, { recursive: true, force: true }); });

const QUERIES = [
  { colors: ['2E86AB', 'F3A712'], weights: [0.7, 0.3], k: 10 },
  { colors: ['FF0000'], k: 5 },
  { colors: ['203040', 'E0C080', '808080'], weights: [1, 1, 3], k: 30 },
];
const SIMILAR = [[123, 10], [9001, 20]];

/** Every query's ranking as [id, distance] pairs, through the page's JS API. */
const rankings = (page) => page.evaluate(async ([qs, similar]) => {
  const out = [];
  for (const q of qs) out.push((await window.chromatica.search(q)).results.map((r) => [r.id, r.distance]));
  for (const [id, k] of similar) out.push((await window.chromatica.searchSimilar(id, k)).results.map((r) => [r.id, r.distance]));
  return out;
}, [QUERIES, SIMILAR]);

/** The same through the CLI. */
async function cliRankings(site) {
  const out = [];
  for (const q of QUERIES) out.push((await cliSearch(site, q.colors.join(','), q.weights?.join(','), q.k)).results.map((r) => [r.id, r.distance]));
  for (const [id, k] of SIMILAR) {
    const r = JSON.parse(execFileSync(cli, ['search', site, '--similar', String(id), '-k', String(k), '--json']).toString());
    out.push(r.results.map((x) => [x.id, x.distance]));
  }
  return out;
}

function assertSame(actual, expected, what) {
  assert.equal(actual.length, expected.length, what);
  actual.forEach((ranking, q) => {
    assert.deepEqual(ranking.map(([id]) => id), expected[q].map(([id]) => id), `${what}, query ${q}`);
    ranking.forEach(([, d], i) => assert.ok(Math.abs(d - expected[q][i][1]) < 1e-9, `${what}, query ${q}, rank ${i}`));
  });
}

/** Index files a page requests, by site-relative path (`index/…`). */
function indexRequests(page, base) {
  const paths = [];
  page.on('request', (r) => { if (r.url().startsWith(base + 'index/')) paths.push(r.url().slice(base.length)); });
  return paths;
}

/** A stored index file's bytes (every index file is stored gzip-compressed). */
const inflated = (site, path) => gunzipSync(readFileSync(join(site, path)));
const isShard = (site, path) => inflated(site, path).subarray(0, 8).toString() === 'CHROMSHD';

test('a sharded site ranks as the CLI does over a plain host, chromatica serve and file://, fetching only some shards', async () => {
  assert.ok(info.shards >= 8, `${info.shards} shards`);
  const expected = await cliRankings(synth);
  assert.ok(expected.every((r) => r.length > 0));
  const plain = await startPlainServer(synth);
  const served = await startServer(synth);
  try {
    for (const server of [plain, served]) {
      const page = await browser.newPage();
      const requested = indexRequests(page, server.url);
      const wasm = [];
      page.on('request', (r) => { if (/\.wasm(\.gz)?$/.test(r.url())) wasm.push(r.url().slice(server.url.length)); });
      const errors = await openApp(page, server.url + '#colors=2E86AB,F3A712&weights=0.7,0.3&k=10');
      await page.locator('[data-testid=result]').first().waitFor();
      // Any host sends a third of the wasm and compressed index files: they are stored so.
      // (The threaded worker's wasm, on isolated pages, comes from hosts that compress.)
      assert.deepEqual(wasm.filter((p) => !p.startsWith('threads/')), ['chromatica_bg.wasm.gz']);
      assert.ok(requested.every((p) => readFileSync(join(synth, p))[0] === 0x1f), 'index files are stored gzip-compressed');
      const shards = new Set(requested.filter((p) => p.endsWith('.bin') && p !== 'index/head.bin' && isShard(synth, p)));
      assert.ok(shards.size > 0 && shards.size < info.shards, `the first query fetched ${shards.size} of ${info.shards} shards`);
      assertSame(await rankings(page), expected, server === plain ? 'plain host' : 'chromatica serve');
      assert.match(await page.getByTestId('index-info').textContent(), new RegExp(`12000 images · ${info.shards} shards`));
      assert.deepEqual(errors, []);
      await page.close();
    }
  } finally { await plain.stop(); await served.stop(); }
  const page = await browser.newPage();
  const errors = watchErrors(page);
  await page.goto('file://' + join(synth, 'index.html'));
  await page.waitForFunction(() => window.chromatica && window.chromatica.ready, null, { timeout: 30000 });
  await page.evaluate(() => window.chromatica.ready);
  assertSame(await rankings(page), expected, 'file://');
  assert.deepEqual(errors.filter((e) => !/favicon/.test(e)), []);
  await page.close();
});

test('a missing or corrupt shard: the page says which file failed and the other shards answer', async () => {
  const site = join(work, 'broken');
  cpSync(synth, site, { recursive: true });
  const server = await startPlainServer(site);
  try {
    // Which shards does this query read?
    const probe = await browser.newPage();
    const requested = indexRequests(probe, server.url);
    await openApp(probe, server.url + '#colors=2E86AB&k=10');
    await probe.locator('[data-testid=result]').first().waitFor();
    await probe.close();
    const shards = [...new Set(requested.filter((p) => p !== 'index/head.bin' && isShard(site, p)))];
    assert.ok(shards.length >= 3, `${shards.length} shards read`);
    // One missing, one whose stored (gzip) bytes are damaged, one whose inflated bytes are.
    rmSync(join(site, shards[0]));
    const stored = readFileSync(join(site, shards[1]));
    stored[stored.length >> 1] ^= 0xff;
    writeFileSync(join(site, shards[1]), stored);
    const inner = inflated(site, shards[2]);
    inner[inner.length - 1] ^= 0xff;
    writeFileSync(join(site, shards[2]), gzipSync(inner));
    const page = await browser.newPage();
    await openApp(page, server.url + '#colors=2E86AB&k=10');
    await page.locator('[data-testid=warnings]').waitFor({ timeout: 15000 });
    const warning = await page.getByTestId('warnings').textContent();
    assert.ok(warning.includes(shards[0]) && /HTTP 404/.test(warning), warning);
    assert.ok(warning.includes(shards[1]) && /could not inflate/.test(warning), warning);
    assert.ok(warning.includes(shards[2]) && /checksum/.test(warning), warning);
    assert.equal(await page.locator('[data-testid=result]').count(), 10, 'the other shards answer');
    const api = await page.evaluate(() => window.chromatica.search({ colors: ['2E86AB'], k: 10 }));
    assert.equal(api.warnings.length, 3);
    await page.close();
  } finally { await server.stop(); }
});

/** A 16×16 24-bit BMP of two colors (left `split` columns `a`, the rest `b`). */
function bmp(a, b, split) {
  const w = 16, h = 16, row = w * 3, size = 54 + row * h;
  const buf = Buffer.alloc(size);
  buf.write('BM', 0); buf.writeUInt32LE(size, 2); buf.writeUInt32LE(54, 10); buf.writeUInt32LE(40, 14);
  buf.writeInt32LE(w, 18); buf.writeInt32LE(h, 22); buf.writeUInt16LE(1, 26); buf.writeUInt16LE(24, 28);
  buf.writeUInt32LE(row * h, 34);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const [r, g, bl] = x < split ? a : b;
    const at = 54 + y * row + x * 3;
    buf[at] = bl; buf[at + 1] = g; buf[at + 2] = r;
  }
  return buf;
}

test('a rebuild with one image changed rewrites only its shards; the page finds the new image', async () => {
  const images = join(work, 'many');
  mkdirSync(images, { recursive: true });
  let s = 0x9e3779b9;
  const next = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
  for (let i = 0; i < 2300; i++) {
    const a = [next() & 255, next() & 255, next() & 255], b = [next() & 255, next() & 255, next() & 255];
    writeFileSync(join(images, `m${String(i).padStart(4, '0')}.bmp`), bmp(a, b, 2 + (next() % 12)));
  }
  const site = join(work, 'many-site');
  const first = JSON.parse(execFileSync(cli, ['build', images, '--out', site, '--no-originals', '--json']).toString());
  assert.ok(first.shards >= 2, `${first.shards} shards`);
  const files = () => {
    const out = new Map();
    const walk = (dir) => { for (const e of readdirSync(join(site, dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      // Compressed copies (.br, .gz) follow their files; count the files.
      if (e.isDirectory()) walk(rel); else if (!/\.(br|gz)$/.test(rel)) out.set(rel, statSync(join(site, rel)).ino);
    } };
    walk('index');
    return out;
  };
  const before = files();
  writeFileSync(join(images, 'm0042.bmp'), bmp([250, 250, 20], [250, 250, 20], 8));
  execFileSync(cli, ['build', images, '--out', site, '--no-originals', '--json']);
  const afterwards = files();
  const rewritten = [...afterwards].filter(([f, ino]) => before.get(f) !== ino).map(([f]) => f);
  const pageImages = JSON.parse(execFileSync(cli, ['info', site, '--json']).toString()).params.page_images;
  // A shard's files: its vectors and its pages, each with its .js twin (shards vary in size: 2x).
  const perShard = 2 * (1 + 2 * Math.ceil(2300 / first.shards / pageImages));
  assert.ok(rewritten.includes('index/head.bin'));
  assert.ok(rewritten.length <= 2 + 2 * perShard, `${rewritten.length} of ${afterwards.size} index files rewritten`);
  const server = await startPlainServer(site);
  const page = await browser.newPage();
  try {
    await openApp(page, server.url + '#colors=FAFA14&k=3');
    await page.waitForFunction(() => document.querySelector('[data-testid=path]')?.textContent === 'm0042.bmp', null, { timeout: 15000 });
  } finally { await page.close(); await server.stop(); }
});
