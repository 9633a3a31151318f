// Page load times of the dashboard against a running gate with a large database (by
// hand, not part of the test suite): logs in with DASH_TOKEN at DASH_URL and loads every
// page afresh RUNS times (default 3), printing each load (scripts, session check, the
// page's API calls, drawing) and the median per page.
//
//   DASH_URL=http://127.0.0.1:8081 DASH_TOKEN=bga_... node tests/js/dashboard-timing.mjs

import { chromium } from 'playwright-core';

const env = process.env;
const BASE = env.DASH_URL;
const RUNS = Number(env.RUNS || 3);
const USER = env.DASH_USER || '';
const TEAM = env.DASH_TEAM || '';
const pages = [['overview', '#/overview'], ['users', '#/users'], ['teams', '#/teams'], ['calls', '#/calls'], ['cost', '#/cost'], ['blocking', '#/blocking'], ['prices', '#/prices']];
if (USER) pages.push(['user', `#/users/${USER}`]);
if (TEAM) pages.push(['team', `#/teams/${TEAM}`]);

const browser = await chromium.launch({ executablePath: env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
await page.goto(`${BASE}/`);
await page.getByLabel('Admin token').fill(env.DASH_TOKEN);
await page.getByRole('button', { name: 'Log in' }).click();
await page.locator('#nav').waitFor({ state: 'visible', timeout: 60000 });
for (const [name, hash] of pages) {
  const times = [];
  for (let i = 0; i < RUNS; i += 1) {
    await page.goto('about:blank');
    const started = Date.now();
    await page.goto(`${BASE}/${hash}`);
    try {
      await page.waitForFunction(() => document.body.dataset.loaded, null, { timeout: 60000 });
    } catch (e) {
      console.log(`${name}: not loaded after 60 s: ${(await page.locator('main').innerText()).slice(0, 300)}`);
      throw e;
    }
    times.push(Date.now() - started);
  }
  times.sort((a, b) => a - b);
  console.log(`${name}: median ${times[Math.floor(times.length / 2)]} ms (runs: ${times.join(', ')} ms)`);
}
await browser.close();
