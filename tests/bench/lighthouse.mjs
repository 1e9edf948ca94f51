// Lighthouse (12.2.3, mobile preset: simulated slow 4G and a 4x slower CPU) on built sites, in
// headless Debian Chromium. Usage (through lighthouse.sh, which installs Lighthouse):
//   node bench/lighthouse.mjs [--runs N] [--json FILE] LABEL=SITE_DIR[@CLI] ...
// Each site is measured served two ways: `plain`, a static server without compression (like many
// hosts), and `serve`, `chromatica serve` (precompressed files, COOP/COEP); SITE_DIR@CLI names the
// chromatica binary that serves it (to compare an older build side by side). Prints, per site and
// server, the median over the runs of each category score, of the key metrics and of the longest
// main-thread task (simulated, as Lighthouse reports it).
import lighthouse from 'lighthouse';
import * as chromeLauncher from 'chrome-launcher';
import { writeFileSync } from 'node:fs';
import { chromiumPath, startPlainServer, startServer } from '../e2e/lib.mjs';

const args = process.argv.slice(2);
let runs = 3, jsonOut = null;
const sites = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--runs') runs = Number(args[++i]);
  else if (args[i] === '--json') jsonOut = args[++i];
  else {
    const m = args[i].match(/^([^=]+)=([^@]+)(?:@(.+))?$/);
    if (!m) { console.error(`not LABEL=SITE_DIR[@CLI]: ${args[i]}`); process.exit(2); }
    sites.push({ label: m[1], dir: m[2], cli: m[3] });
  }
}
if (!sites.length || !(runs >= 1)) {
  console.error('usage: node bench/lighthouse.mjs [--runs N] [--json FILE] LABEL=SITE_DIR[@CLI] ...');
  process.exit(2);
}

const METRICS = {
  fcp: 'first-contentful-paint', lcp: 'largest-contentful-paint', tbt: 'total-blocking-time',
  cls: 'cumulative-layout-shift', si: 'speed-index', tti: 'interactive',
};
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };

const chrome = await chromeLauncher.launch({
  chromePath: chromiumPath,
  chromeFlags: ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
const rows = [];
try {
  for (const site of sites) {
    for (const mode of ['plain', 'serve']) {
      const server = await (mode === 'plain' ? startPlainServer(site.dir) : startServer(site.dir, { cli: site.cli }));
      const samples = [];
      try {
        for (let r = 0; r < runs; r++) {
          const result = await lighthouse(server.url, { port: chrome.port, output: 'json', logLevel: 'error' });
          const lhr = result.lhr;
          if (lhr.runtimeError) throw new Error(`${site.label}/${mode}: ${lhr.runtimeError.message}`);
          const s = {};
          for (const [k, c] of Object.entries(lhr.categories)) s[k] = c.score;
          for (const [k, id] of Object.entries(METRICS)) s[k] = lhr.audits[id].numericValue;
          s.failing = Object.values(lhr.audits)
            .filter((a) => a.score !== null && a.score < 1 && ['binary', 'numeric'].includes(a.scoreDisplayMode) && !Object.values(METRICS).includes(a.id))
            .map((a) => a.id);
          s.longestTask = Math.max(0, ...(lhr.audits['long-tasks']?.details?.items ?? []).map((t) => t.duration));
          samples.push(s);
        }
      } finally {
        await server.stop();
      }
      const row = { site: site.label, server: mode };
      for (const k of ['performance', 'accessibility', 'best-practices', 'seo', ...Object.keys(METRICS), 'longestTask']) row[k] = median(samples.map((s) => s[k]));
      row.failing = [...new Set(samples.flatMap((s) => s.failing))];
      rows.push(row);
      console.log(`${row.site.padEnd(10)} ${row.server.padEnd(6)} perf ${row.performance.toFixed(2)} a11y ${row.accessibility.toFixed(2)} bp ${row['best-practices'].toFixed(2)} seo ${row.seo.toFixed(2)} | ` +
        `FCP ${(row.fcp / 1000).toFixed(1)} s LCP ${(row.lcp / 1000).toFixed(1)} s TBT ${row.tbt.toFixed(0)} ms CLS ${row.cls.toFixed(3)} SI ${(row.si / 1000).toFixed(1)} s TTI ${(row.tti / 1000).toFixed(1)} s longest task ${row.longestTask.toFixed(0)} ms` +
        (row.failing.length ? ` | below 1: ${row.failing.join(', ')}` : ''));
    }
  }
} finally {
  await chrome.kill();
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ runs, rows }, null, 2));
