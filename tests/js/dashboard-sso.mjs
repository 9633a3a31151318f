// Dashboard single sign-on end to end in real headless Chromium (the system's, driven
// by playwright-core) against a real OpenID provider (tests/js/oidc-provider.mjs):
// "Sign in with corp" on the login page runs the authorization code flow with PKCE,
// state and nonce through the provider and back to the gate's callback. An admin-group
// user changes a limit; a viewer sees every page without change controls and the API
// refuses their change with 403 naming the role; a team admin sees and changes only
// their team's users. Bad input: a wrong state, a replayed callback, a substituted ID
// token with another nonce, one from another issuer, and a user in no role group are
// each refused with a clear page and no session.
//
// Run by tests/dashboard_sso.rs, which passes in the environment: DASH_URL (admin
// listener), OP_URL (the gate's issuer), OP2_URL (another issuer, not trusted),
// ML_USER / DATA_USER (users in teams ml and data), CHROMIUM (default /usr/bin/chromium).
// Prints `ok: <check>` per check and `N passed, 0 failed` at the end; exits 1 at the
// first failure.

import { chromium } from 'playwright-core';

const env = process.env;
const BASE = env.DASH_URL;
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

/** Makes the provider sign the next browser in as `user` in `groups`. */
async function loginAs(user, groups) {
  const r = await fetch(`${env.OP_URL}/test/login-as?user=${user}&groups=${groups.join(',')}`);
  need(r.status === 204, `login-as: ${r.status}`);
}

/** An ID token for the `dashboard` client from provider `op` (its own nonce). */
async function idToken(op, user, groups) {
  const r = await fetch(`${op}/test/id-token?user=${user}&client=dashboard&ttl=600&groups=${groups.join(',')}`);
  const text = await r.text();
  need(r.status === 200, `id-token: ${r.status} ${text}`);
  return text;
}

/** Makes the gate's issuer answer `token` at the next code exchange. */
async function substitute(token) {
  const r = await fetch(`${env.OP_URL}/test/next-token`, { method: 'POST', body: token });
  need(r.status === 204, `next-token: ${r.status}`);
}

const browser = await chromium.launch({ executablePath: env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });

/** A fresh browser profile signed in through "Sign in with corp"; the page and the
 * callback URL the provider sent it to. */
async function signIn() {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  let callback = null;
  page.on('request', (r) => {
    if (r.url().includes('/auth/oidc/callback')) callback = r.url();
  });
  await page.goto(`${BASE}/`);
  const button = page.getByRole('link', { name: 'Sign in with corp' });
  await button.waitFor({ timeout: WAIT });
  await button.click();
  await page.waitForURL((u) => !u.href.includes('/auth/oidc/') && u.href.startsWith(BASE), { timeout: WAIT })
    .catch(() => {});
  return { context, page, callback };
}

/** Signs in expecting a refusal page: its status text, and that no session exists. */
async function refused(before, re, what) {
  const context = await browser.newContext();
  const page = await context.newPage();
  let status = 0;
  page.on('response', (r) => {
    if (r.url().includes('/auth/oidc/callback')) status = r.status();
  });
  await before(page);
  const text = await untilText(() => page.locator('#sso-error').innerText(), re, what);
  const cookies = await context.cookies(BASE);
  need(!cookies.some((c) => c.name === 'bg_session'), `${what}: a session cookie was set`);
  // With the browser's cookies (the refusal page's policy allows no fetch of its own).
  const session = (await context.request.get(`${BASE}/api/v1/session`)).status();
  need(session === 401, `${what}: /api/v1/session answered ${session}`);
  await context.close();
  return { status, text };
}

async function startAndFollow(page) {
  await page.goto(`${BASE}/`);
  await page.getByRole('link', { name: 'Sign in with corp' }).click();
}

async function whoIs(page) {
  return untilText(() => page.locator('#who-name').innerText(), /·/, 'who');
}

async function waitLoaded(page, hash) {
  await page.goto('about:blank');
  await page.goto(`${BASE}/${hash}`);
  await page.waitForFunction(() => document.body.dataset.loaded, null, { timeout: WAIT });
  const state = await page.evaluate(() => document.body.dataset.loaded);
  need(!state.includes('failed'), `${hash}: ${await page.locator('main').innerText()}`);
}

/** A change through the API with the session cookie and its CSRF token. */
async function patchLimits(page, user, daily) {
  return page.evaluate(async ([u, d]) => {
    const s = await fetch('/api/v1/session').then((r) => r.json());
    const r = await fetch(`/api/v1/users/${encodeURIComponent(u)}/limits`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', 'x-csrf-token': s.csrf_token },
      body: JSON.stringify({ daily_requests: d }),
    });
    return { status: r.status, body: await r.text() };
  }, [user, daily]);
}

let adminCallback = null;

