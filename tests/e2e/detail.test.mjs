// The detail view and palettes to take away: a result opens large (click or Enter), ←/→ move
// through the results, Esc closes it and gives the focus back, the URL carries it (Back closes it,
// a link opens it), it works on a phone and inside an embedded widget; palettes are copied as hex,
// CSS and JSON and downloaded as .ase files that parse back to the same colors. "Show more" browses
// on to 1,000 results without reordering what is shown. A sidecar's titles, captions, tags and
// links show as text, and unsafe links are dropped.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { launchBrowser, startPlainServer, siteDir, watchErrors, screenshot, cli, repoRoot, engineAnswered, axeProblems } from './lib.mjs';

let browser, server;
before(async () => {
  browser = await launchBrowser();
  server = await startPlainServer(siteDir());
});
after(async () => { await server?.stop(); await browser?.close(); });

const isOpen = (page) => page.evaluate(() => document.querySelector('[data-testid=detail]').open);
const openId = (page) => new URL(page.url()).hash.match(/[#&]open=(\d+)/)?.[1] ?? null;

/** An Adobe Swatch Exchange file's colors, read independently of the app: [[name, 'RRGGBB']]. */
function parseAse(buf) {
  assert.equal(buf.toString('latin1', 0, 4), 'ASEF');
  const blocks = buf.readUInt32BE(8);
  const out = [];
  let at = 12;
  for (let b = 0; b < blocks; b++) {
    const kind = buf.readUInt16BE(at), len = buf.readUInt32BE(at + 2);
    const block = buf.subarray(at + 6, at + 6 + len);
    at += 6 + len;
    assert.equal(kind, 1);
    const units = block.readUInt16BE(0);
    let name = '';
    for (let i = 0; i < units - 1; i++) name += String.fromCharCode(block.readUInt16BE(2 + 2 * i));
    const m = 2 + 2 * units;
    assert.equal(block.toString('latin1', m, m + 4), 'RGB ');
    const hex = [0, 1, 2].map((c) => Math.round(block.readFloatBE(m + 4 + 4 * c) * 255).toString(16).padStart(2, '0')).join('').toUpperCase();
    out.push([name, hex]);
  }
  assert.equal(at, buf.length);
  return out;
}

test('a result opens in the detail view; arrows, Esc, focus, the URL and Back', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = watchErrors(page);
  await page.goto(server.url);
  await engineAnswered(page);
  const results = await page.evaluate(() => window.chromatica.search({ colors: ['E4572E', 'F3A712'], weights: [0.6, 0.4], k: 20 }));
  const paths = results.results.map((r) => r.path);
  assert.deepEqual(await page.$$eval('[data-testid=results] [data-testid=path]', (els) => els.map((e) => e.textContent)), paths);
  // The view is headed by the collection's title of the image (the demo's sidecar), else its path.
  const heads = results.results.map((r) => r.title || r.path);
  assert.ok(results.results.some((r) => r.title), 'the demo site has titles');
  // Enter on the second result's thumbnail.
  await page.locator('[data-testid=open-detail]').nth(1).focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('[data-testid=detail]').open);
  assert.equal(await page.textContent('[data-testid=detail-title]'), heads[1]);
  if (results.results[1].caption) assert.equal(await page.textContent('[data-testid=detail-caption]'), results.results[1].caption);
  assert.equal(await page.textContent('[data-testid=detail-rank]'), '#2');
  assert.ok((await page.getAttribute('[data-testid=detail-image]', 'src')).endsWith(results.results[1].original));
  assert.equal(await page.locator('[data-testid=detail-palette] li').count(), results.results[1].palette.length);
  assert.equal(openId(page), String(results.results[1].id));
  const entries = await page.evaluate(() => history.length);
  await page.keyboard.press('ArrowRight');
  await page.waitForFunction((p) => document.querySelector('[data-testid=detail-title]')?.textContent === p, heads[2]);
  assert.equal(openId(page), String(results.results[2].id));
  assert.equal(await page.evaluate(() => history.length), entries, 'moving replaces the entry');
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('ArrowLeft');
  await page.waitForFunction(() => document.querySelector('[data-testid=detail-rank]')?.textContent === '#1');
  assert.ok(await page.isDisabled('[data-testid=detail-prev]'));
  // The focus stays inside while open.
  for (let i = 0; i < 12; i++) await page.keyboard.press('Tab');
  assert.ok(await page.evaluate(() => document.querySelector('[data-testid=detail]').contains(document.activeElement)));
  assert.deepEqual(await axeProblems(page), [], 'axe-core on the detail view');
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => !document.querySelector('[data-testid=detail]').open);
  assert.equal(openId(page), null);
  assert.ok(await page.evaluate(() => document.activeElement === document.querySelectorAll('[data-testid=open-detail]')[1]), 'the focus is back on the result it was opened from');
  // Opened by a click, closed by Back.
  await page.locator('[data-testid=open-detail]').nth(4).click();
  await page.waitForFunction(() => document.querySelector('[data-testid=detail]').open);
  await page.goBack();
  await page.waitForFunction(() => !document.querySelector('[data-testid=detail]').open);
  assert.equal(openId(page), null);
  // A link opens it.
  const link = `${server.url}#colors=E4572E,F3A712&weights=0.6,0.4&k=20&open=${results.results[3].id}`;
  const other = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await other.goto(link);
  await other.waitForFunction(() => document.querySelector('[data-testid=detail]')?.open, null, { timeout: 30000 });
  assert.equal(await other.textContent('[data-testid=detail-title]'), heads[3]);
  await screenshot(other, 'detail');
  await other.click('[data-testid=detail-close]');
  await other.waitForFunction(() => !document.querySelector('[data-testid=detail]').open);
  assert.equal(openId(other), null);
  // A link to a result that is not among the results opens nothing, and loses its `open`.
  await other.goto(`${server.url}#colors=E4572E&k=5&open=999999`);
  await other.reload();
  await engineAnswered(other);
  await other.waitForFunction(() => !/open=/.test(location.hash));
  assert.equal(await isOpen(other), false);
  assert.deepEqual(errors, []);
  await other.close();
  await page.close();
});

