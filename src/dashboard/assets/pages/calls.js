// Calls: the per-call log with filters (user, team, model, operation, status, time
// range), page by page (newest first), a detail view of one call, CSV of every match.
// Calls the proxy refused are listed too, with the reason and the message the caller got.

import { api, csvUrl } from '../api.js';
import { h, fill, fmtInt, fmtUsd, fmtTime, table, field, heading, setParams, tzLabel } from '../ui.js';

const FILTERS = ['user', 'team', 'model', 'operation', 'status', 'from', 'to'];
const PAGE = 50;

/** Why a call did not simply succeed: refused by the proxy (and the message the caller
 * got), never sent upstream, or a response cut short; empty otherwise. */
function why(r) {
  if (r.refused) return `refused (${r.refused.replaceAll('_', ' ')})${r.refusal_message ? `: ${r.refusal_message}` : ''}`;
  if (r.not_sent) return `not sent (${r.not_sent.replaceAll('_', ' ')})`;
  if (r.ended_early) return `ended early (${r.ended_early.replaceAll('_', ' ')})`;
  return '';
}

function detail(r) {
  const rows = Object.entries(r).map(([k, v]) => [h('dt', {}, k), h('dd', {}, k === 'created_at' ? `${fmtTime(v)} (${tzLabel()})` : v === null ? '—' : String(v))]);
  return h('section', { class: 'detail', 'aria-label': 'Call detail', tabindex: '-1', id: 'call-detail' },
    h('h2', {}, `Call ${r.request_uid}`), h('dl', { class: 'kv' }, rows));
}

export async function mount(main, route) {
  const p = route.params;
  const inputs = {
    user: h('input', { name: 'user', value: p.get('user') || '', placeholder: 'username' }),
    team: h('input', { name: 'team', value: p.get('team') || '', placeholder: 'team' }),
    model: h('input', { name: 'model', value: p.get('model') || '', placeholder: 'model id' }),
    operation: h('select', { name: 'operation' }, ['', 'Converse', 'ConverseStream', 'InvokeModel', 'InvokeModelWithResponseStream', 'CountTokens']
      .map((o) => h('option', { value: o, selected: p.get('operation') === o }, o || 'Any operation'))),
    status: h('select', { name: 'status' }, [['', 'Any status'], ['ok', 'OK (< 400)'], ['error', 'Errors (≥ 400)'], ['429', '429 (limits)'], ['403', '403 (blocked)']]
      .map(([v, t]) => h('option', { value: v, selected: p.get('status') === v }, t))),
    from: h('input', { name: 'from', type: 'date', value: p.get('from') || '' }),
    to: h('input', { name: 'to', type: 'date', value: p.get('to') || '' }),
  };
  const labels = { user: 'User', team: 'Team', model: 'Model', operation: 'Operation', status: 'Status', from: 'From day', to: 'To day (inclusive)' };
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter calls' },
    FILTERS.map((k) => field(labels[k], inputs[k])),
    h('div', { class: 'field buttons' }, h('button', { type: 'submit' }, 'Apply'), h('button', { type: 'reset', class: 'secondary' }, 'Clear')));
  const list = h('div', {});
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of calls' });
  const shown = h('div', {});
  fill(main, heading('Calls', `Every call through the proxy, refused ones included, newest first; ${tzLabel()}. Choose a time to see the call's details.`), form, list, pager, shown);

  let cursors = [null];
  let pageNo = 0;
  let selected = p.get('call') || '';
  const values = () => Object.fromEntries(FILTERS.map((k) => [k, inputs[k].value.trim()]));

  async function refresh() {
    const v = values();
    setParams({ ...v, call: selected });
    const page = await api('/usage', { params: { ...v, limit: PAGE, cursor: cursors[pageNo] || undefined } });
    fill(list, table([
      { label: 'Time', value: (r) => r.created_at, render: (r) => h('button', { type: 'button', class: 'link', 'aria-label': `Details of the call at ${fmtTime(r.created_at)}`, onclick: () => { selected = r.request_uid; refresh().then(() => document.getElementById('call-detail')?.focus()); } }, fmtTime(r.created_at)) },
      { label: 'User', value: (r) => r.username, render: (r) => h('a', { href: `#/users/${encodeURIComponent(r.username)}` }, r.username) },
      { label: 'Team', value: (r) => r.team },
      { label: 'Model', value: (r) => r.model_id },
      { label: 'Operation', value: (r) => r.operation },
      { label: 'Status', num: true, value: (r) => r.status_code, render: (r) => h('span', { class: r.status_code >= 400 ? 'error-text' : '' }, String(r.status_code), r.error_type ? ` ${r.error_type}` : '') },
      { label: 'Why', value: (r) => why(r), render: (r) => h('span', { class: 'reason', title: r.refusal_message || undefined }, why(r)) },
      { label: 'Tokens in / out', num: true, value: (r) => r.input_tokens + r.output_tokens, render: (r) => `${fmtInt(r.input_tokens)} / ${fmtInt(r.output_tokens)}` },
      { label: 'Cost', num: true, value: (r) => r.cost_usd, render: (r) => fmtUsd(r.cost_usd) },
      { label: 'Latency', num: true, value: (r) => r.latency_ms, render: (r) => `${fmtInt(r.latency_ms)} ms` },
    ], page.records, { id: 'calls-table', csv: csvUrl('/usage', v), onSort: refresh, empty: 'No call matches these filters.' }));
    fill(pager,
      h('button', { type: 'button', class: 'secondary', disabled: pageNo === 0, onclick: () => { pageNo -= 1; refresh(); } }, '← Newer'),
      h('span', { class: 'muted' }, ` page ${pageNo + 1} `),
      h('button', { type: 'button', class: 'secondary', disabled: !page.next_cursor, onclick: () => { cursors[pageNo + 1] = page.next_cursor; pageNo += 1; refresh(); } }, 'Older →'));
    const rec = page.records.find((r) => r.request_uid === selected);
    fill(shown, rec ? detail(rec) : null);
  }
  const restart = (e) => {
    e?.preventDefault();
    cursors = [null];
    pageNo = 0;
    refresh().catch((err) => fill(list, h('p', { class: 'error-text', role: 'alert' }, err.message)));
  };
  form.addEventListener('submit', restart);
  form.addEventListener('reset', () => setTimeout(restart, 0));
  await refresh();
  return { refresh };
}
