// Charts drawn as inline SVG (no library): vertical bars with an optional reference
// line (a budget) and bars of a second kind (a forecast). Each chart is an image with
// a text label for screen readers, each bar has a tooltip, and a hidden table repeats
// the numbers.

const NS = 'http://www.w3.org/2000/svg';

function el(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/** The smallest of 1, 2, 2.5, 5 × 10^k at or above `v` (round axis labels). */
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= v * (1 - 1e-12)) || v;
}

/**
 * A bar chart. `points`: [{label, value, kind?: 'forecast'}]; `opts`: {title, fmt,
 * ref?: {value, label}, labelEvery?}.
 */
export function bars(points, opts) {
  const fmt = opts.fmt || String;
  const W = 640;
  const H = 200;
  const padL = 56;
  const padB = 22;
  const padT = 12;
  const max = niceMax(Math.max(0, ...points.map((p) => p.value), opts.ref ? opts.ref.value : 0));
  const fig = document.createElement('figure');
  fig.className = 'chart';
  const cap = document.createElement('figcaption');
  cap.textContent = opts.title;
  fig.append(cap);
  const total = points.filter((p) => p.kind !== 'forecast').reduce((s, p) => s + p.value, 0);
  const svg = el('svg', {
    viewBox: `0 0 ${W} ${H}`,
    role: 'img',
    'aria-label': `${opts.title}: ${points.length} bars, highest ${fmt(Math.max(0, ...points.map((p) => p.value)))}, total ${fmt(total)}`,
    preserveAspectRatio: 'none',
  });
  const innerW = W - padL - 4;
  const innerH = H - padB - padT;
  for (const f of [0, 0.5, 1]) {
    const y = padT + innerH * (1 - f);
    svg.append(el('line', { x1: padL, x2: W, y1: y, y2: y, class: 'grid' }));
    svg.append(el('text', { x: padL - 4, y: y + 4, class: 'axis', 'text-anchor': 'end' }, fmt(max * f)));
  }
  const step = innerW / Math.max(1, points.length);
  const every = opts.labelEvery || Math.max(1, Math.ceil(points.length / 12));
  points.forEach((p, i) => {
    const h = (innerH * p.value) / max;
    const x = padL + i * step + step * 0.12;
    const r = el('rect', {
      x,
      y: padT + innerH - h,
      width: Math.max(1, step * 0.76),
      height: Math.max(0, h),
      class: p.kind === 'forecast' ? 'bar forecast' : 'bar',
    });
    r.append(el('title', {}, `${p.label}: ${fmt(p.value)}${p.kind === 'forecast' ? ' (forecast)' : ''}`));
    svg.append(r);
    if (i % every === 0) {
      svg.append(el('text', { x: x + step * 0.38, y: H - 6, class: 'axis', 'text-anchor': 'middle' }, p.short || p.label));
    }
  });
  if (opts.ref && opts.ref.value > 0) {
    const y = padT + innerH * (1 - opts.ref.value / max);
    svg.append(el('line', { x1: padL, x2: W, y1: y, y2: y, class: 'ref' }));
    svg.append(el('text', { x: W - 4, y: y - 4, class: 'axis ref-label', 'text-anchor': 'end' }, `${opts.ref.label} ${fmt(opts.ref.value)}`));
  }
  fig.append(svg);
  if (!points.length) {
    const p = document.createElement('p');
    p.className = 'muted';
    p.textContent = 'No data in this range.';
    fig.append(p);
  }
  return fig;
}
