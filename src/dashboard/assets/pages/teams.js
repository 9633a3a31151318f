// Teams: each team's calls and cost today and this month against its shared limits,
// and (#/teams/<name>) one team's last minute against its short-term limits and its
// members with each member's share of the team's limits.

import { api, csvUrl } from '../api.js';
import { h, fill, settings, fmtInt, fmtUsd, fmtPct, meter, share, table, heading, rateCard, monthStart } from '../ui.js';

function teamTable(teams, day, month) {
  const zero = { requests: 0, cost_usd: 0 };
  const rows = teams.map((t) => ({ ...t, day: day.get(t.name) || zero, month: month.get(t.name) || zero }));
  return table([
    { label: 'Team', value: (r) => r.name, render: (r) => h('a', { href: `#/teams/${encodeURIComponent(r.name)}` }, r.name) },
    { label: 'Calls today', num: true, value: (r) => r.day.requests, render: (r) => meter(r.day.requests, r.limits.daily_requests, fmtInt) },
    { label: 'Cost today', num: true, value: (r) => r.day.cost_usd, render: (r) => meter(r.day.cost_usd, r.limits.daily_budget_usd, fmtUsd) },
    { label: 'Calls this month', num: true, value: (r) => r.month.requests, render: (r) => meter(r.month.requests, r.limits.monthly_requests, fmtInt) },
    { label: 'Cost this month', num: true, value: (r) => r.month.cost_usd, render: (r) => meter(r.month.cost_usd, r.limits.monthly_budget_usd, fmtUsd) },
  ], rows, { id: 'teams-table', csv: csvUrl('/teams'), empty: 'No teams yet.' });
}

const shareText = (used, limit) => {
  const s = share(used, limit);
  return s === null ? '—' : fmtPct(s);
};

export async function mount(main, route) {
  const body = h('div', {});
  const one = route.arg;
  fill(main, one
    ? heading(`Team ${one}`, `Members and each member's share of the team's limits (today ${settings.today}, this month).`)
    : heading('Teams', 'Usage of all members together against the team\'s shared limits.'), body);
  if (one) fill(main.querySelector('.page-note'), main.querySelector('.page-note').textContent, ' ', h('a', { href: '#/teams' }, 'All teams'));

  async function refresh() {
    const today = settings.today;
    if (!one) {
      const [teams, d, m] = await Promise.all([
        api('/teams'),
        api('/aggregates', { params: { group_by: 'team', from: today } }),
        api('/aggregates', { params: { group_by: 'team', from: monthStart(today), to: today } }),
      ]);
      fill(body, teamTable(teams, new Map(d.map((r) => [r.key, r])), new Map(m.map((r) => [r.key, r]))));
      return;
    }
    const [team, users] = await Promise.all([
      api(`/teams/${encodeURIComponent(one)}`),
      api('/users', { params: { team: one } }),
    ]);
    const l = team.limits;
    const u = team.usage;
    fill(body,
      h('div', { class: 'cards' },
        h('section', { class: 'card' }, h('h2', {}, 'Today'), h('dl', {},
          h('dt', {}, 'Calls'), h('dd', {}, meter(u.day.requests, l.daily_requests, fmtInt)),
          h('dt', {}, 'Cost'), h('dd', {}, meter(u.day.cost_usd, l.daily_budget_usd, fmtUsd)))),
        h('section', { class: 'card' }, h('h2', {}, 'This month'), h('dl', {},
          h('dt', {}, 'Calls'), h('dd', {}, meter(u.month.requests, l.monthly_requests, fmtInt)),
          h('dt', {}, 'Cost'), h('dd', {}, meter(u.month.cost_usd, l.monthly_budget_usd, fmtUsd)))),
        rateCard(team.rate)),
      h('h2', {}, `Members (${users.length})`),
      table([
        { label: 'User', value: (r) => r.username, render: (r) => h('a', { href: `#/users/${encodeURIComponent(r.username)}` }, r.username) },
        { label: 'Calls today', num: true, value: (r) => r.usage.day.requests, render: (r) => fmtInt(r.usage.day.requests) },
        { label: 'Share of team calls/day', num: true, value: (r) => share(r.usage.day.requests, l.daily_requests) ?? -1, render: (r) => shareText(r.usage.day.requests, l.daily_requests) },
        { label: 'Cost this month', num: true, value: (r) => r.usage.month.cost_usd, render: (r) => fmtUsd(r.usage.month.cost_usd) },
        { label: 'Share of team budget/month', num: true, value: (r) => share(r.usage.month.cost_usd, l.monthly_budget_usd) ?? -1, render: (r) => shareText(r.usage.month.cost_usd, l.monthly_budget_usd) },
        { label: 'Share of team calls/month', num: true, value: (r) => share(r.usage.month.requests, l.monthly_requests) ?? -1, render: (r) => shareText(r.usage.month.requests, l.monthly_requests) },
      ], users, { id: 'team-members', csv: csvUrl('/users', { team: one }), empty: 'No members.' }));
  }
  await refresh();
  return { refresh };
}
