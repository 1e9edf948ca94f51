// A site built with `--background ignore`: the page's query by example image leaves out the
// example's plain background as the CLI does, so both give the same results.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { launchBrowser, startServer, openApp, cli, screenshot } from './lib.mjs';

let browser, server;
const work = mkdtempSync(join(process.env.TMPDIR || '/tmp', 'chromatica-e2e-bg-'));
const images = join(work, 'images');
const site = join(work, 'site');
const objectFiles = new Map();  // 'red-on-white' -> 'red-on-white.png'

/** Draws, in the page, a 320x240 image: `spec.objects` (ellipses with a soft shadow) on a plain
 *  `spec.bg`, or, with `spec.blobs`, a photo-like mixture of blurred color blobs; then adds noise
 *  of ±3 per channel and encodes it as `type`. Returns base64. */
async function drawImage(page, spec, type) {
  return page.evaluate(([spec, type]) => {
    const c = document.createElement('canvas');
    c.width = 320; c.height = 240;
    const g = c.getContext('2d');
    let s = spec.seed >>> 0 || 1;
    const rand = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
    g.fillStyle = spec.bg;
    g.fillRect(0, 0, 320, 240);
    for (const blob of spec.blobs || []) {
      const r = g.createRadialGradient(blob[0], blob[1], 0, blob[0], blob[1], blob[2]);
      r.addColorStop(0, blob[3]);
      r.addColorStop(1, 'rgba(0,0,0,0)');
      g.fillStyle = r;
      g.fillRect(0, 0, 320, 240);
    }
    for (const [color, cx, cy, rx, ry] of spec.objects || []) {
      g.save();
      g.shadowColor = 'rgba(0,0,0,0.35)'; g.shadowBlur = 16; g.shadowOffsetX = 10; g.shadowOffsetY = 12;
      g.fillStyle = color;
      g.beginPath(); g.ellipse(cx, cy, rx, ry, 0, 0, 2 * Math.PI); g.fill();
      g.restore();
    }
    const data = g.getImageData(0, 0, 320, 240);
    for (let i = 0; i < data.data.length; i++) {
      if (i % 4 !== 3) data.data[i] += Math.floor(rand() * 7) - 3;  // clamped by the array
    }
    g.putImageData(data, 0, 0);
    return c.toDataURL(type, 0.85).split(',')[1];
  }, [spec, type]);
}

const OBJECTS = [['#e02030', 'red'], ['#20a040', 'green'], ['#2040d0', 'blue'], ['#f0c818', 'yellow'], ['#9030b0', 'purple']];
const BACKGROUNDS = [['#ffffff', 'white'], ['#060606', 'black'], ['#808080', 'grey']];

before(async () => {
  browser = await launchBrowser();
  mkdirSync(images, { recursive: true });
  const page = await browser.newPage();
  let seed = 1;
  // 15 object photos (each object about 10-25% of the frame), PNG and JPEG alternately.
  for (const [color, name] of OBJECTS) {
    for (const [bg, bgName] of BACKGROUNDS) {
      seed++;
      const rx = 55 + (seed * 7) % 30, ry = 45 + (seed * 11) % 25;
      const type = seed % 2 ? 'image/jpeg' : 'image/png';
      const b64 = await drawImage(page, { seed, bg, objects: [[color, 150 + seed % 20, 115, rx, ry]] }, type);
      const file = `${name}-on-${bgName}.${type === 'image/png' ? 'png' : 'jpg'}`;
      writeFileSync(join(images, file), Buffer.from(b64, 'base64'));
      objectFiles.set(`${name}-on-${bgName}`, file);
    }
  }
  // Ordinary photos: color blobs filling the frame.
  for (let i = 0; i < 5; i++) {
    const blobs = Array.from({ length: 6 }, (_, j) => [(i * 97 + j * 61) % 320, (i * 53 + j * 89) % 240, 120 + (j * 17) % 80,
      `hsl(${(i * 70 + j * 45) % 360} 70% ${35 + (j * 9) % 30}%)`]);
    const b64 = await drawImage(page, { seed: 100 + i, bg: `hsl(${i * 40} 40% 50%)`, blobs }, 'image/jpeg');
    writeFileSync(join(images, `photo-${i}.jpg`), Buffer.from(b64, 'base64'));
  }
  await page.close();
  const summary = JSON.parse(execFileSync(cli, ['build', images, '--out', site, '--background', 'ignore', '--json'], { encoding: 'utf8' }));
  assert.equal(summary.indexed, 20);
  assert.equal(summary.backgrounds_removed, 15, 'every object photo, no blob photo');
  server = await startServer(site);
});
after(async () => { await browser?.close(); server?.stop(); rmSync(work, { recursive: true, force: true }); });

const isReddish = (hex) => {
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return r > g + 80 && r > b + 80;
};

test('background ignore: the page searches an example object photo like chromatica search --image', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await openApp(page, server.url + '#colors=808080&k=10');
  const info = await page.evaluate(() => window.chromatica.info());
  assert.equal(info.background, 'ignore');
  assert.equal(info.backgrounds_removed, 15);
  assert.match(await page.locator('[data-testid=index-info]').textContent(), /plain backgrounds ignored \(15 images\)/);
  const files = ['red-on-white', 'red-on-grey', 'blue-on-black', 'yellow-on-black'].map((n) => objectFiles.get(n));
  assert.ok(files.some((f) => f.endsWith('.png')) && files.some((f) => f.endsWith('.jpg')), files.join());
  for (const file of files) {
    const path = join(images, file);
    const cliResult = JSON.parse(execFileSync(cli, ['search', site, '--image', path, '-k', '10', '--json'], { encoding: 'utf8' }));
    assert.equal(cliResult.results[0].path, file, `the CLI finds ${file} first`);
    await page.locator('[data-testid=image-input]').setInputFiles({ name: file, mimeType: file.endsWith('.png') ? 'image/png' : 'image/jpeg', buffer: readFileSync(path) });
    try {
      await page.waitForFunction((f) => document.querySelector('[data-testid=source]').textContent.includes(f)
        && document.querySelector('[data-testid=path]')?.textContent === f, file, { timeout: 15000 });
    } catch (e) {
      const paths = await page.$$eval('[data-testid=path]', (els) => els.map((el) => el.textContent));
      throw new Error(`${file} is not the page's first result: ${paths.join(', ')} (${e.message})`);
    }
    await page.waitForTimeout(300);
    const shown = await page.$$eval('[data-testid=result]', (cards) => cards.map((c) => [
      c.querySelector('[data-testid=path]').textContent, c.querySelector('[data-testid=distance]').textContent]));
    const expected = cliResult.results.map((r) => [r.path, `ΔE ${r.distance.toFixed(1)}`]);
    assert.deepEqual(shown, expected, `${file}: the page and the CLI differ`);
    // The example's own colors are its object's, not its background's.
    if (file.startsWith('red')) assert.ok(isReddish(await page.locator('[data-testid=hex]').first().inputValue()));
  }
  // A red query on this site: the red objects come first, whatever their backdrop (README picture).
  await page.evaluate(() => { location.hash = '#colors=E02030&weights=1&k=8'; });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=path]').length === 8
    && document.querySelector('[data-testid=path]').textContent.startsWith('red-'));
  const firstThree = await page.$$eval('[data-testid=path]', (els) => els.slice(0, 3).map((el) => el.textContent));
  assert.ok(firstThree.every((p) => p.startsWith('red-')), firstThree.join());
  await page.evaluate(() => Promise.all([...document.querySelectorAll('.card img')].map((i) => i.decode().catch(() => {}))));
  await screenshot(page, 'background');
  await page.close();
});
