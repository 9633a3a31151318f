// One user: status and usage against limits, the last minute against the short-term
// limits, the limits (edit), keys (issue: the secret
// is shown once; revoke), the last calls and a 30-day history chart.

import { api, csvUrl } from '../api.js';
import { h, fill, settings, fmtInt, fmtUsd, fmtTime, meter, badge, table, field, heading, card, rateCard, attempt, limitValue, addDays, tzLabel } from '../ui.js';
import { bars } from '../chart.js';
import { statusOf } from './users.js';

// Who set the user's own limits (`limits_source`); sign-in changes them only while no
// administrator has.
const LIMITS_SOURCE = {
  defaults: 'Set by the configured defaults.',
  group: 'Set by their sign-in group ([oidc.teams]); a new sign-in group replaces them until an administrator sets them.',
  admin: 'Set by an administrator; sign-in never changes them.',
};

const LIMITS = [
  ['daily_requests', 'Calls per day', false],
  ['monthly_requests', 'Calls per month', false],
  ['daily_budget_usd', 'Budget per day (USD)', true],
  ['monthly_budget_usd', 'Budget per month (USD)', true],
];

export async function mount(main, route) {
  const name = route.arg;
  const enc = encodeURIComponent(name);
  const head = h('div', {});
  const usage = h('div', { class: 'cards' });
  const inputs = Object.fromEntries(LIMITS.map(([k, , money]) => [k, h('input', { name: k, inputmode: money ? 'decimal' : 'numeric', placeholder: 'no limit' })]));
  const limitsSource = h('p', { id: 'limits-source' });
  const limitsForm = h('form', { class: 'inline-form', 'aria-label': 'Limits', 'data-change': true },
    LIMITS.map(([k, label]) => field(label, inputs[k])),
    h('button', { type: 'submit' }, 'Save limits'));
  limitsForm.addEventListener('submit', (e) => {
    e.preventDefault();
    attempt(async () => {
      const body = Object.fromEntries(LIMITS.map(([k, , money]) => [k, limitValue(inputs[k], money)]));
      await api(`/users/${enc}/limits`, { method: 'PATCH', body });
      await refresh(true);
    }, 'Limits saved.');
  });
  const tool = h('input', { name: 'tool', placeholder: 'e.g. claude-code', required: true });
  const issued = h('div', { 'aria-live': 'polite' });
  const keyForm = h('form', { class: 'inline-form', 'aria-label': 'Issue a key', 'data-change': true }, field('Tool', tool), h('button', { type: 'submit' }, 'Issue key'));
  keyForm.addEventListener('submit', (e) => {
    e.preventDefault();
    attempt(async () => {
      const k = await api(`/users/${enc}/keys`, { method: 'POST', body: { tool: tool.value } });
      tool.value = '';
      fill(issued, h('div', { class: 'secret', role: 'alert' },
        h('strong', {}, 'Shown once: copy these now.'),
        h('dl', {}, Object.entries(k).filter(([, v]) => typeof v === 'string').map(([kk, v]) => [h('dt', {}, kk), h('dd', {}, h('code', {}, v))]))));
      await refresh();
    }, 'Key issued.');
  });
  const keys = h('div', {});
  const recent = h('div', {});
  const history = h('div', {});
  fill(main, head, usage,
    h('section', {}, h('h2', {}, 'Limits'), limitsSource, h('p', { class: 'muted' }, 'Leave a field empty for no limit.'), limitsForm),
    h('section', {}, h('h2', {}, 'Keys'), keyForm, issued, keys),
    h('section', {}, h('h2', {}, 'History'), history),
    h('section', {}, h('h2', {}, `Recent calls (${tzLabel()})`), recent));

  async function refresh(resetForm) {
    const from = addDays(settings.today, -29);
    const [u, calls, days] = await Promise.all([
      api(`/users/${enc}`),
      api('/usage', { params: { user: name, limit: 20 } }),
      api('/aggregates', { params: { group_by: 'day', user: name, from, to: settings.today } }),
    ]);
    const status = statusOf(u, u);
    fill(head, heading(u.username, `${u.person} · team `), badge(status),
      u.blocked ? h('p', {}, `Blocked: ${u.blocked_reason || 'no reason given'}; until ${u.blocked_until ? fmtTime(u.blocked_until) : 'lifted by hand'} (${tzLabel()}). `, h('a', { href: `#/blocking?user=${enc}` }, 'Unblock on Blocking')) : h('p', {}, h('a', { href: `#/blocking?user=${enc}` }, 'Block or protect on Blocking')));
    head.querySelector('.page-note')?.append(h('a', { href: `#/teams/${encodeURIComponent(u.team)}` }, u.team));
    const l = u.limits;
    fill(usage,
      card(`Today (${settings.today})`, [
        { label: 'Calls', value: meter(u.usage.day.requests, l.daily_requests, fmtInt) },
        { label: 'Cost', value: meter(u.usage.day.cost_usd, l.daily_budget_usd, fmtUsd) },
        { label: 'Tokens (in + out)', value: fmtInt(u.usage.day.input_tokens + u.usage.day.output_tokens) },
      ]),
      card('This month', [
        { label: 'Calls', value: meter(u.usage.month.requests, l.monthly_requests, fmtInt) },
        { label: 'Cost', value: meter(u.usage.month.cost_usd, l.monthly_budget_usd, fmtUsd) },
        { label: 'Tokens (in + out)', value: fmtInt(u.usage.month.input_tokens + u.usage.month.output_tokens) },
      ]),
      rateCard(u.rate));
    fill(limitsSource, LIMITS_SOURCE[u.limits_source] || '');
    if (resetForm || !limitsForm.dataset.loaded) {
      for (const [k] of LIMITS) inputs[k].value = l[k] === null ? '' : String(l[k]);
      limitsForm.dataset.loaded = '1';
    }
    fill(keys, table([
      { label: 'Access key id', value: (k) => k.access_key_id, render: (k) => h('code', {}, k.access_key_id) },
      { label: 'Tool', value: (k) => k.tool },
      { label: 'Status', value: (k) => (k.status === 'active' && k.expired ? 'expired' : k.status) },
      { label: 'Created', value: (k) => k.created_at, render: (k) => fmtTime(k.created_at) },
      { label: 'Expires', value: (k) => k.expires_at, render: (k) => (k.expires_at === null ? 'never' : fmtTime(k.expires_at)) },
      { label: 'Action', render: (k) => (k.status === 'active' && !k.expired ? h('button', {
        type: 'button', class: 'danger small', 'data-change': true, 'aria-label': `Revoke key ${k.access_key_id}`,
        onclick: () => {
          if (!window.confirm(`Revoke key ${k.access_key_id}? Calls signed with it will be refused.`)) return;
          attempt(async () => { await api(`/keys/${encodeURIComponent(k.access_key_id)}/revoke`, { method: 'POST' }); await refresh(); }, 'Key revoked.');
        },
      }, 'Revoke') : '') },
    ], u.keys, { id: 'user-keys', csv: csvUrl('/keys', { user: name }), empty: 'No keys.' }));
    const byDay = new Map(days.map((r) => [r.key, r.cost_usd]));
    const points = Array.from({ length: 30 }, (_, i) => addDays(from, i)).map((d) => ({ label: d, short: d.slice(5), value: byDay.get(d) || 0 }));
    fill(history, bars(points, { title: `Cost per day, last 30 days (USD, days in ${settings.timezone})`, fmt: fmtUsd, labelEvery: 5 }));
    fill(recent, table([
      { label: 'Time', value: (r) => r.created_at, render: (r) => h('a', { href: `#/calls?user=${enc}&call=${r.request_uid}` }, fmtTime(r.created_at)) },
      { label: 'Model', value: (r) => r.model_id },
      { label: 'Operation', value: (r) => r.operation },
      { label: 'Status', num: true, value: (r) => r.status_code },
      { label: 'Tokens', num: true, value: (r) => r.input_tokens + r.output_tokens, render: (r) => fmtInt(r.input_tokens + r.output_tokens) },
      { label: 'Cost', num: true, value: (r) => r.cost_usd, render: (r) => fmtUsd(r.cost_usd) },
    ], calls.records, { id: 'user-calls', csv: csvUrl('/usage', { user: name }), empty: 'No calls yet.' }));
  }
  await refresh(true);
  return { refresh: () => refresh(false) };
}
