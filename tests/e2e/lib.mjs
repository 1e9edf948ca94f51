// Shared helpers for the browser tests: headless Debian Chromium via playwright-core, the site
// served by `chromatica serve` (COOP/COEP) or by a plain static server, and screenshots.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cli = join(repoRoot, 'target', 'release', 'chromatica');
export const siteDir = () => join(repoRoot, 'target', 'e2e-site');
export const chromiumPath = '/usr/bin/chromium';

// Flags for this machine's closed network and for running as root; Playwright adds a fresh, empty
// --user-data-dir (a temporary profile under $TMPDIR, deleted on close) to every launch.
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A fresh headless Chromium; close it with `await browser.close()`. */
export async function launchBrowser(extraArgs = []) {
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} not found: run 'bash scripts/setup.sh' (installs Debian's chromium)`);
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: [...FLAGS, ...extraArgs], timeout: 60000 });
}

function requireCli() {
  if (!existsSync(cli)) throw new Error(`${cli} not found: build it with 'bash scripts/build-web.sh && cargo build --release -p index-builder'`);
}

const children = new Set();
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });

/** `chromatica serve <dir> --port 0` (by default the repository's release binary, or the `cli`
 *  given); resolves with `{url, stop}` once it prints its URL. */
export function startServer(dir, { timeoutMs = 15000, cli: binary = cli } = {}) {
  if (binary === cli) requireCli();
  return new Promise((resolveStart, reject) => {
    const child = spawn(binary, ['serve', dir, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '', err = '', started = false;
    const exited = new Promise((r) => child.once('exit', r));
    const fail = (why) => {
      clearTimeout(timer);
      child.kill();
      reject(new Error(`chromatica serve ${dir} ${why}\nstdout: ${out.trim()}\nstderr: ${err.trim()}`));
    };
    const timer = setTimeout(() => fail(`printed no http://127.0.0.1:PORT/ URL within ${timeoutMs} ms`), timeoutMs);
    child.stdout.on('data', (d) => {
      out += d;
      const m = !started && out.match(/http:\/\/127\.0\.0\.1:\d+\//);
      if (!m) return;
      started = true;
      clearTimeout(timer);
      resolveStart({
        url: m[0],
        /** Stops the server; the returned promise resolves once it has exited. */
        stop: () => { if (child.exitCode === null && child.signalCode === null) child.kill(); children.delete(child); return exited; },
      });
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', (e) => { if (!started) fail(`could not be started: ${e.message}`); });
    child.on('exit', (code, signal) => { children.delete(child); if (!started) fail(`exited early (${signal || code})`); });
  });
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm', '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.png': 'image/png',
  '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp', '.svg': 'image/svg+xml',
  '.bin': 'application/octet-stream', '.txt': 'text/plain; charset=utf-8' };

/** A plain static server on 127.0.0.1 without cross-origin isolation headers (like most static
 *  hosts) and with `Last-Modified` validators (as all send), no compression unless `precompressed` (then a file's `.br` copy, where the build wrote
 *  one, to browsers that accept Brotli, as hosts configured by docs/hosting.md do); resolves with
 *  `{url, stop}`. `onServe(path, bytes)` hears of every response body it sends (the benchmarks
 *  count bytes on the wire with it). */
export function startPlainServer(dir, { onServe, precompressed = false } = {}) {
  const root = resolve(dir);
  return new Promise((resolveStart, reject) => {
    const server = createServer((req, res) => {
      let path;
      try { path = decodeURIComponent(new URL(req.url, 'http://x').pathname); } catch { res.writeHead(400); return res.end(); }
      let file = normalize(join(root, path));
      if (file !== root && !file.startsWith(root + sep)) { res.writeHead(403); return res.end(); }
      if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
      if (!existsSync(file)) { res.writeHead(404, { 'Content-Type': 'text/plain' }); return res.end('not found'); }
      // Validators as every static host sends them (python3 -m http.server: Last-Modified, and 304
      // to If-Modified-Since), so the browser may reuse what it has.
      const modified = new Date(Math.floor(statSync(file).mtimeMs / 1000) * 1000);
      const since = Date.parse(req.headers['if-modified-since'] || '');
      if (since >= modified.getTime()) { res.writeHead(304, { 'Last-Modified': modified.toUTCString() }); return res.end(); }
      const br = precompressed && /\bbr\b/.test(req.headers['accept-encoding'] || '') && existsSync(file + '.br');
      const body = readFileSync(br ? file + '.br' : file);
      const headers = { 'Content-Type': TYPES[extname(file).toLowerCase()] || 'application/octet-stream', 'Content-Length': body.length, 'Last-Modified': modified.toUTCString() };
      if (br) Object.assign(headers, { 'Content-Encoding': 'br', Vary: 'Accept-Encoding' });
      res.writeHead(200, headers);
      if (req.method !== 'HEAD') onServe?.(path, body.length);
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolveStart({
        url: `http://127.0.0.1:${server.address().port}/`,
        stop: () => new Promise((r) => { server.close(() => r()); server.closeAllConnections(); }),
      });
    });
  });
}

/** Collects console errors and page errors of `page` (the returned array fills up as they come). */
export function watchErrors(page) {
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  return errors;
}

/** Opens the app at `url` and waits (30 s at most) until `window.chromatica.ready` resolves;
 *  returns the page's error list (see watchErrors). Fails with the page's errors in the message. */
export async function openApp(page, url, { timeoutMs = 30000 } = {}) {
  const errors = watchErrors(page);
  try {
    await page.goto(url, { timeout: timeoutMs });
    await page.waitForFunction(() => window.chromatica && window.chromatica.ready, null, { timeout: timeoutMs });
    await page.evaluate((ms) => Promise.race([window.chromatica.ready,
      new Promise((_, no) => setTimeout(() => no(new Error(`chromatica.ready did not resolve within ${ms} ms`)), ms))]), timeoutMs);
  } catch (e) {
    throw new Error(`the app at ${url} did not become ready: ${e.message}\npage errors: ${errors.join(' | ') || '(none)'}`);
  }
  return errors;
}

/** Runs the CLI's `search ... --json` and parses its output. */
export async function cliSearch(site, colors, weights, k, extra = []) {
  requireCli();
  const args = ['search', site, '--colors', colors, '-k', String(k), '--json', ...extra];
  if (weights) args.push('--weights', weights);
  const child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const code = await new Promise((r, no) => { child.on('error', no); child.on('close', r); });
  if (code !== 0) throw new Error(`chromatica ${args.join(' ')} exited ${code}: ${err.trim()}`);
  try { return JSON.parse(out); } catch (e) { throw new Error(`chromatica search printed no JSON (${e.message}): ${out.slice(0, 300)}`); }
}

/** Saves a screenshot of the viewport to docs/screenshots/<name>.png. */
export async function screenshot(page, name) {
  const dir = join(repoRoot, 'docs', 'screenshots');
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: false });
}

/** Resolves once the page's engine has answered its first search (its timings are shown; a
 *  pre-rendered page shows none). */
export function engineAnswered(page, { timeoutMs = 30000 } = {}) {
  return page.waitForFunction(() => document.querySelector('[data-testid=timings]')?.textContent.includes('total'), null, { timeout: timeoutMs });
}

let axeSource;
/** axe-core's serious and critical violations on `page` (WCAG 2.1 A/AA rules), as readable lines. */
export async function axeProblems(page) {
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(axeSource);
  return page.evaluate(async () => {
    const result = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations.filter((v) => ['serious', 'critical'].includes(v.impact))
      .map((v) => `${v.id}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ') + ' ' + (n.failureSummary || '').split('\n').slice(1).join(' ')).join(' | ')}`);
  });
}
