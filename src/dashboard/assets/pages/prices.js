// Prices: the price table (USD per 1,000 tokens), editable; a new model id adds a row.

import { api, csvUrl } from '../api.js';
import { h, fill, table, field, heading, attempt } from '../ui.js';

const perK = (v) => (v === null || v === undefined ? 'as input' : `$${v}`);

export async function mount(main) {
  const model = h('input', { name: 'model_id', required: true, placeholder: 'anthropic.claude-…' });
  const fields = ['input_per_1k', 'output_per_1k', 'cache_read_per_1k', 'cache_write_per_1k'];
  const inputs = Object.fromEntries(fields.map((k) => [k, h('input', { name: k, inputmode: 'decimal', required: k.startsWith('in') || k.startsWith('out') })]));
  const form = h('form', { class: 'filters', 'aria-label': 'Set a price', 'data-change': true },
    field('Model id', model),
    field('Input, USD per 1k tokens', inputs.input_per_1k),
    field('Output, USD per 1k tokens', inputs.output_per_1k),
    field('Cache read, USD per 1k', inputs.cache_read_per_1k, 'empty: the input price'),
    field('Cache write, USD per 1k', inputs.cache_write_per_1k, 'empty: the input price'),
    h('div', { class: 'field buttons' }, h('button', { type: 'submit' }, 'Save price')));
  const list = h('div', {});
  fill(main, heading('Prices', 'What a call costs: tokens × price per 1,000 tokens. Choose Edit to load a row into the form.'), h('section', {}, h('h2', {}, 'Set a price'), form), list);

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    attempt(async () => {
      const body = { model_id: model.value.trim() };
      for (const k of fields) {
        const t = inputs[k].value.trim();
        if (t === '') { if (!k.startsWith('cache')) throw new Error(`${k} is required`); continue; }
        const n = Number(t);
        if (!Number.isFinite(n) || n < 0) throw new Error(`${k}: enter a number ≥ 0`);
        body[k] = n;
      }
      await api('/prices', { method: 'PUT', body });
      await refresh();
    }, 'Price saved.');
  });

  async function refresh() {
    const prices = await api('/prices');
    fill(list, table([
      { label: 'Model id', value: (r) => r.model_id, render: (r) => h('code', {}, r.model_id) },
      { label: 'Input / 1k', num: true, value: (r) => r.input_per_1k, render: (r) => perK(r.input_per_1k) },
      { label: 'Output / 1k', num: true, value: (r) => r.output_per_1k, render: (r) => perK(r.output_per_1k) },
      { label: 'Cache read / 1k', num: true, value: (r) => r.cache_read_per_1k ?? -1, render: (r) => perK(r.cache_read_per_1k) },
      { label: 'Cache write / 1k', num: true, value: (r) => r.cache_write_per_1k ?? -1, render: (r) => perK(r.cache_write_per_1k) },
      { label: 'Action', render: (r) => h('button', {
        type: 'button', class: 'secondary small', 'data-change': true, 'aria-label': `Edit the price of ${r.model_id}`,
        onclick: () => {
          model.value = r.model_id;
          for (const k of fields) inputs[k].value = r[k] ?? '';
          inputs.input_per_1k.focus();
        },
      }, 'Edit') },
    ], prices, { id: 'prices-table', csv: csvUrl('/prices'), empty: 'No prices.' }));
  }
  await refresh();
  return { refresh };
}
