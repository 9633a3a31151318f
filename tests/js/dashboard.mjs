// The dashboard end to end in real headless Chromium (the system's, driven by
// playwright-core): log in; real boto3 calls through the proxy show up on Users and
// Calls with the right counts and cost; block a user on Blocking and see the proxy
// refuse their next call, and that refusal on Calls; unblock; the last minute against the short-term limits on
// the user and team pages; edit a limit; edit a price; export CSV; a change
// without the CSRF token is refused; log out and see the API refuse the old session.
// Takes screenshots of every page at desktop and phone (390 px) width and logs how long
// each page took to load.
//
// Run by tests/it/dashboard.rs, which starts the gate and passes, in the environment:
// DASH_URL (admin listener), DASH_TOKEN (an admin token), GATE_URL, GATE_REGION,
// ALICE_KEY_ID/ALICE_SECRET, BOB_KEY_ID/BOB_SECRET (proxy keys), CALL_COST (USD one
// call costs), CONVERSE_PY (tests/python/converse.py), DASH_SHOTS (screenshot
// directory), CHROMIUM (default /usr/bin/chromium).
// Prints `ok: <check>` per check and `N passed, 0 failed` at the end; exits 1 at the
// first failure.

import { chromium } from 'playwright-core';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const env = process.env;
const BASE = env.DASH_URL;
const SHOTS = env.DASH_SHOTS || '/tmp/dash-shots';
const WAIT = 15000;
let passed = 0;

function need(cond, what) {
  if (!cond) throw new Error(what);
}

async function check(name, fn) {
  try {
    await fn();
  } catch (e) {
    console.log(`FAIL: ${name}: ${e.stack || e}`);
    console.log(`${passed} passed, 1 failed`);
    process.exit(1);
  }
  passed += 1;
  console.log(`ok: ${name}`);
}

/** `count` boto3 Converse calls as alice or bob; the outcome of each. */
async function calls(who, count) {
  const { stdout } = await promisify(execFile)('python3', [env.CONVERSE_PY, String(count)], {
    env: {
      PATH: env.PATH,
      HOME: env.HOME || '/tmp',
      GATE_URL: env.GATE_URL,
      GATE_REGION: env.GATE_REGION,
      GATE_KEY_ID: env[`${who}_KEY_ID`],
      GATE_SECRET: env[`${who}_SECRET`],
      PYTHONDONTWRITEBYTECODE: '1',
    },
    timeout: 60000,
  });
  return JSON.parse(stdout.trim().split('\n').pop());
}

