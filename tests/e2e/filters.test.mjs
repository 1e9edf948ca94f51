// Filters in the page: a site whose images sit in folders, with a sidecar of titles, tags, dates and
// links (one hostile title, one javascript: link). Words narrow a color search as they are typed,
// folder and tag chips show correct counts and filter when clicked, the URL carries the filter
// both ways, the JS API equals the CLI with filters, a selective filter returns exactly its images
// in exhaustive order, text alone lists images without colors, and an embed's data-filter holds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { launchBrowser, startPlainServer, watchErrors, screenshot, cli, repoRoot, engineAnswered, axeProblems } from './lib.mjs';

const FOLDERS = ['2023/iceland', '2023/oslo', '2024/kyoto'];
let browser, server, dir, site, rows;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chromatica-filters-'));
  const images = join(dir, 'images');
  const demo = readdirSync(join(repoRoot, 'demo-images')).filter((f) => f.endsWith('.jpg')).sort().slice(0, 60);
  rows = ['path,title,tags,date,url,photographer'];
  demo.forEach((f, i) => {
    const folder = FOLDERS[i % 3];
    mkdirSync(join(images, folder), { recursive: true });
    cpSync(join(repoRoot, 'demo-images', f), join(images, folder, f));
    const title = i === 4 ? '<img src=x onerror="window.hacked=1">Skógafoss' : `Photo ${i} ${i % 2 ? 'harbour' : 'meadow'}`;
    const tags = [i % 4 === 0 ? 'Sea' : 'land', i % 5 === 0 ? 'night' : ''].filter(Boolean).join(';');
    const url = i === 7 ? 'javascript:alert(1)' : `pages/${i}.html`;
    rows.push(`${folder}/${f},"${title.replace(/"/g, '""')}",${tags},202${3 + (i % 2)}-0${1 + (i % 9)}-1${i % 10},${url},Ann Other ${i}`);
  });
  writeFileSync(join(dir, 'meta.csv'), rows.join('\n') + '\n');
  site = join(dir, 'site');
  execFileSync(cli, ['build', images, '--out', site, '--metadata', join(dir, 'meta.csv'), '--no-precompress'], { stdio: 'pipe' });
  browser = await launchBrowser();
  server = await startPlainServer(site);
});
after(async () => { await server?.stop(); await browser?.close(); rmSync(dir, { recursive: true, force: true }); });

const cliJson = (args) => JSON.parse(execFileSync(cli, ['search', site, '--json', ...args], { encoding: 'utf8' }));
const shown = (page) => page.$$eval('[data-testid=results] [data-testid=path]', (els) => els.map((e) => e.textContent));
const settled = (page, paths) => page.waitForFunction((want) =>
  JSON.stringify([...document.querySelectorAll('[data-testid=results] [data-testid=path]')].map((e) => e.textContent)) === want, JSON.stringify(paths), { timeout: 15000 });

test('words narrow a color search as they are typed; the URL carries them both ways', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = watchErrors(page);
  await page.goto(server.url + '#colors=2E86AB,F3A712&weights=0.5,0.5&k=10');
  await engineAnswered(page);
  await page.locator('[data-testid=filter-text]').pressSequentially('harb', { delay: 30 });
  // "harb" is a prefix of "harbour": odd-numbered photos only, ranked as the CLI ranks them.
  const want = cliJson(['--colors', '2E86AB,F3A712', '--weights', '0.5,0.5', '-k', '10', '--text', 'harb']);
  assert.ok(want.results.length === 10 && want.results.every((r) => r.title.includes('harbour')));
  await settled(page, want.results.map((r) => r.path));
  assert.match(await page.locator('[data-testid=matching]').textContent(), /^30 images match$/);
  await page.waitForFunction(() => location.hash.includes('q=harb'));
  // A year in the date field: taken once it is a date (a partial one leaves the search alone).
  await page.locator('[data-testid=filter-from]').pressSequentially('2024', { delay: 30 });
  await page.waitForFunction(() => location.hash.includes('from=2024'));
  const dated = cliJson(['--colors', '2E86AB,F3A712', '--weights', '0.5,0.5', '-k', '10', '--text', 'harb', '--from', '2024']);
  await settled(page, dated.results.map((r) => r.path));
  assert.match(await page.locator('[data-testid=matching]').textContent(), new RegExp(`^${dated.metadata.matching} images match$`));
  await page.locator('[data-testid=filter-from]').fill('');
  await page.waitForFunction(() => !location.hash.includes('from='));
  // A link with a filter opens filtered.
  const other = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await other.goto(server.url + '#colors=2E86AB,F3A712&weights=0.5,0.5&k=10&q=harb');
  await engineAnswered(other);
  await settled(other, want.results.map((r) => r.path));
  assert.equal(await other.locator('[data-testid=filter-text]').inputValue(), 'harb');
  await other.close();
  assert.deepEqual(errors, []);
  await page.close();
});

