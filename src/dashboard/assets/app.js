// The dashboard's shell: login with an admin token or "Sign in with <issuer>" (single
// sign-on; the session's role hides what it cannot use), the page router (`#/page/arg?filters`,
// so filters survive a reload and can be linked), and the refresh every few seconds that
// updates the data of the open page without touching its filters, focus or scroll.

import { api, setCsrf, whenLoggedOut } from './api.js';
import { h, fill, settings, notify } from './ui.js';
import * as overview from './pages/overview.js';
import * as users from './pages/users.js';
import * as user from './pages/user.js';
import * as teams from './pages/teams.js';
import * as calls from './pages/calls.js';
import * as cost from './pages/cost.js';
import * as blocking from './pages/blocking.js';
import * as prices from './pages/prices.js';

/** Seconds between refreshes of the open page. */
const REFRESH_SECS = 5;

const pages = { overview, users, user, teams, calls, cost, blocking, prices };
/** The pages about a team admin's own users (the API allows them nothing else). */
const TEAM_ADMIN_PAGES = new Set(['users', 'user', 'teams', 'blocking']);
const main = document.getElementById('main');
let current = null;
let session = null;

/** The route in the address: page, optional argument, filters. */
function route() {
  const [path, q] = location.hash.replace(/^#\/?/, '').split('?');
  const [page, ...rest] = path.split('/');
  const home = settings.role === 'team_admin' ? 'users' : 'overview';
  let name = page || home;
  const arg = rest.length ? decodeURIComponent(rest.join('/')) : '';
  if (name === 'users' && arg) name = 'user';
  if (settings.role === 'team_admin' && !TEAM_ADMIN_PAGES.has(name)) name = home;
  return { name: pages[name] ? name : home, arg, params: new URLSearchParams(q || '') };
}

async function loadSettings() {
  const s = await api('/summary');
  settings.timezone = s.timezone;
  settings.warningPercent = s.warning_percent;
  settings.today = s.today;
  settings.summary = s;
}

async function show() {
  if (!session) return;
  const r = route();
  for (const a of document.querySelectorAll('#nav a')) {
    const target = a.getAttribute('href').slice(2);
    const on = target === r.name || (target === 'users' && r.name === 'user');
    if (on) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const mount = pages[r.name].mount;
  fill(main, h('p', { class: 'muted' }, 'Loading…'));
  delete document.body.dataset.loaded;
  current = null;
  try {
    await loadSettings();
    performance.mark('dashboard-mount');
    const page = await mount(main, r);
    current = { page, name: r.name };
    // A standard User Timing entry (DevTools' performance panel shows it).
    performance.measure('dashboard-load', 'dashboard-mount');
    document.body.dataset.loaded = r.name;
    document.title = `${main.querySelector('h1')?.textContent || 'Dashboard'} · bedrock-gate`;
  } catch (e) {
    document.body.dataset.loaded = `${r.name} (failed)`;
    fill(main, h('h1', {}, 'Could not load this page'), h('p', { class: 'error-text' }, e.message || String(e)));
  }
}

/** Whether a refresh is under way: a slow one is never overlapped by the next. */
let refreshing = false;

/** Refreshes the open page unless the admin is typing, a dialog is open, or the last
 *  refresh has not finished. */
async function tick() {
  if (refreshing || !current || document.hidden || !current.page?.refresh) return;
  const a = document.activeElement;
  if (a && a !== document.body && main.contains(a) && a.matches('input, select, textarea')) return;
  if (document.querySelector('dialog[open]')) return;
  const open = current;
  refreshing = true;
  try {
    await loadSettings();
    // The page may have changed while the settings loaded.
    if (current !== open) return;
    await open.page.refresh();
    document.body.dataset.refreshed = String(Date.now());
  } catch (e) {
    if (e.status !== 401) notify(`Refresh failed: ${e.message}`, true);
  } finally {
    refreshing = false;
  }
}

function loginForm(message) {
  session = null;
  current = null;
  setCsrf(null);
  document.getElementById('nav').hidden = true;
  fill(document.getElementById('who'));
  delete document.body.dataset.role;
  settings.role = 'admin';
  const sso = h('div', { class: 'sso', id: 'sso' });
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true, placeholder: 'bga_…' });
  const err = h('p', { class: 'error-text', role: 'alert' }, message || '');
  const form = h('form', { class: 'login', 'aria-label': 'Log in' },
    h('h1', {}, 'Log in'),
    sso,
    h('p', { class: 'muted' }, 'Paste an admin token (create one with ', h('code', {}, 'bedrock-gate admin create-token <name>'), ').'),
    h('div', { class: 'field' }, h('label', { for: 'token' }, 'Admin token'), input),
    h('button', { type: 'submit' }, 'Log in'), err);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const s = await api('/session/login', { method: 'POST', body: { token: input.value } });
      input.value = '';
      start(s);
    } catch (e) {
      err.textContent = e.message;
    }
  });
  fill(main, form);
  input.focus();
  fetch('/auth/oidc/issuers', { credentials: 'same-origin' }).then((r) => r.json()).then((r) => {
    const list = (r && r.issuers) || [];
    fill(sso, list.map((i) => h('a', { class: 'button', href: i.start }, `Sign in with ${i.name}`)),
      list.length ? h('p', { class: 'muted' }, 'or') : null);
  }, () => {});
}

function start(s) {
  session = s;
  settings.role = s.role || 'admin';
  document.body.dataset.role = settings.role;
  setCsrf(s.csrf_token);
  document.getElementById('nav').hidden = false;
  const logout = h('button', {
    type: 'button', class: 'link', id: 'logout',
    onclick: async () => {
      try {
        await api('/session/logout', { method: 'POST' });
      } finally {
        loginForm('You are logged out.');
      }
    },
  }, 'Log out');
  const who = s.user
    ? `${s.user} · ${s.role === 'team_admin' ? `team admin of ${s.teams.join(', ')}` : s.role}`
    : `token ${s.token_name}`;
  fill(document.getElementById('who'), h('span', { class: 'muted', id: 'who-name' }, who), ' ', logout);
  show();
}

whenLoggedOut(() => loginForm('Your session has ended; log in again.'));
window.addEventListener('hashchange', show);
setInterval(tick, REFRESH_SECS * 1000);

api('/session').then(start, () => loginForm(''));