/** Calls as `who` until one call's outcome matches `want` (within WAIT). */
async function callUntil(who, want) {
  const end = Date.now() + WAIT;
  let last = null;
  while (Date.now() < end) {
    [last] = await calls(who, 1);
    if (want.test(last)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${who}'s calls never became ${want} (last: ${last})`);
}

const cellText = (page, table, user, label) => page.locator(`#${table} tbody tr`, { has: page.locator(`td[data-label="User"] a`, { hasText: new RegExp(`^${user}$`) }) })
  .locator(`td[data-label="${label}"]`).innerText();

async function untilText(fn, re, what) {
  const end = Date.now() + WAIT;
  let last = '';
  while (Date.now() < end) {
    try {
      last = await fn();
      if (re.test(last)) return last;
    } catch {
      // not rendered yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: expected ${re}, last saw ${JSON.stringify(last)}`);
}

const loads = [];
/** Loads a page afresh by its address and waits until its data is drawn; logs the time. */
async function open(page, hash, label) {
  await page.goto('about:blank');
  const started = Date.now();
  await page.goto(`${BASE}/${hash}`);
  await page.waitForFunction(() => document.body.dataset.loaded, null, { timeout: WAIT });
  const state = await page.evaluate(() => document.body.dataset.loaded);
  need(!state.includes('failed'), `${label}: ${await page.locator('main').innerText()}`);
  const ms = Date.now() - started;
  const inPage = await page.evaluate(() => performance.getEntriesByName('dashboard-load', 'measure').at(-1)?.duration);
  loads.push({ page: label, ms, render_ms: Math.round(inPage || 0) });
  console.log(`load: ${label} ${ms} ms (data and drawing ${Math.round(inPage || 0)} ms)`);
}

async function shoot(page, name) {
  // From the top: a full-page shot of a scrolled page repeats the sticky header.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

mkdirSync(SHOTS, { recursive: true });
const browser = await chromium.launch({ executablePath: env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, acceptDownloads: true });
const page = await context.newPage();
const problems = [];
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
// The browser logs refused API calls (401, 403: the test makes some on purpose) as
// console errors; script errors are what count.
page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`); });
const perCall = Number(env.CALL_COST);

await check('the login page asks for a token and refuses a wrong one', async () => {
  await page.goto(`${BASE}/`);
  await page.getByLabel('Admin token').fill('bga_wrong');
  await page.getByRole('button', { name: 'Log in' }).click();
  await untilText(() => page.locator('.login [role=alert]').innerText(), /unknown or revoked/, 'login error');
  need(!(await page.locator('#nav').isVisible()), 'no navigation before login');
  await shoot(page, 'login-desktop');
});

await check('logs in with an admin token; the cookie is HttpOnly and SameSite=Strict', async () => {
  await page.getByLabel('Admin token').fill(env.DASH_TOKEN);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('#nav').waitFor({ state: 'visible', timeout: WAIT });
  await page.locator('main h1', { hasText: 'Overview' }).waitFor({ timeout: WAIT });
  const [c] = (await context.cookies()).filter((x) => x.name === 'bg_session');
  need(c && c.httpOnly && c.sameSite === 'Strict', `cookie ${JSON.stringify(c)}`);
  need(!(await page.evaluate(() => document.cookie)).includes('bg_session'), 'the script cannot read the cookie');
});

await check('boto3 calls go through the proxy (alice 3, bob 1)', async () => {
  need(JSON.stringify(await calls('ALICE', 3)) === '["ok","ok","ok"]', 'alice');
  need(JSON.stringify(await calls('BOB', 1)) === '["ok"]', 'bob');
});

const cost3 = `$${(3 * perCall).toFixed(2)}`;
await check(`Users shows alice with 3 calls and ${cost3} today, bob with 1`, async () => {
  await open(page, '#/users', 'users');
  await untilText(() => cellText(page, 'users-table', 'alice', 'Calls today'), /^3 \/ 10\b/, 'alice calls');
  await untilText(() => cellText(page, 'users-table', 'alice', 'Cost today'), new RegExp(`^\\${cost3}`), 'alice cost');
  await untilText(() => cellText(page, 'users-table', 'bob', 'Calls today'), /^1 \//, 'bob calls');
  await shoot(page, 'users-desktop');
});

await check('the Users filter keeps to its team and survives the refresh', async () => {
  await page.getByLabel('Team', { exact: true }).selectOption('platform');
  await untilText(() => page.locator('#users-table tbody').innerText(), /^(?![\s\S]*alice)[\s\S]*bob/, 'only bob');
  const stamp = await page.evaluate(() => document.body.dataset.refreshed || '');
  await page.locator('main h1').click();
  await page.waitForFunction((s) => (document.body.dataset.refreshed || '') !== s, stamp, { timeout: WAIT });
  need(await page.getByLabel('Team', { exact: true }).inputValue() === 'platform', 'filter kept');
  need(!(await page.locator('#users-table tbody').innerText()).includes('alice'), 'still filtered');
  need(page.url().includes('team=platform'), 'the filter is in the address');
  await page.getByLabel('Team', { exact: true }).selectOption('');
});

await check('Calls lists alice\'s 3 calls and shows one call\'s cost', async () => {
  await open(page, '#/calls?user=alice', 'calls');
  await untilText(async () => String(await page.locator('#calls-table tbody tr').count()), /^3$/, 'rows');
  await page.getByLabel('Operation', { exact: true }).selectOption('Converse');
  await page.getByRole('button', { name: 'Apply' }).click();
  await untilText(async () => String(await page.locator('#calls-table tbody tr').count()), /^3$/, 'Converse rows');
  await page.locator('#calls-table tbody tr').first().locator('button.link').click();
  const detail = await untilText(() => page.locator('#call-detail').innerText(), /cost_usd/, 'detail');
  need(detail.includes(String(perCall)), `cost ${perCall} in ${detail}`);
  need(detail.includes('alice') && detail.includes('Converse'), detail);
  await shoot(page, 'calls-desktop');
});

await check('blocking alice on Blocking makes the proxy refuse her next call', async () => {
  await open(page, '#/blocking', 'blocking');
  await page.getByLabel('User', { exact: true }).fill('alice');
  await page.getByLabel('Duration', { exact: true }).selectOption('2h');
  await page.getByLabel('Reason', { exact: true }).fill('end-to-end test');
  await page.getByRole('button', { name: 'Block', exact: true }).click();
  await untilText(() => page.locator('#blocks-table tbody').innerText(), /alice[\s\S]*blocked[\s\S]*end-to-end test/, 'blocked row');
  await callUntil('ALICE', /^AccessDenied/);
  await untilText(() => page.locator('#blocking-audit tbody').innerText(), /alice/, 'blocking trail');
  await untilText(() => page.locator('#admin-audit tbody').innerText(), /dashboard:/, 'admin audit names the session');
  await shoot(page, 'blocking-desktop');
});

await check('Calls shows alice\'s refused call: 403, AccessDeniedException, refused (blocked) and why', async () => {
  await open(page, '#/calls?user=alice&status=403', 'calls (refused)');
  const row = page.locator('#calls-table tbody tr').first();
  await untilText(() => row.innerText(), /403[\s\S]*AccessDeniedException[\s\S]*refused \(blocked\)[\s\S]*end-to-end test/, 'refused row');
  need(/^\$0(\.00)?$/.test((await row.locator('td[data-label="Cost"]').innerText()).trim()), 'a refusal costs nothing');
  await row.locator('button.link').click();
  const detail = await untilText(() => page.locator('#call-detail').innerText(), /refusal_message/, 'refused detail');
  need(/refused\s+blocked/.test(detail) && detail.includes('end-to-end test'), detail);
  await shoot(page, 'calls-refused-desktop');
  await open(page, '#/blocking', 'blocking (again)');
});

await check('unblocking alice lets her calls through again', async () => {
  await page.getByLabel('User', { exact: true }).fill('alice');
  await page.getByLabel('Reason', { exact: true }).fill('test over');
  await page.getByRole('button', { name: 'Unblock' }).click();
  await untilText(() => page.locator('#blocks-table tbody').innerText(), /Nobody is blocked/, 'no block');
  await callUntil('ALICE', /^ok$/);
});

await check('the user and team pages show the last minute against the short-term limits', async () => {
  const card = page.locator('section.card[aria-label^="Last minute"]');
  await open(page, '#/users/alice', 'user (last minute)');
  // alice's calls just now, as the proxy publishes them (every 2 s; the page refreshes every 5 s).
  await untilText(() => card.innerText(), /Calls\s+[1-9][\d,]* \/ 600\b[\s\S]*Tokens \(in \+ out\)\s+[\d,]+ \/ no limit[\s\S]*In flight now\s+0 \/ 4\b/, 'alice\'s last minute');
  await open(page, '#/teams/research', 'team (last minute)');
  await untilText(() => card.innerText(), /Calls\s+[1-9][\d,]* \/ no limit[\s\S]*Tokens \(in \+ out\)\s+[1-9][\d,]* \/ 1,000,000\b[\s\S]*In flight now\s+0 \/ no limit/, 'research\'s last minute');
});

await check('editing alice\'s daily call limit on her page', async () => {
  await open(page, '#/users/alice', 'user');
  await page.getByLabel('Calls per day').fill('50');
  await page.getByRole('button', { name: 'Save limits' }).click();
  await untilText(() => page.locator('.card').first().innerText(), /\/ 50\b/, 'limit shown');
  const info = await page.evaluate(() => fetch('/api/v1/users/alice').then((r) => r.json()));
  need(info.limits.daily_requests === 50, JSON.stringify(info.limits));
  await page.getByLabel('Calls per day').fill('ten');
  await page.getByRole('button', { name: 'Save limits' }).click();
  await untilText(() => page.locator('#toast').innerText(), /whole number/, 'bad input refused');
  await shoot(page, 'user-desktop');
});

await check('issuing a key on the user page shows its secret once; revoking it', async () => {
  await page.getByLabel('Tool', { exact: true }).fill('e2e-tool');
  await page.getByRole('button', { name: 'Issue key' }).click();
  const shown = await untilText(() => page.locator('.secret').innerText(), /Shown once[\s\S]*secret_access_key/, 'secret shown');
  const id = /access_key_id\s+(\S+)/.exec(shown)[1];
  const row = page.locator('#user-keys tbody tr', { hasText: id });
  await untilText(() => row.innerText(), /e2e-tool[\s\S]*active/, 'new key listed');
  page.once('dialog', (d) => d.accept());
  await page.getByRole('button', { name: `Revoke key ${id}` }).click();
  await untilText(() => row.innerText(), /revoked/, 'key revoked');
});

await check('editing a price on Prices', async () => {
  await open(page, '#/prices', 'prices');
  await page.getByRole('button', { name: 'Edit the price of anthropic.claude-3-haiku-20240307-v1:0' }).click();
  await page.getByLabel('Output, USD per 1k tokens').fill('3');
  await page.getByRole('button', { name: 'Save price' }).click();
  await untilText(() => page.locator('#prices-table tbody tr', { hasText: 'anthropic.claude-3-haiku-20240307-v1:0' }).locator('td[data-label="Output / 1k"]').innerText(), /^\$3$/, 'new price');
  await shoot(page, 'prices-desktop');
});

await check('CSV export of Users holds alice', async () => {
  await open(page, '#/users', 'users (again)');
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: WAIT }),
    page.locator('.csv').first().click(),
  ]);
  const text = readFileSync(await download.path(), 'utf8');
  need(text.split('\n')[0].split(',').includes('username'), text.slice(0, 200));
  need(text.split('\n').some((l) => l.split(',').includes('alice')), text.slice(0, 400));
});

await check('a change without the CSRF token is refused (403)', async () => {
  const r = await page.evaluate(async () => {
    const resp = await fetch('/api/v1/teams', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"name":"sneaky"}' });
    return { status: resp.status, body: await resp.text() };
  });
  need(r.status === 403 && r.body.includes('X-CSRF-Token'), JSON.stringify(r));
  const teams = await page.evaluate(() => fetch('/api/v1/teams').then((x) => x.json()));
  need(!teams.some((t) => t.name === 'sneaky'), 'no team was made');
});

await check('every page at desktop and phone width, with load times', async () => {
  const pages = [
    ['overview', '#/overview'], ['users', '#/users'], ['user', '#/users/alice'], ['teams', '#/teams'],
    ['team', '#/teams/research'], ['calls', '#/calls?user=alice'], ['cost', '#/cost'], ['blocking', '#/blocking'], ['prices', '#/prices'],
  ];
  for (const [name, hash] of pages) {
    await open(page, hash, name);
    if (name === 'calls') await page.locator('#calls-table tbody tr').first().locator('button.link').click();
    await shoot(page, `${name}-desktop`);
  }
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [name, hash] of pages) {
    await open(page, hash, `${name} (390 px)`);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    need(wide <= 392, `${name} is ${wide} px wide at 390 px`);
    await shoot(page, `${name}-phone`);
  }
  await page.setViewportSize({ width: 1366, height: 900 });
});

await check('logging out ends the session: the old cookie is refused', async () => {
  const [old] = (await context.cookies()).filter((x) => x.name === 'bg_session');
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByLabel('Admin token').waitFor({ timeout: WAIT });
  const resp = await fetch(`${BASE}/api/v1/users`, { headers: { cookie: `bg_session=${old.value}` } });
  need(resp.status === 401, `status ${resp.status}`);
  await page.setViewportSize({ width: 390, height: 844 });
  await shoot(page, 'login-phone');
});

await check('no script errors on any page', async () => {
  need(problems.length === 0, problems.join('\n'));
});

await browser.close();
console.log(`loads: ${JSON.stringify(loads)}`);
console.log(`${passed} passed, 0 failed`);
