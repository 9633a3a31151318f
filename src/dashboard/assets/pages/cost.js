// Cost analysis: cost by model, team and user over a chosen range of days, with charts;
// calls per hour on a chosen day; the month's spend so far and a straight-line
// forecast to the month's end against the teams' budgets.

import { api, csvUrl } from '../api.js';
import { h, fill, settings, fmtInt, fmtUsd, fmtPct, table, field, heading, setParams, monthStart, card, share, meter } from '../ui.js';
import { bars } from '../chart.js';

/** A model id without what every id shares: the ARN, region and provider prefixes,
 *  the release date and the version (`eu.anthropic.claude-3-7-sonnet-20250219-v1:0`
 *  is `claude-3-7-sonnet`). */
export function modelName(id) {
  const tail = id.split('/').pop();
  return tail.slice(tail.lastIndexOf('.') + 1).replace(/-\d{8}(?=-|$)/, '').replace(/-v\d+(:\d+)?$/, '') || id;
}

/** Axis labels of at most `max` characters that tell the bars apart: the start of
 *  each, else its end, else a number (the full key is in each bar's tooltip). */
export function distinctLabels(keys, max = 12) {
  const cut = (k) => (k.length > max ? `${k.slice(0, max - 1)}…` : k);
  const tail = (k) => (k.length > max ? `…${k.slice(k.length - max + 1)}` : k);
  const unique = (list) => new Set(list).size === list.length;
  for (const way of [cut, tail]) {
    const out = keys.map(way);
    if (unique(out)) return out;
  }
  return keys.map((k, i) => `${i + 1}. ${cut(k).slice(0, max - 3)}`);
}

function groupTable(title, id, rows, csv, link, shorten = (k) => k) {
  const top = rows.slice().sort((a, b) => b.cost_usd - a.cost_usd);
  const total = top.reduce((s, r) => s + r.cost_usd, 0);
  const shown = top.slice(0, 12);
  const shorts = distinctLabels(shown.map((r) => shorten(r.key)));
  return h('section', {}, h('h2', {}, title), h('div', { class: 'two' },
    bars(shown.map((r, i) => ({ label: r.key, short: shorts[i], value: r.cost_usd })), { title: `${title} (USD, top 12)`, fmt: fmtUsd, labelEvery: 1 }),
    table([
      { label: title.replace('Cost by ', ''), value: (r) => r.key, render: (r) => (link ? h('a', { href: link(r.key) }, r.key) : r.key) },
      { label: 'Calls', num: true, value: (r) => r.requests, render: (r) => fmtInt(r.requests) },
      { label: 'Errors', num: true, value: (r) => r.errors, render: (r) => fmtInt(r.errors) },
      { label: 'Tokens in / out', num: true, value: (r) => r.input_tokens + r.output_tokens, render: (r) => `${fmtInt(r.input_tokens)} / ${fmtInt(r.output_tokens)}` },
      { label: 'Cost', num: true, value: (r) => r.cost_usd, render: (r) => fmtUsd(r.cost_usd) },
      { label: 'Share', num: true, value: (r) => r.cost_usd, render: (r) => fmtPct(total > 0 ? (100 * r.cost_usd) / total : 0) },
    ], top, { id, csv, sortCol: 4, sortDesc: true })));
}

/** Spend so far this month and the straight line through it to the month's end. */
function forecast(today, days, dim) {
  const n = Number(today.slice(8, 10));
  const perDay = new Map(days.map((r) => [r.key, r.cost_usd]));
  let sum = 0;
  const points = [];
  for (let d = 1; d <= n; d += 1) {
    const key = `${today.slice(0, 8)}${String(d).padStart(2, '0')}`;
    sum += perDay.get(key) || 0;
    points.push({ label: key, short: String(d), value: sum });
  }
  const rate = sum / n;
  for (let d = n + 1; d <= dim; d += 1) {
    points.push({ label: `${today.slice(0, 8)}${String(d).padStart(2, '0')}`, short: String(d), value: rate * d, kind: 'forecast' });
  }
  return { spent: sum, projected: rate * dim, points };
}