test('on a phone the detail view fits and its buttons move through the results', async () => {
  const page = await browser.newPage({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
  await page.goto(server.url);
  await engineAnswered(page);
  await page.locator('[data-testid=open-detail]').first().tap();
  await page.waitForFunction(() => document.querySelector('[data-testid=detail]').open);
  const box = await page.locator('[data-testid=detail]').boundingBox();
  assert.ok(box.x >= 0 && box.x + box.width <= 375, `the view fits the screen: ${JSON.stringify(box)}`);
  await page.tap('[data-testid=detail-next]');
  await page.waitForFunction(() => document.querySelector('[data-testid=detail-rank]')?.textContent === '#2');
  await screenshot(page, 'detail-phone');
  await page.tap('[data-testid=detail-close]');
  await page.waitForFunction(() => !document.querySelector('[data-testid=detail]').open);
  await page.close();
});

test('palettes are copied as hex, CSS and JSON and downloaded as .ase that parses back', async () => {
  const context = await browser.newContext({ acceptDownloads: true });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url.replace(/\/$/, '') });
  const page = await context.newPage();
  await page.goto(server.url);
  await engineAnswered(page);
  const clipboard = () => page.evaluate(() => navigator.clipboard.readText());
  // The query's palette.
  await page.click('.query [data-testid=copy-hex]');
  await page.waitForFunction(() => document.querySelector('.query [data-testid=export-status]').textContent.startsWith('Copied'));
  assert.equal(await clipboard(), '#E4572E, #F3A712');
  // A result's palette, in its detail view.
  const first = (await page.evaluate(() => window.chromatica.search({ colors: ['E4572E', 'F3A712'], weights: [0.6, 0.4], k: 20 }))).results[0];
  const hexes = first.palette.map(([hex]) => hex.toUpperCase());
  await page.locator('[data-testid=open-detail]').first().click();
  await page.waitForFunction(() => document.querySelector('[data-testid=detail]').open);
  const detail = '[data-testid=detail]';
  await page.click(`${detail} [data-testid=copy-hex]`);
  await page.waitForFunction(() => document.querySelector('[data-testid=detail] [data-testid=export-status]').textContent.includes('hex'));
  assert.equal(await clipboard(), hexes.map((h) => `#${h}`).join(', '));
  await page.click(`${detail} [data-testid=copy-json]`);
  await page.waitForFunction(() => document.querySelector('[data-testid=detail] [data-testid=export-status]').textContent.includes('JSON'));
  const json = JSON.parse(await clipboard());
  assert.deepEqual(json.map((c) => c.hex), hexes.map((h) => `#${h}`));
  assert.ok(Math.abs(json.reduce((s, c) => s + c.share, 0) - first.palette.reduce((s, [, share]) => s + share, 0)) < 1e-3);
  await page.click(`${detail} [data-testid=copy-css]`);
  await page.waitForFunction(() => document.querySelector('[data-testid=detail] [data-testid=export-status]').textContent.includes('CSS'));
  assert.match(await clipboard(), new RegExp(`--color-1: #${hexes[0].toLowerCase()};`));
  const download = page.waitForEvent('download');
  await page.click(`${detail} [data-testid=download-ase]`);
  const file = await download;
  assert.match(file.suggestedFilename(), /-palette\.ase$/);
  const ase = parseAse(readFileSync(await file.path()));
  assert.deepEqual(ase.map(([, hex]) => hex), hexes);
  assert.deepEqual(ase.map(([name]) => name), hexes.map((h) => `#${h}`));
  // "Search these colors": the palette becomes the query, and stays it once the view's history
  // entry is gone (closing goes Back over it).
  await page.click(`${detail} [data-testid=detail-search-colors]`);
  await page.waitForFunction(() => !document.querySelector('[data-testid=detail]').open);
  await page.waitForTimeout(800);
  const rows = await page.$$eval('[data-testid=hex]', (els) => els.map((e) => e.value.toUpperCase()));
  assert.deepEqual(rows, hexes.slice(0, 5));
  await page.waitForFunction((h) => location.hash.includes(`colors=${h}`), hexes[0]);
  // "More like this" from the view, likewise.
  await page.locator('[data-testid=open-detail]').first().click();
  await page.waitForFunction(() => document.querySelector('[data-testid=detail]').open);
  const similarTo = await page.textContent('[data-testid=results] [data-testid=path]');
  await page.click(`${detail} [data-testid=detail-similar]`);
  await page.waitForFunction(() => !document.querySelector('[data-testid=detail]').open);
  await page.waitForTimeout(800);
  assert.equal(await page.textContent('[data-testid=source]'), `More like “${similarTo}”`);
  await context.close();
});

