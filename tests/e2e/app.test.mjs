// The search experience in headless Chromium against the demo site served by `chromatica serve`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, startServer, openApp, screenshot, siteDir, cliSearch } from './lib.mjs';

let browser, server;
before(async () => { server = await startServer(siteDir()); browser = await launchBrowser(); });
after(async () => { await browser?.close(); server?.stop(); });

async function page(viewport = { width: 1280, height: 900 }) {
  const p = await browser.newPage({ viewport, acceptDownloads: true });
  await openApp(p, server.url);
  return p;
}
const cards = (p) => p.locator('[data-testid=result]');
/** Waits (up to 8 s) until every thumbnail inside the viewport has loaded, so screenshots have no
 *  grey holes; a thumbnail the server never delivers is reported, not failed on (not the app's doing). */
async function thumbsInView(p, t) {
  const loaded = () => [...document.querySelectorAll('.card img')]
    .filter((i) => { const r = i.getBoundingClientRect(); return r.top < innerHeight && r.bottom > 0; })
    .every((i) => i.complete && i.naturalWidth > 0);
  try {
    await p.waitForFunction(loaded, null, { timeout: 8000 });
    // `decoding=async`: loaded is not yet painted; wait for those decodes too.
    await p.evaluate(() => Promise.all([...document.querySelectorAll('.card img')]
      .filter((i) => { const r = i.getBoundingClientRect(); return r.top < innerHeight && r.bottom > 0; })
      .map((i) => i.decode().catch(() => {}))));
  } catch {
    const missing = await p.$$eval('.card img', (els) => els.filter((i) => !i.complete).map((i) => i.getAttribute('src')));
    t.diagnostic(`thumbnails still loading at screenshot time: ${missing.join(', ')}`);
  }
}
const isReddish = (hex) => {
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return r > g + 40 && r > b + 40;
};

test('the demo site loads and shows results for the default query', async (t) => {
  const p = await page();
  await cards(p).first().waitFor();
  assert.equal(await cards(p).count(), 20);
  assert.match(await p.locator('[data-testid=index-info]').textContent(), /172 images/);
  await p.waitForFunction(() => /total \d/.test(document.querySelector('[data-testid=timings]').textContent));
  assert.match(await p.title(), /Chromatica/);
  await thumbsInView(p, t);
  await screenshot(p, 'desktop');
  await p.close();
});

test('a red query typed in the UI ranks red images first', async () => {
  const p = await page();
  await cards(p).first().waitFor();
  const hex = p.locator('[data-testid=hex]').first();
  await hex.fill('FF0000');
  await hex.dispatchEvent('change');
  await p.locator('[data-testid=remove-color]').nth(1).click();
  await p.waitForFunction(() => location.hash.includes('colors=FF0000&'));
  await p.waitForFunction(() => document.querySelectorAll('[data-testid=color-row]').length === 1);
  const api = await p.evaluate(() => window.chromatica.search({ colors: ['FF0000'], weights: [1], k: 5 }));
  // The engine in the worker honours the site's rerank_k (as the CLI does), and a query's own.
  const cli = await cliSearch(siteDir(), 'FF0000', '1', 5);
  assert.equal(api.metadata.candidates, cli.metadata.candidates);
  const narrow = await p.evaluate(() => window.chromatica.search({ colors: ['FF0000'], k: 5, rerank_k: 7 }));
  assert.equal(narrow.metadata.candidates, 7);
  for (const r of api.results.slice(0, 3)) assert.ok(isReddish(r.palette[0][0]), `${r.path} ${JSON.stringify(r.palette)}`);
  await p.waitForFunction((first) => document.querySelector('[data-testid=path]')?.textContent === first, api.results[0].path);
  await p.close();
});

