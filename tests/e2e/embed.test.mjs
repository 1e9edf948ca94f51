// Two widgets embedded in a foreign page with hostile global CSS: both work, neither leaks styles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, startServer, siteDir, repoRoot, watchErrors } from './lib.mjs';

test('two embedded widgets search inside a hostile host page without leaking CSS', async () => {
  const root = mkdtempSync(join(process.env.TMPDIR || '/tmp', 'chromatica-embed-'));
  cpSync(siteDir(), join(root, 'gallery'), { recursive: true });
  cpSync(join(repoRoot, 'tests', 'embed', 'host.html'), join(root, 'index.html'));
  const server = await startServer(root);
  const browser = await launchBrowser();
  try {
    // The host page's own styles, measured without the widget script.
    const bare = await browser.newPage({ viewport: { width: 1000, height: 1200 } });
    await bare.route('**/embed.js', (r) => r.abort());
    await bare.goto(server.url);
    const hostStyle = (p) => p.evaluate(() => {
      const card = getComputedStyle(document.getElementById('host-card'));
      const title = document.getElementById('title').getBoundingClientRect();
      return { bg: card.backgroundColor, pad: card.padding, font: getComputedStyle(document.body).fontSize, title: [title.x, title.y, title.width, title.height] };
    });
    const before = await hostStyle(bare);
    await bare.close();
    const page = await browser.newPage({ viewport: { width: 1000, height: 1200 } });
    const errors = watchErrors(page);
    await page.goto(server.url);
    for (const id of ['widget-1', 'widget-2']) {
      await page.waitForFunction((id) => document.getElementById(id).shadowRoot?.querySelectorAll('[data-testid=result]').length > 0, id, { timeout: 30000 });
    }
    assert.deepEqual(await hostStyle(page), before, 'widget CSS leaked into the host page');
    // Inside: the widget's own styles win over the host's global rules.
    const inside = await page.evaluate(() => {
      const root = document.getElementById('widget-1').shadowRoot;
      const img = root.querySelector('[data-testid=result] img');
      const grid = root.querySelector('[data-testid=results]');
      const add = root.querySelector('[data-testid=add-color]');
      return { img: getComputedStyle(img).display, grid: getComputedStyle(grid).display, font: getComputedStyle(add).fontFamily,
        canvas: getComputedStyle(root.querySelector('[data-testid=query-viz]')).display, header: !!root.querySelector('.topbar') };
    });
    assert.equal(inside.img, 'block');
    assert.equal(inside.grid, 'grid');
    assert.doesNotMatch(inside.font, /Georgia/);
    assert.equal(inside.header, false, 'compact widget has no page chrome');
    // The two widgets are independent.
    const hex = page.locator('#widget-2 >> [data-testid=hex]').first();
    await hex.fill('0000FF');
    await hex.dispatchEvent('change');
    await page.waitForFunction(() => {
      const a = document.getElementById('widget-1').shadowRoot.querySelector('[data-testid=hex]').value;
      const b = document.getElementById('widget-2').shadowRoot.querySelector('[data-testid=hex]').value;
      return a !== b && b === '0000FF';
    });
    assert.equal(new URL(page.url()).hash, '', 'an embedded widget must not touch the host URL');
    assert.deepEqual(errors, []);
    await page.screenshot({ path: join(repoRoot, 'docs', 'screenshots', 'embed.png') });
  } finally {
    await browser.close();
    server.stop();
    rmSync(root, { recursive: true, force: true });
  }
});
