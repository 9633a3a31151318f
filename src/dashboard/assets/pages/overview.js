// Overview: today and this month at a glance (calls, tokens, cost against the teams'
// limits summed), blocked and protected users, top users and teams by cost this month,
// cost per day this month and calls per hour today.

import { api, csvUrl } from '../api.js';
import { h, fill, settings, fmtInt, fmtUsd, meter, card, table, heading, monthStart, tzLabel } from '../ui.js';
import { bars } from '../chart.js';

function daysOfMonth(today, days) {
  const out = [];
  const n = Number(today.slice(8, 10));
  for (let d = 1; d <= n; d += 1) out.push(`${today.slice(0, 8)}${String(d).padStart(2, '0')}`);
  return out.map((day) => ({ label: day, short: day.slice(8), value: days.get(day) || 0 }));
}

export async function mount(main) {
  const numbers = h('div', { class: 'cards' });
  const limitsNote = h('p', { class: 'muted small' });
  const charts = h('div', { class: 'charts' });
  const tops = h('div', { class: 'two' });
  fill(main, heading('Overview', `Today and this month for the whole organisation; ${tzLabel()}.`), numbers, limitsNote, charts, tops);

  async function refresh() {
    const s = settings.summary;
    const today = settings.today;
    const from = monthStart(today);
    const [byDay, byHour, byTeam, users] = await Promise.all([
      api('/aggregates', { params: { group_by: 'day', from, to: today } }),
      api('/aggregates', { params: { group_by: 'hour', from: today } }),
      api('/aggregates', { params: { group_by: 'team', from, to: today } }),
      api('/users'),
    ]);
    const lim = s.team_limits_total;
    const u = s.usage;
    const tokens = (t) => fmtInt(t.input_tokens + t.output_tokens);
    fill(numbers,
      card(`Today (${today})`, [
        { label: 'Calls', value: meter(u.day.requests, lim.daily_requests, fmtInt, 'no team limit') },
        { label: 'Tokens (in + out)', value: tokens(u.day) },
        { label: 'Cost', value: meter(u.day.cost_usd, lim.daily_budget_usd, fmtUsd, 'no team limit') },
      ]),
      card(`This month (${today.slice(0, 7)})`, [
        { label: 'Calls', value: meter(u.month.requests, lim.monthly_requests, fmtInt, 'no team limit') },
        { label: 'Tokens (in + out)', value: tokens(u.month) },
        { label: 'Cost', value: meter(u.month.cost_usd, lim.monthly_budget_usd, fmtUsd, 'no team limit') },
      ]),
      card('People', [
        { label: 'Users', value: fmtInt(s.users) },
        { label: 'Teams', value: fmtInt(s.teams) },
        { label: 'Blocked now', value: h('a', { href: '#/blocking' }, fmtInt(s.blocked)) },
        { label: 'Protected', value: fmtInt(s.protected) },
      ]));
    limitsNote.textContent = `Limits shown are the teams' limits summed${s.teams_without_limits ? `; ${s.teams_without_limits} of ${s.teams} team(s) lack one or more limits, so their usage is not capped by these sums` : ''}.`;
    const days = new Map(byDay.map((r) => [r.key, r.cost_usd]));
    const hours = new Map(byHour.map((r) => [Number(r.key.slice(11, 13)), r.requests]));
    const hourPoints = Array.from({ length: 24 }, (_, i) => ({ label: `${String(i).padStart(2, '0')}:00`, short: String(i), value: hours.get(i) || 0 }));
    fill(charts,
      bars(daysOfMonth(today, days), { title: `Cost per day this month (USD, days in ${settings.timezone})`, fmt: fmtUsd }),
      bars(hourPoints, { title: `Calls per hour today (hours in ${settings.timezone})`, fmt: fmtInt, labelEvery: 3 }));
    const topUsers = users.filter((x) => x.usage.month.requests > 0)
      .sort((a, b) => b.usage.month.cost_usd - a.usage.month.cost_usd).slice(0, 5);
    const topTeams = byTeam.slice().sort((a, b) => b.cost_usd - a.cost_usd).slice(0, 5);
    fill(tops,
      h('section', {}, h('h2', {}, 'Top users this month'), table([
        { label: 'User', value: (r) => r.username, render: (r) => h('a', { href: `#/users/${encodeURIComponent(r.username)}` }, r.username) },
        { label: 'Team', value: (r) => r.team },
        { label: 'Calls', num: true, value: (r) => r.usage.month.requests, render: (r) => fmtInt(r.usage.month.requests) },
        { label: 'Cost', num: true, value: (r) => r.usage.month.cost_usd, render: (r) => fmtUsd(r.usage.month.cost_usd) },
      ], topUsers, { id: 'top-users', csv: csvUrl('/users'), empty: 'No calls this month.' })),
      h('section', {}, h('h2', {}, 'Top teams this month'), table([
        { label: 'Team', value: (r) => r.key, render: (r) => h('a', { href: `#/teams/${encodeURIComponent(r.key)}` }, r.key) },
        { label: 'Calls', num: true, value: (r) => r.requests, render: (r) => fmtInt(r.requests) },
        { label: 'Cost', num: true, value: (r) => r.cost_usd, render: (r) => fmtUsd(r.cost_usd) },
      ], topTeams, { id: 'top-teams', csv: csvUrl('/aggregates', { group_by: 'team', from, to: today }), empty: 'No calls this month.' })));
  }
  await refresh();
  return { refresh };
}