test('the URL hash drives the query and Back restores the previous one', async () => {
  const p = await page();
  const entries = await p.evaluate(() => history.length);
  await p.waitForFunction(() => location.hash.startsWith('#colors=E4572E,F3A712'));
  assert.equal(await p.evaluate(() => history.length), entries, 'the default query replaces the bare URL, no extra entry');
  await p.evaluate(() => { location.hash = '#colors=FF0000&weights=1&k=10'; });
  await p.waitForFunction(() => document.querySelectorAll('[data-testid=result]').length === 10);
  await p.evaluate(() => { location.hash = '#colors=0000FF&weights=1&k=5'; });
  await p.waitForFunction(() => document.querySelectorAll('[data-testid=result]').length === 5);
  assert.equal(await p.locator('[data-testid=hex]').first().inputValue(), '0000FF');
  await p.goBack();
  await p.waitForFunction(() => document.querySelector('[data-testid=hex]').value === 'FF0000');
  await p.waitForFunction(() => document.querySelectorAll('[data-testid=result]').length === 10);
  // A shared link opens on its query.
  const q = await browser.newPage();
  await openApp(q, server.url + '#colors=00FF00,FFFFFF&weights=0.5,0.5&k=7');
  await q.waitForFunction(() => document.querySelectorAll('[data-testid=result]').length === 7);
  assert.equal(await q.locator('[data-testid=hex]').nth(1).inputValue(), 'FFFFFF');
  // k=7 is not one of the select's usual choices: it is offered too, so the select shows it.
  assert.equal(await q.locator('[data-testid=k]').inputValue(), '7');
  await q.locator('[data-testid=k]').selectOption('10');
  await q.waitForFunction(() => document.querySelectorAll('[data-testid=result]').length === 10);
  assert.equal(await q.locator('[data-testid=k]').inputValue(), '10');
  await q.close();
  await p.close();
});

test('the JS API returns the same ranking as the CLI', async () => {
  const p = await page();
  for (const [colors, weights] of [['FF0000', '1'], ['2E86AB,F3A712', '0.7,0.3'], ['101010,E0E0E0,44AF69', '1,1,2']]) {
    const web = await p.evaluate(({ c, w }) => window.chromatica.search({ colors: c.split(','), weights: w.split(',').map(Number), k: 10 }), { c: colors, w: weights });
    const cli = await cliSearch(siteDir(), colors, weights, 10);
    assert.deepEqual(web.results.map((r) => r.id), cli.results.map((r) => r.id), colors);
    web.results.forEach((r, i) => assert.ok(Math.abs(r.distance - cli.results[i].distance) < 1e-9));
    assert.deepEqual(web.query.colors, cli.query.colors);
    assert.equal(web.results_count, 10);
    for (const key of ['query_time_ms', 'ann_time_ms', 'rerank_time_ms', 'total_time_ms']) assert.ok(web.metadata[key] >= 0);
    assert.equal(web.metadata.index_size, 172);
  }
  await p.close();
});

test('"any other color" and colors to avoid: the controls, the URL, the API and the CLI agree', async () => {
  const p = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await openApp(p, server.url + '#colors=D4AF37&weights=1&k=8&any=0.9&not=2E8B57,1E90FF:25');
  await cards(p).first().waitFor();
  assert.ok(await p.locator('[data-testid=any-toggle]').isChecked());
  assert.equal(await p.locator('[data-testid=any-share]').inputValue(), '90');
  assert.deepEqual(await p.locator('[data-testid=avoid-chip]').allTextContents(), ['#2E8B57×', '#1E90FF×']);
  // The page's engine (worker) and the CLI rank alike with both options.
  const web = await p.evaluate(() => window.chromatica.search({ colors: ['D4AF37'], any: 0.9, exclude: ['2E8B57', '1E90FF:25'], k: 8 }));
  const cli = await cliSearch(siteDir(), 'D4AF37', '1', 8, ['--any', '0.9', '--exclude', '2E8B57,1E90FF:25']);
  assert.deepEqual(web.results.map((r) => r.id), cli.results.map((r) => r.id));
  web.results.forEach((r, i) => assert.ok(Math.abs(r.distance - cli.results[i].distance) < 1e-9));
  await p.waitForFunction((first) => document.querySelector('[data-testid=path]')?.textContent === first, web.results[0].path);
  // A wildcard changes the ranking: without it, the same color asks for wholly golden images.
  const plain = await cliSearch(siteDir(), 'D4AF37', '1', 8);
  assert.notDeepEqual(plain.results.map((r) => r.id), cli.results.map((r) => r.id));
  await screenshot(p, 'refine');
  // The controls write the URL: switch the wildcard off, remove a chip, avoid another color.
  await p.locator('[data-testid=any-toggle]').uncheck();
  await p.waitForFunction(() => !location.hash.includes('any='));
  await p.getByRole('button', { name: 'Stop avoiding #2E8B57' }).click();
  await p.waitForFunction(() => location.hash.includes('not=1E90FF:25') && !location.hash.includes('2E8B57'));
  await p.locator('[data-testid=avoid-color]').fill('#ff0000');
  await p.locator('[data-testid=avoid-add]').click();
  await p.waitForFunction(() => /not=1E90FF:25,FF0000(&|$)/.test(location.hash));
  await p.locator('[data-testid=any-toggle]').check();
  await p.waitForFunction(() => location.hash.includes('any=0.6'));
  await assert.rejects(p.evaluate(() => window.chromatica.search({ colors: ['FF0000'], any: 2 })), /any must be a share/);
  await p.close();
});