await check('an admin-group user signs in with corp and changes a limit', async () => {
  await loginAs('ada', ['gate-admins']);
  const { context, page, callback } = await signIn();
  adminCallback = callback;
  need(callback && callback.includes('state='), `callback: ${callback}`);
  const who = await whoIs(page);
  need(/ada@corp\.example · admin/.test(who), who);
  await waitLoaded(page, `#/users/${env.ML_USER}`);
  await page.getByLabel('Calls per day').fill('77');
  await page.getByRole('button', { name: 'Save limits' }).click();
  await untilText(() => page.locator('#toast').innerText(), /Limits saved/, 'saved');
  const info = await page.evaluate((u) => fetch(`/api/v1/users/${u}`).then((r) => r.json()), env.ML_USER);
  need(info.limits.daily_requests === 77, JSON.stringify(info.limits));
  const s = await page.evaluate(() => fetch('/api/v1/session').then((r) => r.json()));
  need(s.role === 'admin' && s.actor === 'oidc:ada@corp.example', JSON.stringify(s));
  await context.close();
});

await check('a replayed callback (its state used up) is refused with no session', async () => {
  const r = await refused((page) => page.goto(adminCallback), /already used/, 'replay');
  need(r.status === 400, `status ${r.status}`);
});

await check('a wrong state is refused with no session', async () => {
  const r = await refused((page) => page.goto(`${BASE}/auth/oidc/callback?state=forged&code=abc`), /unknown, already used/, 'wrong state');
  need(r.status === 400, `status ${r.status}`);
});

await check('a viewer sees every page, no change controls, and the API refuses a change', async () => {
  await loginAs('vic', ['finance']);
  const { context, page } = await signIn();
  need(/vic@corp\.example · viewer/.test(await whoIs(page)), 'viewer shown');
  for (const hash of ['#/overview', '#/users', '#/teams', '#/calls', '#/cost', '#/blocking', '#/prices']) {
    await waitLoaded(page, hash);
  }
  await waitLoaded(page, '#/users');
  const rows = await page.locator('#users-table tbody').innerText();
  need(rows.includes(env.ML_USER) && rows.includes(env.DATA_USER), rows);
  await waitLoaded(page, `#/users/${env.ML_USER}`);
  need(!(await page.getByRole('button', { name: 'Save limits' }).isVisible()), 'no Save limits for a viewer');
  need(!(await page.getByRole('button', { name: 'Issue key' }).isVisible()), 'no Issue key for a viewer');
  const r = await patchLimits(page, env.ML_USER, 5);
  need(r.status === 403 && /viewer role is read-only/.test(r.body), JSON.stringify(r));
  await context.close();
});

await check('a team admin sees and changes only their team', async () => {
  await loginAs('tia', ['leads', 'ml-devs']);
  const { context, page } = await signIn();
  need(/tia@corp\.example · team admin of ml/.test(await whoIs(page)), 'team admin shown');
  await waitLoaded(page, '#/users');
  const rows = await page.locator('#users-table tbody').innerText();
  need(rows.includes(env.ML_USER) && !rows.includes(env.DATA_USER), rows);
  need(!(await page.locator('#nav a[href="#/prices"]').isVisible()), 'no Prices page for a team admin');
  await waitLoaded(page, `#/users/${env.ML_USER}`);
  await page.getByLabel('Calls per day').fill('33');
  await page.getByRole('button', { name: 'Save limits' }).click();
  await untilText(() => page.locator('#toast').innerText(), /Limits saved/, 'saved');
  const other = await patchLimits(page, env.DATA_USER, 1);
  need(other.status === 403 && /team_admin role \(teams: ml\)/.test(other.body), JSON.stringify(other));
  const read = await page.evaluate((u) => fetch(`/api/v1/users/${u}`).then((r) => r.status), env.DATA_USER);
  need(read === 403, `reading another team's user: ${read}`);
  const prices = await page.evaluate(() => fetch('/api/v1/prices').then((r) => r.status));
  need(prices === 403, `prices: ${prices}`);
  await context.close();
});

await check('an ID token with another nonce is refused with no session', async () => {
  await substitute(await idToken(env.OP_URL, 'ada', ['gate-admins']));
  await loginAs('ada', ['gate-admins']);
  const r = await refused(startAndFollow, /nonce/, 'wrong nonce');
  need(r.status === 401, `status ${r.status}`);
});

await check('an ID token from another issuer is refused with no session', async () => {
  await substitute(await idToken(env.OP2_URL, 'ada', ['gate-admins']));
  await loginAs('ada', ['gate-admins']);
  const re = new RegExp(`issued by \`${env.OP2_URL.replace(/[.]/g, '\\.')}\`, not by \`corp\``);
  const r = await refused(startAndFollow, re, 'other issuer');
  need(r.status === 401, `status ${r.status}`);
});

await check('a user in no role group is refused with a clear page and no session', async () => {
  await loginAs('ned', ['everyone', 'ml-devs']);
  const r = await refused(startAndFollow, /none of their groups may use the dashboard/, 'no role');
  need(r.status === 403, `status ${r.status}`);
});

await browser.close();
console.log(`${passed} passed, 0 failed`);