test('folder and tag chips count correctly, filter when clicked, and text alone lists images', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = watchErrors(page);
  await page.goto(server.url + '#colors=E4572E&k=30');
  await engineAnswered(page);
  const chips = async () => page.$$eval('[data-testid=facet]', (els) => els.map((e) => [e.dataset.kind, e.title, Number(e.querySelector('.count')?.textContent)]));
  const top = await chips();
  // Counted independently from the sidecar: 20 images a folder; tags Sea (i % 4 == 0) and night.
  assert.deepEqual(top.filter((c) => c[0] === 'folder').sort(), [['folder', 'Folder 2023', 40], ['folder', 'Folder 2024', 20]]);
  assert.ok(top.some((c) => c[1] === 'Tag Sea' && c[2] === 15), JSON.stringify(top));
  await page.locator('[data-testid=facet][title="Folder 2023"]').click();
  await page.waitForFunction(() => location.hash.includes('folder=2023'));
  const want = cliJson(['--colors', 'E4572E', '-k', '30', '--folder', '2023']);
  await settled(page, want.results.map((r) => r.path));
  assert.ok(want.results.every((r) => r.path.startsWith('2023/')));
  // Inside 2023: its subfolders, counted within it.
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=facet]')].some((e) => e.title === 'Folder 2023/oslo'));
  const inside = await chips();
  assert.deepEqual(inside.filter((c) => c[0] === 'folder').sort(), [['folder', 'Folder 2023/iceland', 20], ['folder', 'Folder 2023/oslo', 20]]);
  // A tag chip, then words alone (the colors removed): the images in the index's order.
  await page.locator('[data-testid=facet][title="Tag Sea"]').click();
  await page.waitForFunction(() => location.hash.includes('tags=sea'));
  assert.equal(await page.locator('[data-testid=facet][title="Tag Sea"]').getAttribute('aria-pressed'), 'true');
  await page.locator('[data-testid=remove-color]').click();
  await page.waitForFunction(() => !location.hash.includes('colors='));
  const listed = cliJson(['--folder', '2023', '--tags', 'sea', '-k', '30']);
  assert.equal(listed.metadata.matching, 10);
  await settled(page, listed.results.map((r) => r.path));
  await screenshot(page, 'filters');
  assert.deepEqual(await axeProblems(page), []);
  await page.setViewportSize({ width: 375, height: 800 });
  await screenshot(page, 'filters-phone');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no sideways scrolling on a phone (${overflow} px)`);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the JS API equals the CLI with filters; a selective filter returns exactly its images in exhaustive order', async () => {
  const page = await browser.newPage();
  await page.goto(server.url);
  await engineAnswered(page);
  const api = await page.evaluate(() => window.chromatica.search({ colors: ['30A050', 'F0E0D0'], k: 20, text: 'photo', folder: '2024', tags: 'night,sea', from: '2023-02', to: '2024' }));
  const cliR = cliJson(['--colors', '30A050,F0E0D0', '-k', '20', '--text', 'photo', '--folder', '2024', '--tags', 'night,sea', '--from', '2023-02', '--to', '2024']);
  assert.deepEqual(api.results.map((r) => r.id), cliR.results.map((r) => r.id));
  api.results.forEach((r, i) => assert.ok(Math.abs(r.distance - cliR.results[i].distance) < 1e-9));
  assert.equal(api.metadata.matching, cliR.metadata.matching);
  // Every image of 2024/kyoto tagged night: all of them (exhaustive), ranked by distance.
  const few = await page.evaluate(() => window.chromatica.search({ colors: ['0B3C5D'], k: 100, folder: '2024/kyoto', tags: 'night' }));
  const expected = rows.slice(1).map((r, i) => [r, i]).filter(([r, i]) => i % 3 === 2 && i % 5 === 0).map(([r]) => r.split(',')[0]).sort();
  assert.deepEqual(few.results.map((r) => r.path).sort(), expected);
  assert.ok(few.results.every((r, i, all) => i === 0 || all[i - 1].distance <= r.distance));
  // Bad filters say what is wrong.
  const bad = await page.evaluate(() => window.chromatica.search({ colors: ['0B3C5D'], from: '2023-13' }).then(() => 'ok', (e) => e.message));
  assert.match(bad, /from must be a date/);
  await page.close();
});

test('a hostile title is text and a javascript: link is refused', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(server.url + '#k=60&q=skogafoss');
  await engineAnswered(page);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=result]').length === 1);
  assert.match(await page.locator('[data-testid=title]').textContent(), /^<img src=x onerror="window.hacked=1">Skógafoss$/);
  assert.equal(await page.evaluate(() => window.hacked), undefined);
  const all = await page.evaluate(() => window.chromatica.search({ colors: ['808080'], k: 60 }));
  assert.ok(all.results.every((r) => !/^javascript:/i.test(r.url || '')));
  assert.ok(all.results.some((r) => r.url === 'pages/8.html'));
  await page.close();
});

test('an embed with data-filter shows only its images', async () => {
  const host = join(site, 'host.html');
  writeFileSync(host, `<!doctype html><html lang="en"><title>Docs</title><link rel="icon" href="data:,"><body><div data-chromatica="./" data-filter="folder=2023/oslo"></div><script src="embed.js"></script></body></html>`);
  const page = await browser.newPage();
  const errors = watchErrors(page);
  await page.goto(server.url + 'host.html');
  const paths = () => page.evaluate(() => [...document.querySelector('[data-chromatica]').shadowRoot.querySelectorAll('[data-testid=path]')].map((e) => e.textContent));
  await page.waitForFunction(() => document.querySelector('[data-chromatica]')?.shadowRoot?.querySelectorAll('[data-testid=path]').length > 0, null, { timeout: 30000 });
  const got = await paths();
  assert.ok(got.length >= 5 && got.every((p) => p.startsWith('2023/oslo/')), JSON.stringify(got));
  assert.deepEqual(errors, []);
  await page.close();
});