test('bad input shows readable errors', async () => {
  const p = await page();
  await cards(p).first().waitFor();
  const hex = p.locator('[data-testid=hex]').first();
  await hex.fill('GG0000');
  await hex.dispatchEvent('change');
  await p.waitForFunction(() => /"GG0000" is not a hex color/.test(document.querySelector('[data-testid=error]').textContent));
  assert.ok(await p.locator('[data-testid=error]').isVisible());
  await assert.rejects(p.evaluate(() => window.chromatica.search({ colors: ['nothex'] })), /not a hex color/);
  await assert.rejects(p.evaluate(() => window.chromatica.search({ colors: ['FF0000', '00FF00', '0000FF', 'FFFF00', '00FFFF', 'FF00FF'] })), /at most 5 colors/);
  await assert.rejects(p.evaluate(() => window.chromatica.search({ colors: ['FF0000'], weights: [0] })), /greater than 0/);
  await assert.rejects(p.evaluate(() => window.chromatica.search({ colors: ['FF0000'], k: 0 })), /k must be/);
  // The API and the URL share one parser: unknown keys are refused by both, in the same words.
  await assert.rejects(p.evaluate(() => window.chromatica.search({ colors: ['FF0000'], kk: 3 })), /unknown query parameter "kk"/);
  await assert.rejects(p.evaluate(() => window.chromatica.searchSimilar(1, { k: 3, colour: 1 })), /unknown query parameter "colour"/);
  await assert.rejects(p.evaluate(() => window.chromatica.search({ colors: ['FF0000'], rerank_k: 0 })), /rerank_k must be/);
  const typo = await browser.newPage();
  await openApp(typo, server.url + '#colors=FF0000&kk=3');
  await typo.waitForFunction(() => /unknown query parameter "kk"/.test(document.querySelector('[data-testid=error]').textContent));
  await typo.close();
  const bad = await browser.newPage();
  await openApp(bad, server.url + '#colors=FF000&k=5');
  await bad.waitForFunction(() => /link's query is invalid: "FF000" is not a hex color/.test(document.querySelector('[data-testid=error]').textContent));
  await bad.waitForTimeout(800);
  assert.match(await bad.locator('[data-testid=error]').textContent(), /"FF000"/, 'the message stays');
  assert.equal(await bad.locator('[data-testid=result]').count(), 0, 'no results under an invalid link');
  assert.equal(await bad.evaluate(() => location.hash), '#colors=FF000&k=5', 'the link is not rewritten');
  // Following a valid link afterwards clears the message and searches again.
  await bad.evaluate(() => { location.hash = '#colors=00FF00&k=4'; });
  await bad.waitForFunction(() => document.querySelectorAll('[data-testid=result]').length === 4);
  assert.ok(await bad.locator('[data-testid=error]').isHidden());
  // An invalid hash typed later also replaces the results by the message.
  await bad.evaluate(() => { location.hash = '#colors=00FF00&weights=-1'; });
  await bad.waitForFunction(() => document.querySelectorAll('[data-testid=result]').length === 0);
  assert.match(await bad.locator('[data-testid=error]').textContent(), /invalid/);
  await bad.close();
  await p.close();
});

test('the query visualisation is drawn and follows the query', async () => {
  const p = await page();
  const sample = () => p.evaluate(() => {
    const c = document.querySelector('[data-testid=query-viz]');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let painted = 0, sum = 0;
    for (let i = 0; i < d.length; i += 4) { if (d[i + 3] > 0) painted++; sum += d[i] * 3 + d[i + 1] * 5 + d[i + 2] * 7; }
    return { painted, sum };
  });
  await p.waitForFunction(() => document.querySelector('[data-testid=query-viz]').getContext('2d').getImageData(10, 10, 1, 1).data[3] > 0);
  const before = await sample();
  assert.ok(before.painted > 10000, `canvas is blank: ${before.painted}`);
  const hex = p.locator('[data-testid=hex]').first();
  await hex.fill('00FF88');
  await hex.dispatchEvent('change');
  await p.waitForTimeout(300);
  const after = await sample();
  assert.notEqual(after.sum, before.sum);
  await p.close();
});

test('more like this finds the image itself first', async () => {
  const p = await page();
  await cards(p).nth(3).waitFor();
  const path = await p.locator('[data-testid=path]').nth(3).textContent();
  await p.locator('[data-testid=more-like-this]').nth(3).click();
  await p.waitForFunction((want) => document.querySelector('[data-testid=path]').textContent === want
    && document.querySelector('[data-testid=source]').textContent.includes('More like'), path);
  const api = await p.evaluate(async (want) => {
    const all = await window.chromatica.search({ colors: ['808080'], k: 100 });
    return all;
  }, path);
  assert.ok(api.results_count > 0);
  const id = await p.evaluate(async () => (await window.chromatica.searchSimilar(5, 3)).results[0].id);
  assert.equal(id, 5);
  await p.close();
});

/** A `width` x `height` image of one color, encoded by the page's canvas as `type`. */
async function solidImage(p, width, height, color, type) {
  const base64 = await p.evaluate(([width, height, color, type]) => {
    const c = document.createElement('canvas');
    c.width = width; c.height = height;
    const g = c.getContext('2d');
    g.fillStyle = color; g.fillRect(0, 0, width, height);
    return c.toDataURL(type).split(',')[1];
  }, [width, height, color, type]);
  return Buffer.from(base64, 'base64');
}

test('query by example image: a red picture finds red images, nothing uploaded', async () => {
  const p = await page();
  await cards(p).first().waitFor();
  const requests = [];
  p.on('request', (r) => requests.push(r.url()));
  const png = await solidImage(p, 400, 300, '#d01010', 'image/png');
  await p.locator('[data-testid=image-input]').setInputFiles({ name: 'red.png', mimeType: 'image/png', buffer: png });
  await p.waitForFunction(() => document.querySelector('[data-testid=source]').textContent.includes('red.png'));
  const firstHex = await p.locator('[data-testid=hex]').first().inputValue();
  assert.ok(isReddish(firstHex), firstHex);
  await p.waitForTimeout(300);
  const topPalette = await p.locator('.card .swatch').first().getAttribute('style');
  const m = topPalette.match(/#([0-9A-F]{6})/i);
  assert.ok(m && isReddish(m[1]), topPalette);
  assert.ok(requests.every((u) => u.startsWith(server.url)), `requests left the site: ${requests}`);
  // WebP is decoded by the browser (the wasm carries JPEG/PNG/GIF decoders), histogrammed in wasm.
  const webp = await solidImage(p, 120, 90, '#1040d0', 'image/webp');
  await p.locator('[data-testid=image-input]').setInputFiles({ name: 'blue.webp', mimeType: 'image/webp', buffer: webp });
  await p.waitForFunction(() => document.querySelector('[data-testid=source]').textContent.includes('blue.webp'));
  const blue = await p.locator('[data-testid=hex]').first().inputValue();
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(blue.slice(i, i + 2), 16));
  assert.ok(b > r + 60 && b > g + 60, blue);
  // A file that is not an image gets a message, not a crash.
  await p.locator('[data-testid=image-input]').setInputFiles({ name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('hello') });
  await p.waitForFunction(() => /notes\.png.*not an image/.test(document.querySelector('[data-testid=image-error]').textContent));
  assert.ok(await p.locator('[data-testid=image-error]').isVisible());
  await p.close();
});

test('the collage downloads as a PNG of the expected size', async () => {
  const p = await page();
  await cards(p).first().waitFor();
  await p.locator('[data-testid=collage-toggle]').click();
  await p.locator('[data-testid=collage-grid]').selectOption('4');
  await p.waitForFunction(() => { const c = document.querySelector('[data-testid=collage]'); return c.width === 4 * 200 + 5 * 6; });
  await p.waitForFunction(() => document.querySelector('[data-testid=collage-status]').textContent === '');
  const [download] = await Promise.all([p.waitForEvent('download'), p.locator('[data-testid=collage-download]').click()]);
  assert.equal(download.suggestedFilename(), 'chromatica-collage.png');
  const path = await download.path();
  const bytes = (await import('node:fs')).readFileSync(path);
  assert.deepEqual([...bytes.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
  assert.equal(bytes.readUInt32BE(16), 4 * 200 + 5 * 6);
  assert.equal(bytes.readUInt32BE(20), 4 * 200 + 5 * 6);
  const decoded = await p.evaluate(async (b64) => {
    const img = new Image();
    img.src = 'data:image/png;base64,' + b64;
    await img.decode();
    return [img.naturalWidth, img.naturalHeight];
  }, bytes.toString('base64'));
  assert.deepEqual(decoded, [830, 830]);
  await p.close();
});

test('searches run in a Web Worker: the page thread has no long tasks', async () => {
  const p = await page();
  const info = await p.evaluate(() => window.chromatica.info());
  assert.equal(info.worker, true);
  assert.match(await p.locator('[data-testid=index-info]').textContent(), /search worker/);
  const longTasks = await p.evaluate(async () => {
    const seen = [];
    const obs = new PerformanceObserver((list) => list.getEntries().forEach((e) => seen.push(e.duration)));
    obs.observe({ entryTypes: ['longtask'] });
    const jobs = [];
    for (let i = 0; i < 40; i++) jobs.push(window.chromatica.searchSimilar(i, 50));
    await Promise.all(jobs);
    await new Promise((r) => setTimeout(r, 100));
    obs.disconnect();
    return seen;
  });
  assert.deepEqual(longTasks.filter((d) => d > 50), [], `long tasks: ${longTasks}`);
  await p.close();
});

test('a phone-sized viewport has no horizontal scroll', async (t) => {
  const p = await page({ width: 375, height: 812 });
  await cards(p).first().waitFor();
  await thumbsInView(p, t);
  const width = await p.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 375, `scrollWidth ${width}`);
  await screenshot(p, 'phone');
  await p.close();
});

test('keyboard only: tab to a hex field, type, and the results follow', async () => {
  const p = await page();
  await cards(p).first().waitFor();
  await p.locator('[data-testid=hex]').first().focus();
  await p.keyboard.press('Control+A');
  await p.keyboard.type('0000FF');
  await p.keyboard.press('Tab');
  await p.waitForFunction(() => location.hash.includes('colors=0000FF'));
  // Focus stays where Tab put it (the row is updated in place, not rebuilt), and arrows keep working.
  const focused = () => p.evaluate(() => document.activeElement?.getAttribute('data-testid'));
  assert.equal(await focused(), 'weight');
  const w0 = Number(await p.locator('[data-testid=weight]').first().inputValue());
  const hash0 = await p.evaluate(() => location.hash);
  for (let i = 0; i < 5; i++) await p.keyboard.press('ArrowLeft');
  assert.equal(await focused(), 'weight');
  await p.waitForFunction((w) => Number(document.querySelector('[data-testid=weight]').value) === w - 5, w0);
  await p.waitForFunction((h) => location.hash !== h, hash0);
  // Alt+Down moves the first color below the second (keeping the focus); so does dragging its handle.
  await p.locator('[data-testid=add-color]').click();
  const order = () => p.$$eval('[data-testid=hex]', (els) => els.map((e) => e.value));
  const [a, b] = await order();
  await p.locator('[data-testid=hex]').first().focus();
  await p.keyboard.press('Alt+ArrowDown');
  await p.waitForFunction(([a, b]) => { const v = [...document.querySelectorAll('[data-testid=hex]')].map((e) => e.value); return v[0] === b && v[1] === a; }, [a, b]);
  await p.waitForFunction((a) => document.activeElement?.value === a, a);
  await p.locator('[data-testid=drag-handle]').nth(1).dragTo(p.locator('[data-testid=color-row]').nth(0));
  await p.waitForFunction(([a, b]) => { const v = [...document.querySelectorAll('[data-testid=hex]')].map((e) => e.value); return v[0] === a && v[1] === b; }, [a, b]);
  // Dragging a slider's thumb with the mouse moves the slider (it does not pick up the row), and
  // selecting text in a hex field with the mouse selects text.
  await p.evaluate(() => { window.rowDrags = 0; document.addEventListener('dragstart', () => window.rowDrags++, true); });
  const slider = await p.locator('[data-testid=weight]').first().boundingBox();
  const y = slider.y + slider.height / 2;
  await p.mouse.move(slider.x + slider.width * 0.2, y);
  await p.mouse.down();
  for (let i = 1; i <= 10; i++) await p.mouse.move(slider.x + slider.width * (0.2 + i * 0.07), y);
  await p.mouse.up();
  assert.ok(Number(await p.locator('[data-testid=weight]').first().inputValue()) > 80);
  const field = await p.locator('[data-testid=hex]').first().boundingBox();
  await p.mouse.move(field.x + 5, field.y + field.height / 2);
  await p.mouse.down();
  await p.mouse.move(field.x + field.width - 5, field.y + field.height / 2, { steps: 8 });
  await p.mouse.up();
  assert.deepEqual(await p.evaluate(() => [document.activeElement.selectionStart, document.activeElement.selectionEnd]), [0, 6]);
  assert.equal(await p.evaluate(() => window.rowDrags), 0);
  const labels = await p.$$eval('input, select, button', (els) => els.filter((e) => e.offsetParent !== null || e.type === 'file')
    .filter((e) => !(e.getAttribute('aria-label') || e.labels?.length || e.textContent.trim())).map((e) => e.outerHTML));
  assert.deepEqual(labels, [], 'controls without an accessible name');
  await p.close();
});
