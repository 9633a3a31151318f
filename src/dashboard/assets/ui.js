// Building blocks every page uses: an element builder, number and time formats (times
// in quota.timezone, labelled), sortable tables with CSV export, progress bars
// coloured by share used, status badges, forms and the notice line.

/** The calendar the numbers are counted in (filled from /summary at login). */
export const settings = { timezone: 'UTC', warningPercent: 80, today: '', role: 'admin' };

/** `h('a', {href}, 'text', child)`: an element with attributes and children. */
export function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const intFmt = new Intl.NumberFormat('en');
export const fmtInt = (n) => intFmt.format(n || 0);
/** The one rule for amounts (src/domain/money.rs): two decimals from $1 and for zero;
 *  below $1 up to six (micro-dollars), trailing zeros trimmed to two. */
export function fmtUsd(n) {
  const v = n || 0;
  const a = Math.abs(v);
  const digits = a === 0 || Math.round(a * 100) >= 100 ? 2 : 6;
  const text = a.toLocaleString('en', { minimumFractionDigits: 2, maximumFractionDigits: digits });
  return `${v < 0 && /[1-9]/.test(text) ? '-' : ''}$${text}`;
}
export const fmtPct = (n) => `${Math.round(n)} %`;

function parts(ms, opts) {
  return new Intl.DateTimeFormat('en-CA', { timeZone: settings.timezone, hourCycle: 'h23', ...opts })
    .formatToParts(new Date(ms))
    .reduce((o, p) => ({ ...o, [p.type]: p.value }), {});
}