test('in an embedded widget the detail view opens and closes without touching the host URL', async () => {
  const root = mkdtempSync(join(process.env.TMPDIR || '/tmp', 'chromatica-detail-embed-'));
  try {
    cpSync(siteDir(), join(root, 'gallery'), { recursive: true });
    writeFileSync(join(root, 'index.html'), '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Docs</title></head>' +
      '<body><div data-chromatica="gallery/" id="w"></div><script src="gallery/embed.js"></script></body></html>');
    const host = await startPlainServer(root);
    try {
      const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
      await page.goto(host.url);
      const results = page.locator('#w [data-testid=open-detail]');
      await results.first().waitFor({ timeout: 30000 });
      await results.nth(2).focus();
      await page.keyboard.press('Enter');
      const dialog = page.locator('#w [data-testid=detail]');
      await page.waitForFunction(() => document.getElementById('w').shadowRoot.querySelector('[data-testid=detail]').open);
      assert.equal(await page.locator('#w [data-testid=detail-rank]').textContent(), '#3');
      await page.keyboard.press('ArrowLeft');
      await page.waitForFunction(() => document.getElementById('w').shadowRoot.querySelector('[data-testid=detail-rank]')?.textContent === '#2');
      await page.keyboard.press('Escape');
      await page.waitForFunction(() => !document.getElementById('w').shadowRoot.querySelector('[data-testid=detail]').open);
      assert.equal(await dialog.isVisible(), false);
      assert.ok(await page.evaluate(() => { const root = document.getElementById('w').shadowRoot; return root.activeElement === root.querySelectorAll('[data-testid=open-detail]')[2]; }),
        'the focus is back on the result it was opened from, inside the widget');
      assert.equal(new URL(page.url()).hash, '');
      await page.close();
    } finally {
      await host.stop();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('"Show more" browses to 1,000 results without reordering what is shown, and scrolling them stays smooth', async () => {
  const work = mkdtempSync(join(process.env.TMPDIR || '/tmp', 'chromatica-more-'));
  try {
    const synth = join(work, 'synth');
    execFileSync(cli, ['synth', siteDir(), '--out', synth, '--count', '3000']);
    const host = await startPlainServer(synth);
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors = watchErrors(page);
      await page.goto(host.url + '#colors=2E86AB,F3A712&weights=0.7,0.3&k=50');
      await page.waitForFunction(() => document.querySelectorAll('[data-testid=result]').length === 50, null, { timeout: 30000 });
      const paths = () => page.$$eval('[data-testid=results] [data-testid=path]', (els) => els.map((e) => e.textContent));
      const first = await paths();
      let count = 50;
      while (count < 1000) {
        await page.click('[data-testid=show-more]');
        count = Math.min(count + 50, 1000);
        await page.waitForFunction((n) => document.querySelectorAll('[data-testid=result]').length === n, count, { timeout: 30000 });
      }
      assert.equal(await page.$('[data-testid=show-more]'), null, 'no more after 1,000');
      const all = await paths();
      assert.deepEqual(all.slice(0, 50), first, 'what was shown keeps its places');
      assert.equal(new Set(all).size, 1000, 'no image twice');
      assert.deepEqual(await page.$$eval('[data-testid=rank]', (els) => els.map((e) => e.textContent)), all.map((_, i) => `#${i + 1}`));
      assert.equal(await page.textContent('[data-testid=announce]'), '1000 results');
      await page.waitForFunction(() => /[#&]k=1000(&|$)/.test(location.hash), null, { timeout: 5000 });
      // Scroll through all of them; the page thread never blocks for more than 50 ms.
      const longest = await page.evaluate(async () => {
        const tasks = [];
        const observer = new PerformanceObserver((list) => { for (const e of list.getEntries()) tasks.push(e.duration); });
        observer.observe({ type: 'longtask' });
        const end = document.documentElement.scrollHeight;
        for (let y = 0; y < end; y += 600) {
          window.scrollTo(0, y);
          await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 16)));
        }
        await new Promise((r) => setTimeout(r, 300));
        observer.disconnect();
        return Math.max(0, ...tasks);
      });
      console.log(`# longest task while scrolling 1,000 results: ${longest} ms`);
      assert.ok(longest <= 50, `a ${longest} ms task while scrolling`);
      assert.deepEqual(errors, []);
      await page.close();
    } finally {
      await host.stop();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('titles, captions and links from a sidecar show as text; an unsafe link is never followed', async () => {
  const work = mkdtempSync(join(process.env.TMPDIR || '/tmp', 'chromatica-meta-'));
  try {
    const images = join(work, 'images');
    cpSync(join(repoRoot, 'demo-images'), images, { recursive: true, filter: (src) => !/\.(md|csv)$/.test(src) });
    const files = readdirSync(images).filter((f) => f.endsWith('.jpg')).slice(0, 30);
    for (const f of readdirSync(images)) if (!files.includes(f)) rmSync(join(images, f));
    const hostile = '<img src=x onerror="window.__pwned=1">';
    const lines = ['{"path": "' + files[0] + '", "title": ' + JSON.stringify(hostile) + ', "caption": "Caption <b>bold</b>", "url": "javascript:window.__pwned=1", "tags": ["a", "b"]}',
      '{"path": "' + files[1] + '", "title": "With a page", "url": "pages/one.html"}', 'not json', '{"path": "missing.jpg", "title": "x"}'];
    writeFileSync(join(work, 'meta.jsonl'), lines.join('\n'));
    const out = JSON.parse(execFileSync(cli, ['build', images, '--out', join(work, 'site'), '--metadata', join(work, 'meta.jsonl'), '--json']).toString());
    const warnings = out.metadata_warnings.join('\n');
    assert.match(warnings, /line 3: skipped/);
    assert.match(warnings, /not among the images \(missing\.jpg\)/);
    assert.match(warnings, /url of .* was dropped/);
    const host = await startPlainServer(join(work, 'site'));
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(host.url + '#colors=808080&k=30');
      await page.waitForFunction(() => document.querySelectorAll('[data-testid=result]').length === 30, null, { timeout: 30000 });
      const titles = await page.$$eval('[data-testid=title]', (els) => els.map((e) => e.textContent));
      assert.ok(titles.includes(hostile) && titles.includes('With a page'), JSON.stringify(titles));
      assert.equal(await page.$('img[src=x]'), null, 'the title is text, not markup');
      const hrefs = await page.$$eval('[data-testid=open-detail]', (as) => as.map((a) => a.getAttribute('href')));
      assert.ok(hrefs.includes('pages/one.html'), 'a card links to the page the sidecar names');
      assert.ok(hrefs.every((h) => !/^javascript:/i.test(h)));
      // Its detail view: the title as text, the caption, the tags; no link for the unsafe one.
      const i = await page.evaluate((t) => [...document.querySelectorAll('[data-testid=result]')].findIndex((li) => li.querySelector('[data-testid=title]')?.textContent === t), hostile);
      await page.locator('[data-testid=open-detail]').nth(i).click();
      await page.waitForFunction(() => document.querySelector('[data-testid=detail]').open);
      assert.equal(await page.textContent('[data-testid=detail-title]'), hostile);
      assert.equal(await page.textContent('[data-testid=detail-caption]'), 'Caption <b>bold</b>');
      assert.equal(await page.locator('[data-testid=detail-tags] li').count(), 2);
      assert.equal(await page.$('[data-testid=detail-link]'), null);
      assert.equal(await page.evaluate(() => window.__pwned), undefined);
      await page.close();
    } finally {
      await host.stop();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
