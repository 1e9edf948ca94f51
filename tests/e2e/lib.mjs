// Shared helpers for the browser tests: headless Debian Chromium via playwright-core, the site
// served by `chromatica serve` (COOP/COEP) or by a plain static server, and screenshots.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cli = join(repoRoot, 'target', 'release', 'chromatica');
export const siteDir = () => join(repoRoot, 'target', 'e2e-site');

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A fresh headless Chromium (Playwright gives each launch a new empty profile under TMPDIR). */
export async function launchBrowser(extraArgs = []) {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: [...FLAGS, ...extraArgs] });
}

/** `chromatica serve <dir> --port 0`; resolves with its URL. */
export function startServer(dir) {
  return new Promise((resolveStart, reject) => {
    const child = spawn(cli, ['serve', dir, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    const timer = setTimeout(() => { child.kill(); reject(new Error(`chromatica serve did not start: ${err}`)); }, 15000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/http:\/\/127\.0\.0\.1:\d+\//);
      if (m) { clearTimeout(timer); resolveStart({ url: m[0], stop: () => child.kill() }); }
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`chromatica serve exited (${code}): ${err}`)); });
  });
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.wasm': 'application/wasm',
  '.css': 'text/css', '.json': 'application/json', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg',
  '.bin': 'application/octet-stream', '.svg': 'image/svg+xml', '.gif': 'image/gif', '.webp': 'image/webp' };

/** A plain static server without cross-origin isolation headers (like most static hosts). */
export function startPlainServer(dir) {
  return new Promise((resolveStart) => {
    const server = createServer((req, res) => {
      const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      let file = normalize(join(dir, path));
      if (!file.startsWith(resolve(dir) + sep) && file !== resolve(dir)) { res.writeHead(403); return res.end(); }
      if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
      if (!existsSync(file)) { res.writeHead(404); return res.end('not found'); }
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] || 'application/octet-stream' });
      res.end(readFileSync(file));
    });
    server.listen(0, '127.0.0.1', () => {
      resolveStart({ url: `http://127.0.0.1:${server.address().port}/`, stop: () => server.close() });
    });
  });
}

/** Collects console errors and page errors of `page` (returned array fills up as they come). */
export function watchErrors(page) {
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  return errors;
}

/** Opens the app and waits for the index to load. */
export async function openApp(page, url) {
  const errors = watchErrors(page);
  await page.goto(url);
  try {
    await page.waitForFunction(() => window.chromatica && window.chromatica.ready, null, { timeout: 30000 });
    await page.evaluate(() => window.chromatica.ready);
  } catch (e) {
    throw new Error(`app did not become ready: ${e.message}; page errors: ${errors.join(' | ')}`);
  }
  return errors;
}

/** Runs the CLI's search and parses its JSON. */
export async function cliSearch(site, colors, weights, k) {
  const args = ['search', site, '--colors', colors, '-k', String(k), '--json'];
  if (weights) args.push('--weights', weights);
  const child = spawn(cli, args);
  let out = '', err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const code = await new Promise((r) => child.on('exit', r));
  if (code !== 0) throw new Error(`chromatica search failed: ${err}`);
  return JSON.parse(out);
}

export async function screenshot(page, name) {
  const dir = join(repoRoot, 'docs', 'screenshots');
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: false });
}