/** `2026-11-27 14:05:09` in quota.timezone. */
export function fmtTime(ms) {
  if (ms === null || ms === undefined) return '—';
  const p = parts(ms, { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

/** The label saying which zone times are in. */
export const tzLabel = () => `times in ${settings.timezone}`;

/** `YYYY-MM-DD` `n` days before `day`. */
export function addDays(day, n) {
  const d = new Date(`${day}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}
export const monthStart = (day) => `${day.slice(0, 8)}01`;

/** Shows a short notice (errors in red) for a few seconds. */
export function notify(text, isError) {
  const t = document.getElementById('toast');
  t.textContent = text;
  t.className = isError ? 'toast show error' : 'toast show';
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => { t.className = 'toast'; }, isError ? 8000 : 4000);
}

/** A user's share of one limit, 0-100+, or null without a limit. */
export function share(used, limit) {
  if (limit === null || limit === undefined) return null;
  if (limit <= 0) return used > 0 ? 100 : 0;
  return (100 * used) / limit;
}

/** A progress bar of `used` against `limit`: green, amber from the warning threshold, red at 100 %. */
export function meter(used, limit, fmt, none = 'no limit') {
  const s = share(used, limit);
  if (s === null) return h('span', { class: 'meter-text' }, fmt(used), h('span', { class: 'muted' }, ` / ${none}`));
  const level = s >= 100 ? 'over' : s >= settings.warningPercent ? 'warn' : 'ok';
  // Through the CSSOM: the policy refuses style attributes.
  const bar = h('div', { class: 'fill' });
  bar.style.width = `${Math.min(100, s).toFixed(1)}%`;
  return h('div', { class: 'meter-wrap' },
    h('span', { class: 'meter-text' }, `${fmt(used)} / ${fmt(limit)}`),
    h('div', {
      class: `meter ${level}`, role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': 100,
      'aria-valuenow': Math.round(Math.min(s, 100)), 'aria-label': `${fmt(used)} of ${fmt(limit)}, ${fmtPct(s)}`,
    }, bar));
}

/** A status badge: active, warned, blocked or protected. */
export const badge = (status) => h('span', { class: `badge ${status}` }, status);

const sortState = new Map();

/**
 * A table. `columns`: [{label, value(row) (sort key and CSV-free text), render?(row),
 * num?}]; `opts`: {id, caption, csv?, empty?, rowClick?}. Clicking a header sorts
 * (kept across refreshes by `id`).
 */
export function table(columns, rows, opts) {
  const state = sortState.get(opts.id) || { col: opts.sortCol ?? -1, desc: opts.sortDesc ?? false };
  const sorted = rows.slice();
  if (state.col >= 0 && columns[state.col]) {
    const v = columns[state.col].value;
    sorted.sort((a, b) => {
      const x = v(a);
      const y = v(b);
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
      return state.desc ? -c : c;
    });
  }
  const head = h('tr', {}, columns.map((c, i) => {
    const dir = state.col === i ? (state.desc ? 'descending' : 'ascending') : 'none';
    return h('th', { scope: 'col', class: c.num ? 'num' : '', 'aria-sort': c.value ? dir : null },
      c.value ? h('button', {
        type: 'button', class: 'sort',
        onclick: () => {
          sortState.set(opts.id, { col: i, desc: state.col === i ? !state.desc : c.num === true });
          opts.onSort?.();
        },
      }, c.label, state.col === i ? (state.desc ? ' ▼' : ' ▲') : '') : c.label);
  }));
  const body = sorted.length
    ? sorted.map((r) => h('tr', {}, columns.map((c) => h('td', { class: c.num ? 'num' : '', 'data-label': c.label }, c.render ? c.render(r) : c.value(r)))))
    : [h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, opts.empty || 'Nothing to show.'))];
  const t = h('table', { id: opts.id }, opts.caption ? h('caption', {}, opts.caption) : null, h('thead', {}, head), h('tbody', {}, body));
  return h('div', { class: 'table-block' },
    opts.csv ? h('div', { class: 'table-tools' }, h('a', { href: opts.csv, class: 'csv', download: '' }, 'Export CSV')) : null,
    h('div', { class: 'table-scroll' }, t));
}

/** A labelled form field. */
export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('small', { class: 'muted' }, hint) : null);
}

/** A page heading with an optional note under it. */
export function heading(title, note) {
  return [h('h1', {}, title), note ? h('p', { class: 'muted page-note' }, note) : null];
}

/** A card of numbers: [{label, value}] under a title. */
export function card(title, items) {
  return h('section', { class: 'card', 'aria-label': title }, h('h2', {}, title),
    h('dl', {}, items.map((i) => [h('dt', {}, i.label), h('dd', {}, i.value)])));
}

/**
 * The short-term limits of a user or team (`rate` of `users/{u}` and `teams/{t}`): calls,
 * tokens and calls in flight in the last minute, over all proxies, against the limits in
 * force (an override or the `ratelimit.*` default).
 */
export function rateCard(r) {
  return card('Last minute (short-term limits)', [
    { label: 'Calls', value: meter(r.requests_last_minute, r.rpm, fmtInt) },
    { label: 'Tokens (in + out)', value: meter(r.tokens_last_minute, r.tpm, fmtInt) },
    { label: 'In flight now', value: meter(r.in_flight, r.max_concurrent, fmtInt) },
  ]);
}

/** Replaces a region's content. */
export function fill(region, ...children) {
  region.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
}

/** Runs `fn` and shows its error, if any, as a notice; returns whether it succeeded. */
export async function attempt(fn, done) {
  try {
    await fn();
    if (done) notify(done);
    return true;
  } catch (e) {
    notify(e.message || String(e), true);
    return false;
  }
}

/** The limit fields of a form: empty means no limit. */
export function limitValue(input, isMoney) {
  const t = input.value.trim();
  if (t === '') return null;
  const n = Number(t);
  if (!Number.isFinite(n) || n < 0 || (!isMoney && !Number.isInteger(n))) {
    throw new Error(`${input.labels?.[0]?.textContent || input.name}: enter a ${isMoney ? 'number' : 'whole number'} ≥ 0, or leave empty for no limit`);
  }
  return n;
}

/** Writes the filters of the open page into the address without a navigation. */
export function setParams(params) {
  const [path] = location.hash.split('?');
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v !== null && v !== undefined) q.set(k, v);
  const s = q.toString();
  history.replaceState(null, '', `${path || '#/overview'}${s ? `?${s}` : ''}`);
}