export async function mount(main, route) {
  const p = route.params;
  const today = settings.today;
  const from = h('input', { type: 'date', name: 'from', value: p.get('from') || monthStart(today) });
  const to = h('input', { type: 'date', name: 'to', value: p.get('to') || today });
  const day = h('input', { type: 'date', name: 'day', value: p.get('day') || today });
  const form = h('form', { class: 'filters', 'aria-label': 'Range' }, field('From day', from), field('To day (inclusive)', to), field('Day for hourly activity', day), h('div', { class: 'field buttons' }, h('button', { type: 'submit' }, 'Show')));
  const fc = h('div', {});
  const groups = h('div', { class: 'groups' });
  const hourly = h('div', {});
  fill(main, heading('Cost analysis', `Days and hours in ${settings.timezone}.`), h('h2', {}, 'This month: spend and forecast'), fc, form, groups, hourly);

  async function refresh() {
    const range = { from: from.value, to: to.value };
    setParams({ ...range, day: day.value });
    const [models, teams, users, hours, monthDays, teamMonth, teamList] = await Promise.all([
      api('/aggregates', { params: { group_by: 'model', ...range } }),
      api('/aggregates', { params: { group_by: 'team', ...range } }),
      api('/aggregates', { params: { group_by: 'user', ...range } }),
      api('/aggregates', { params: { group_by: 'hour', from: day.value } }),
      api('/aggregates', { params: { group_by: 'day', from: monthStart(today), to: today } }),
      api('/aggregates', { params: { group_by: 'team', from: monthStart(today), to: today } }),
      api('/teams'),
    ]);
    const s = settings.summary;
    const f = forecast(today, monthDays, s.days_in_month);
    const budget = s.team_limits_total.monthly_budget_usd;
    const n = Number(today.slice(8, 10));
    const spentByTeam = new Map(teamMonth.map((r) => [r.key, r.cost_usd]));
    const teamRows = teamList.map((t) => {
      const spent = spentByTeam.get(t.name) || 0;
      return { name: t.name, spent, projected: (spent / n) * s.days_in_month, budget: t.limits.monthly_budget_usd };
    });
    fill(fc, h('div', { class: 'two' }, h('div', {},
      card('Organisation', [
        { label: 'Spent so far', value: meter(f.spent, budget, fmtUsd) },
        { label: `Forecast for ${s.days_in_month} days`, value: meter(f.projected, budget, fmtUsd) },
        { label: 'Against', value: budget === null ? 'no team sets a monthly budget' : `the teams' monthly budgets summed${s.teams_without_limits ? ` (${s.teams_without_limits} team(s) without a limit)` : ''}` },
      ]),
      table([
        { label: 'Team', value: (r) => r.name },
        { label: 'Spent', num: true, value: (r) => r.spent, render: (r) => fmtUsd(r.spent) },
        { label: 'Forecast', num: true, value: (r) => r.projected, render: (r) => fmtUsd(r.projected) },
        { label: 'Monthly budget', num: true, value: (r) => r.budget ?? -1, render: (r) => (r.budget === null ? 'none' : fmtUsd(r.budget)) },
        { label: 'Forecast / budget', num: true, value: (r) => share(r.projected, r.budget) ?? -1, render: (r) => meter(r.projected, r.budget, fmtUsd) },
      ], teamRows, { id: 'forecast-teams', sortCol: 2, sortDesc: true, empty: 'No teams.' })),
      bars(f.points, { title: 'Cumulative cost this month (USD); lighter bars are the straight-line forecast', fmt: fmtUsd, ref: budget ? { value: budget, label: 'budget' } : null })));
    fill(groups,
      groupTable('Cost by model', 'cost-models', models, csvUrl('/aggregates', { group_by: 'model', ...range }), null, modelName),
      groupTable('Cost by team', 'cost-teams', teams, csvUrl('/aggregates', { group_by: 'team', ...range }), (k) => `#/teams/${encodeURIComponent(k)}`),
      groupTable('Cost by user', 'cost-users', users, csvUrl('/aggregates', { group_by: 'user', ...range }), (k) => `#/users/${encodeURIComponent(k)}`));
    const byHour = new Map(hours.map((r) => [Number(r.key.slice(11, 13)), r]));
    const pts = (field_) => Array.from({ length: 24 }, (_, i) => ({ label: `${String(i).padStart(2, '0')}:00`, short: String(i), value: byHour.get(i)?.[field_] || 0 }));
    fill(hourly, h('h2', {}, `Hourly activity on ${day.value}`), h('div', { class: 'charts' },
      bars(pts('requests'), { title: 'Calls per hour', fmt: fmtInt, labelEvery: 3 }),
      bars(pts('cost_usd'), { title: 'Cost per hour (USD)', fmt: fmtUsd, labelEvery: 3 })),
    h('p', {}, h('a', { class: 'csv', href: csvUrl('/aggregates', { group_by: 'hour', from: day.value }), download: '' }, 'Export hourly CSV')));
  }
  form.addEventListener('submit', (e) => { e.preventDefault(); refresh(); });
  await refresh();
  return { refresh };
}
