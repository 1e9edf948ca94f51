// The first screen: the build pre-renders the default query's results into index.html, so they
// show (and their links work) before the wasm has arrived; the engine then takes over with the
// same ranking (the CLI's) and without moving anything on the page. A link to another query drops
// the pre-render. `chromatica serve` sends the precompressed copies. A site's own title,
// description and accent show before and after the take-over, with its link-preview tags. axe-core
// finds no serious accessibility problem on the page (light and dark) or in an embedded widget.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { launchBrowser, startServer, startPlainServer, siteDir, cliSearch, watchErrors, cli, repoRoot, engineAnswered, axeProblems } from './lib.mjs';

let browser, plain;
before(async () => {
  browser = await launchBrowser();
  plain = await startPlainServer(siteDir());
});
after(async () => { await plain?.stop(); await browser?.close(); });

/** A page whose wasm download waits until `release()` is called. */
async function gatedPage(viewport, options = {}) {
  const page = await browser.newPage({ viewport, ...options });
  let release;
  const gate = new Promise((r) => { release = r; });
  await page.route('**/chromatica_bg.wasm*', async (route) => { await gate; await route.continue(); });
  return { page, release };
}

/** Boxes of the parts of the page a visitor sees move if the layout shifts. */
const boxes = (page) => page.evaluate(() => ['.topbar', '.query', '.presets', '.drop', '.results-panel', '.meta', '.grid',
  '.grid > li:first-child img', '.grid > li:nth-child(2) .path', '.grid > li:last-child'].map((sel) => {
  const r = document.querySelector(sel)?.getBoundingClientRect();
  return r ? `${sel} ${Math.round(r.x)},${Math.round(r.y)} ${Math.round(r.width)}x${Math.round(r.height)}` : `${sel} missing`;
}));

const cardPaths = (page, sel) => page.$$eval(`${sel} .path`, (els) => els.map((e) => e.textContent));

test('pre-rendered results show before the engine, which replaces them with the same ranking and layout', async () => {
  const cli = (await cliSearch(siteDir(), 'E4572E,F3A712', '0.6,0.4', 20)).results.map((r) => r.path);
  assert.equal(cli.length, 20);
  for (const viewport of [{ width: 412, height: 823 }, { width: 1280, height: 900 }]) {
    const { page, release } = await gatedPage(viewport);
    const errors = watchErrors(page);
    await page.goto(plain.url);
    // The wasm has not arrived, yet the results are there, in the CLI's order, with working links.
    await page.waitForSelector('[data-testid=prerendered-results] li');
    assert.deepEqual(await cardPaths(page, '[data-testid=prerendered-results]'), cli, `pre-rendered ranking at ${viewport.width}px`);
    const href = await page.$eval('[data-testid=prerendered-results] li a', (a) => a.href);
    assert.equal((await page.request.get(href)).status(), 200, 'a pre-rendered result opens its original');
    await page.evaluate(() => {
      window.__shifts = 0;
      new PerformanceObserver((list) => { for (const e of list.getEntries()) if (!e.hadRecentInput) window.__shifts += e.value; })
        .observe({ type: 'layout-shift', buffered: true });
    });
    const before = await boxes(page);
    release();
    // The engine's own first search has answered (its timings are shown).
    await engineAnswered(page);
    assert.equal(await page.$('[data-testid=prerendered-results]'), null, 'the app replaced the pre-rendered page');
    assert.deepEqual(await cardPaths(page, '[data-testid=results]'), cli, `the engine's ranking at ${viewport.width}px`);
    assert.deepEqual(await boxes(page), before, `nothing moved when the app took over at ${viewport.width}px`);
    const shifts = await page.evaluate(() => window.__shifts);
    assert.ok(shifts <= 0.05, `cumulative layout shift ${shifts}`);
    assert.deepEqual(errors, []);
    await page.close();
  }
});

test('the pre-rendered links work without JavaScript', async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(plain.url);
  assert.equal(await page.locator('[data-testid=prerendered-results] li').count(), 20);
  const description = await page.getAttribute('meta[name=description]', 'content');
  assert.match(description, /^Search \d+ images by color/);
  await context.close();
});

test('from file:// the pre-rendered page is taken over the same way', async () => {
  const cli = (await cliSearch(siteDir(), 'E4572E,F3A712', '0.6,0.4', 20)).results.map((r) => r.path);
  const page = await browser.newPage();
  const errors = watchErrors(page);
  await page.goto(pathToFileURL(join(siteDir(), 'index.html')).href);
  await engineAnswered(page);
  assert.equal(await page.$('[data-testid=prerendered-results]'), null);
  assert.deepEqual(await cardPaths(page, '[data-testid=results]'), cli);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a link to another query drops the pre-rendered results', async () => {
  const { page, release } = await gatedPage({ width: 1280, height: 900 });
  await page.goto(plain.url + '#colors=2E86AB&k=10');
  await page.waitForSelector('#app p.boot');
  assert.equal(await page.$('[data-testid=prerendered-results]'), null);
  release();
  await page.waitForSelector('[data-testid=result]', { timeout: 30000 });
  const cli = (await cliSearch(siteDir(), '2E86AB', null, 10)).results.map((r) => r.path);
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=result]').length === n, cli.length);
  assert.deepEqual(await cardPaths(page, '[data-testid=results]'), cli);
  await page.close();
});

