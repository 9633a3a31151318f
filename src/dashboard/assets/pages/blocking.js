// Blocking: who is blocked (why, since when, until when) or protected; block with a
// duration and reason, unblock with a reason, protect and unprotect; the blocking
// audit trail and the admin audit log.

import { api, csvUrl } from '../api.js';
import { h, fill, settings, fmtTime, table, field, heading, attempt, badge, tzLabel, setParams } from '../ui.js';

const show = (v, key = '') => {
  if (v === null || v === undefined) return 'none';
  if (typeof v === 'number' && /(_until|_at)$/.test(key)) return fmtTime(v);
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
};

/** What an admin change changed, field by field (creations and deletions in short). */
export function changes(before, after) {
  if (!before && !after) return ['—'];
  if (!before || !after) {
    const obj = after || before;
    const fields = typeof obj === 'object' ? Object.entries(obj).filter(([, v]) => v !== null && typeof v !== 'object') : [];
    return [`${after ? 'created' : 'deleted'}${fields.length ? `: ${fields.slice(0, 4).map(([k, v]) => `${k} ${show(v, k)}`).join(', ')}` : ''}`];
  }
  if (typeof before !== 'object' || typeof after !== 'object') return [`${show(before)} → ${show(after)}`];
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  const out = keys.filter((k) => show(before[k]) !== show(after[k])).map((k) => `${k}: ${show(before[k], k)} → ${show(after[k], k)}`);
  return out.length ? out : ['no change'];
}

export async function mount(main, route) {
  const p = route.params;
  const who = h('input', { name: 'user', list: 'user-names', value: p.get('user') || '', required: true, autocomplete: 'off' });
  const names = h('datalist', { id: 'user-names' });
  const duration = h('select', { name: 'duration' }, [['until-reset', 'until the daily reset'], ['30m', '30 minutes'], ['2h', '2 hours'], ['1d', '1 day'], ['7d', '7 days'], ['indefinite', 'until unblocked']]
    .map(([v, t]) => h('option', { value: v }, t)));
  const reason = h('input', { name: 'reason', placeholder: 'shown to the user', required: true });
  const form = h('form', { class: 'filters', 'aria-label': 'Change a user' },
    field('User', who), names, field('Duration', duration), field('Reason', reason),
    h('div', { class: 'field buttons' },
      h('button', { type: 'submit', class: 'danger', value: 'block' }, 'Block'),
      h('button', { type: 'submit', class: 'secondary', value: 'unblock' }, 'Unblock'),
      h('button', { type: 'submit', class: 'secondary', value: 'protect' }, 'Protect'),
      h('button', { type: 'submit', class: 'secondary', value: 'unprotect' }, 'Unprotect')));
  const current = h('div', {});
  const trail = h('div', {});
  const admin = h('div', {});
  fill(main, heading('Blocking', `A blocked user's calls are refused (403) until the block ends; a protected user is never refused for limits. ${tzLabel()[0].toUpperCase()}${tzLabel().slice(1)}.`),
    h('section', { 'data-change': true }, h('h2', {}, 'Block, unblock, protect'), form),
    h('section', {}, h('h2', {}, 'Blocked or protected now'), current),
    h('section', {}, h('h2', {}, 'Blocking audit trail'), trail),
    h('section', {}, h('h2', {}, 'Admin audit log'), admin));

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const action = e.submitter?.value || 'block';
    const user = who.value.trim();
    if (!user) return;
    const body = action === 'block' ? { duration: duration.value, reason: reason.value }
      : action === 'unblock' ? { reason: reason.value || undefined } : undefined;
    attempt(async () => {
      await api(`/users/${encodeURIComponent(user)}/${action}`, { method: 'POST', body });
      reason.value = '';
      await refresh();
    }, `${user}: ${action} done.`);
  });

  // The user names for the form's suggestions: fetched when the field is focused, at
  // most once a minute, not with every refresh (the list can be long).
  let namesAt = 0;
  who.addEventListener('focus', async () => {
    if (Date.now() - namesAt < 60_000) return;
    namesAt = Date.now();
    try {
      const users = await api('/users');
      fill(names, users.map((u) => h('option', { value: u.username }, u.person)));
    } catch {
      namesAt = 0;
    }
  });

  async function refresh() {
    setParams({ user: who.value });
    const [blocks, audit, log] = await Promise.all([
      api('/blocks'),
      api('/audit/blocking', { params: { limit: 50 } }),
      // Team admins see their teams' blocking trail; the admin audit is for admins and viewers.
      settings.role === 'team_admin' ? { entries: [] } : api('/audit/admin', { params: { limit: 50 } }),
    ]);
    const since = (r) => audit.find((e) => e.username === r.username && (r.blocked ? ['block', 'auto_block'] : ['protect']).includes(e.operation))?.created_at;
    fill(current, table([
      { label: 'User', value: (r) => r.username, render: (r) => h('a', { href: `#/users/${encodeURIComponent(r.username)}` }, r.username) },
      { label: 'State', value: (r) => (r.blocked ? 'blocked' : 'protected'), render: (r) => [r.blocked ? badge('blocked') : null, r.administrative_safe ? badge('protected') : null] },
      { label: 'Reason', value: (r) => r.blocked_reason || '' },
      { label: 'Since', value: (r) => since(r) || 0, render: (r) => (since(r) ? fmtTime(since(r)) : '—') },
      { label: 'Until', value: (r) => r.blocked_until || r.safe_until || 0, render: (r) => (r.blocked ? (r.blocked_until ? fmtTime(r.blocked_until) : 'until unblocked') : (r.safe_until ? fmtTime(r.safe_until) : 'standing')) },
      { label: 'Action', render: (r) => h('button', { type: 'button', class: 'secondary small', 'data-change': true, 'aria-label': `Pick ${r.username} in the form`, onclick: () => { who.value = r.username; reason.focus(); } }, 'Pick') },
    ], blocks, { id: 'blocks-table', csv: csvUrl('/blocks'), empty: 'Nobody is blocked or protected.' }));
    fill(trail, table([
      { label: 'Time', value: (r) => r.created_at, render: (r) => fmtTime(r.created_at) },
      { label: 'User', value: (r) => r.username },
      { label: 'What', value: (r) => r.operation },
      { label: 'Reason', value: (r) => r.reason || '' },
      { label: 'By', value: (r) => r.performed_by },
    ], audit, { id: 'blocking-audit', csv: csvUrl('/audit/blocking'), empty: 'No blocking changes yet.' }));
    fill(admin, table([
      { label: 'Time', value: (r) => r.created_at, render: (r) => fmtTime(r.created_at) },
      { label: 'Who', value: (r) => r.actor },
      { label: 'What', value: (r) => r.operation },
      { label: 'Resource', value: (r) => r.resource },
      { label: 'Change', value: (r) => changes(r.before, r.after).join('; '), render: (r) => h('ul', { class: 'changes' }, changes(r.before, r.after).map((c) => h('li', {}, c))) },
    ], log.entries || log.records || [], { id: 'admin-audit', csv: csvUrl('/audit/admin'), empty: 'No admin changes yet.' }));
  }
  await refresh();
  return { refresh };
}
