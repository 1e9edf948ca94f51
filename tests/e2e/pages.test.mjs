// Error states and hostile content: a broken bundle, hostile file names, offline file:// mode.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { launchBrowser, startServer, startPlainServer, openApp, siteDir, cli, watchErrors, repoRoot } from './lib.mjs';

let browser;
const work = mkdtempSync(join(process.env.TMPDIR || '/tmp', 'chromatica-e2e-'));
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); rmSync(work, { recursive: true, force: true }); });

test('a truncated or corrupted bundle shows a readable error in the page', async () => {
  for (const [name, mutate, message] of [
    ['truncated', (b) => b.subarray(0, b.length >> 1), /truncated/],
    ['flipped', (b) => { const c = Buffer.from(b); c[c.length - 5] ^= 0xff; return c; }, /checksum/],
    ['html', () => Buffer.from('<html>404</html>'), /not a Chromatica bundle/],
  ]) {
    const dir = join(work, name);
    cpSync(siteDir(), dir, { recursive: true });
    writeFileSync(join(dir, 'bundle.bin'), mutate(readFileSync(join(dir, 'bundle.bin'))));
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
    for (const h of hrefs) assert.match(h, /^originals\/[0-9a-f]{16}\.jpg$/);
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

test('a plain static host (no cross-origin isolation headers) works the same', async () => {
  const plain = await startPlainServer(siteDir());
  const isolated = await startServer(siteDir());
  const a = await browser.newPage();
  const b = await browser.newPage();
  try {
    const errors = await openApp(a, plain.url);
    await openApp(b, isolated.url);
    assert.equal(await a.evaluate(() => window.crossOriginIsolated), false);
    assert.equal(await b.evaluate(() => window.crossOriginIsolated), true);
    const q = { colors: ['44AF69', 'F0E0D0'], weights: [2, 1], k: 15 };
    const [ra, rb] = await Promise.all([a.evaluate((q) => window.chromatica.search(q), q), b.evaluate((q) => window.chromatica.search(q), q)]);
    assert.deepEqual(ra.results.map((r) => [r.id, r.distance]), rb.results.map((r) => [r.id, r.distance]));
    await a.locator('[data-testid=result]').first().waitFor();
    assert.deepEqual(errors, []);
  } finally { await a.close(); await b.close(); plain.stop(); isolated.stop(); }
});