test('chromatica serve sends the precompressed app, and the page runs on it', async () => {
  const server = await startServer(siteDir());
  try {
    const page = await browser.newPage();
    const glue = page.waitForResponse((r) => r.url().endsWith('/chromatica.js'));
    // The wasm comes as its gzip twin from every host (boot.js), inflated by the page.
    const wasm = page.waitForResponse((r) => r.url().endsWith('/chromatica_bg.wasm.gz'));
    await page.goto(server.url);
    assert.equal((await glue).headers()['content-encoding'], 'br');
    const twin = await wasm;
    assert.equal(twin.headers()['content-encoding'], undefined);
    assert.ok((await twin.body()).length < statSync(join(siteDir(), 'chromatica_bg.wasm')).size / 2);
    await engineAnswered(page);
    assert.equal(await page.locator('[data-testid=result]').count(), 20);
    await page.close();
  } finally {
    await server.stop();
  }
});

test('a site of its own: title, description and accent in the page, before and after the take-over', async () => {
  const root = mkdtempSync(join(process.env.TMPDIR || '/tmp', 'chromatica-own-'));
  try {
    const images = join(root, 'images');
    mkdirSync(images);
    for (const f of readdirSync(join(repoRoot, 'demo-images')).filter((f) => /\.jpe?g$/i.test(f)).slice(0, 12)) cpSync(join(repoRoot, 'demo-images', f), join(images, f));
    writeFileSync(join(images, 'chromatica.toml'), 'title = "Harbour <photos>"\ndescription = "Boats & water, by color"\naccent = "#1f6f8f"\n');
    execFileSync(cli, ['build', images, '--out', join(root, 'site'), '--base-url', 'https://example.org/harbour/']);
    const server = await startPlainServer(join(root, 'site'));
    try {
      const { page, release } = await gatedPage({ width: 1280, height: 900 });
      await page.goto(server.url);
      const header = () => page.evaluate(() => [document.title, document.querySelector('h1').textContent, document.querySelector('.tagline').textContent,
        getComputedStyle(document.documentElement).getPropertyValue('--accent').trim(), document.querySelector('.credit')?.textContent ?? '']);
      const expected = ['Harbour <photos>', 'Harbour <photos>', 'Boats & water, by color', '#1F6F8F', 'Color search by Chromatica: it runs entirely in your browser.'];
      assert.deepEqual(await header(), expected, 'pre-rendered');
      release();
      await engineAnswered(page);
      assert.deepEqual(await header(), expected, 'the app');
      const og = await page.$$eval('meta[property^="og:"]', (ms) => Object.fromEntries(ms.map((m) => [m.getAttribute('property'), m.content])));
      assert.equal(og['og:image'], 'https://example.org/harbour/preview.jpg');
      assert.equal(og['og:title'], 'Harbour <photos>');
      assert.equal((await page.request.get(server.url + 'preview.jpg')).status(), 200);
      await page.close();
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('axe-core finds no serious accessibility problem on the page, light and dark, or in a widget', async () => {
  for (const colorScheme of ['light', 'dark']) {
    const page = await browser.newPage({ colorScheme, viewport: { width: 1280, height: 900 } });
    await page.goto(plain.url);
    await engineAnswered(page);
    assert.deepEqual(await axeProblems(page), [], `the page (${colorScheme})`);
    await page.close();
  }
  const root = mkdtempSync(join(process.env.TMPDIR || '/tmp', 'chromatica-axe-'));
  try {
    cpSync(siteDir(), join(root, 'gallery'), { recursive: true });
    writeFileSync(join(root, 'index.html'), '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Docs page</title></head>' +
      '<body><main><h1>Our palettes</h1><div data-chromatica="gallery/"></div></main><script src="gallery/embed.js"></script></body></html>');
    const host = await startPlainServer(root);
    try {
      for (const colorScheme of ['light', 'dark']) {
        const page = await browser.newPage({ colorScheme });
        await page.goto(host.url);
        await page.waitForFunction(() => document.querySelector('[data-chromatica]').shadowRoot?.querySelectorAll('[data-testid=result]').length > 0, null, { timeout: 30000 });
        assert.deepEqual(await axeProblems(page), [], `an embedded widget (${colorScheme})`);
        await page.close();
      }
    } finally {
      await host.stop();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
