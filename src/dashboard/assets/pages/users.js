// Users: each user's calls and cost today and this month against each of their limits
// (bars coloured by share used), status (active, warned, blocked, protected), filter by
// name, team and status, sort by any column, CSV export.

import { api, csvUrl } from '../api.js';
import { h, fill, settings, fmtInt, fmtUsd, meter, badge, share, table, field, heading, setParams } from '../ui.js';

/** A user's status from their blocking row and usage against limits. */
export function statusOf(u, block) {
  if (block?.blocked) return 'blocked';
  if (block?.administrative_safe) return 'protected';
  const l = u.limits;
  const shares = [
    share(u.usage.day.requests, l.daily_requests),
    share(u.usage.month.requests, l.monthly_requests),
    share(u.usage.day.cost_usd, l.daily_budget_usd),
    share(u.usage.month.cost_usd, l.monthly_budget_usd),
  ].filter((s) => s !== null);
  return shares.some((s) => s >= settings.warningPercent) ? 'warned' : 'active';
}

export async function mount(main, route) {
  const p = route.params;
  const search = h('input', { type: 'search', name: 'q', value: p.get('q') || '', placeholder: 'name or person' });
  const team = h('select', { name: 'team' }, h('option', { value: '' }, 'All teams'));
  const status = h('select', { name: 'status' }, ['', 'active', 'warned', 'blocked', 'protected']
    .map((s) => h('option', { value: s, selected: p.get('status') === s }, s || 'Any status')));
  const list = h('div', {});
  const count = h('p', { class: 'muted', 'aria-live': 'polite' });
  const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter users', onsubmit: (e) => e.preventDefault() },
    field('Search', search), field('Team', team), field('Status', status));
  fill(main, heading('Users', `Usage today (${settings.today}) and this month against each user's own limits; bars turn amber at ${settings.warningPercent} % and red at 100 %.`), filters, count, list);

  let users = [];
  let blocks = new Map();
  function render() {
    setParams({ q: search.value, team: team.value, status: status.value });
    const q = search.value.trim().toLowerCase();
    const rows = users
      .map((u) => ({ ...u, status: statusOf(u, blocks.get(u.username)) }))
      .filter((u) => !q || u.username.toLowerCase().includes(q) || u.person.toLowerCase().includes(q))
      .filter((u) => !team.value || u.team === team.value)
      .filter((u) => !status.value || u.status === status.value);
    count.textContent = `${rows.length} of ${users.length} users`;
    fill(list, table([
      { label: 'User', value: (r) => r.username, render: (r) => [h('a', { href: `#/users/${encodeURIComponent(r.username)}` }, r.username), h('div', { class: 'muted small' }, r.person)] },
      { label: 'Team', value: (r) => r.team, render: (r) => h('a', { href: `#/teams/${encodeURIComponent(r.team)}` }, r.team) },
      { label: 'Status', value: (r) => r.status, render: (r) => badge(r.status) },
      { label: 'Calls today', num: true, value: (r) => r.usage.day.requests, render: (r) => meter(r.usage.day.requests, r.limits.daily_requests, fmtInt) },
      { label: 'Cost today', num: true, value: (r) => r.usage.day.cost_usd, render: (r) => meter(r.usage.day.cost_usd, r.limits.daily_budget_usd, fmtUsd) },
      { label: 'Calls this month', num: true, value: (r) => r.usage.month.requests, render: (r) => meter(r.usage.month.requests, r.limits.monthly_requests, fmtInt) },
      { label: 'Cost this month', num: true, value: (r) => r.usage.month.cost_usd, render: (r) => meter(r.usage.month.cost_usd, r.limits.monthly_budget_usd, fmtUsd) },
      { label: 'Tokens this month', num: true, value: (r) => r.usage.month.input_tokens + r.usage.month.output_tokens, render: (r) => fmtInt(r.usage.month.input_tokens + r.usage.month.output_tokens) },
    ], rows, { id: 'users-table', csv: csvUrl('/users', { team: team.value }), onSort: render, empty: 'No user matches these filters.' }));
  }
  async function refresh() {
    const [u, b, t] = await Promise.all([api('/users'), api('/blocks'), api('/teams')]);
    users = u;
    blocks = new Map(b.map((x) => [x.username, x]));
    const chosen = team.value || p.get('team') || '';
    fill(team, h('option', { value: '' }, 'All teams'), t.map((x) => h('option', { value: x.name, selected: x.name === chosen }, x.name)));
    render();
  }
  for (const el of [search, team, status]) el.addEventListener('input', render);
  await refresh();
  return { refresh };
}
