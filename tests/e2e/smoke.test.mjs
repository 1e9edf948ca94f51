// Smoke test: the served e2e site boots in headless Chromium, and the page's JS API answers a
// query with the documented shape and the same ranking as the CLI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, startServer, openApp, siteDir, cliSearch } from './lib.mjs';

let browser, server;
before(async () => { server = await startServer(siteDir()); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await server?.stop(); });

test('the app boots and window.chromatica.search matches the CLI', async () => {
  const page = await browser.newPage();
  try {
    await openApp(page, server.url);
    assert.match(await page.title(), /Chromatica/);

    const web = await page.evaluate(() => window.chromatica.search({ colors: ['FF0000'], weights: [1], k: 5 }));
    assert.equal(web.results.length, 5);
    assert.equal(web.results_count, 5);
    web.results.forEach((r, i) => {
      assert.equal(r.rank, i + 1, `rank of result ${i}`);
      assert.equal(typeof r.distance, 'number');
      assert.ok(Number.isFinite(r.distance), `distance of result ${i} is ${r.distance}`);
      if (i > 0) assert.ok(web.results[i - 1].distance <= r.distance, `results sorted by distance at ${i}`);
      for (const key of ['id', 'path', 'thumb']) assert.ok(key in r, `result ${i} has ${key}`);
    });

    const cli = await cliSearch(siteDir(), 'FF0000', '1', 5);
    assert.deepEqual(web.results.map((r) => r.id), cli.results.map((r) => r.id));
    web.results.forEach((r, i) => assert.ok(Math.abs(r.distance - cli.results[i].distance) < 1e-9,
      `distance ${i}: page ${r.distance}, CLI ${cli.results[i].distance}`));
  } finally {
    await page.close();
  }
});
