/** The model picker: one radio card per model of GET /v1/models, with purpose, speed and licence. */
import type { Model } from './api.js';
import { h } from './dom.js';

export function renderModels(container: HTMLElement, models: readonly Model[]): void {
  container.replaceChildren(...models.map(modelCard));
}

function speed(m: Model): string {
  const k = m.input_kpx_per_second;
  if (k === null) return 'instant';
  const word = k >= 200 ? 'very fast' : k >= 60 ? 'fast' : k >= 20 ? 'medium' : 'slow';
  return `${word} · ${k} kpx/s`;
}

function modelCard(m: Model): HTMLElement {
  const firstSentence = m.purpose.split(/(?<=\.)\s/)[0] ?? m.purpose;
  return h(
    'label',
    { class: 'model', title: m.purpose },
    h('input', { type: 'radio', name: 'model', value: m.id, checked: m.default }),
    h(
      'span',
      { class: 'model-body' },
      h(
        'span',
        { class: 'model-top' },
        h('strong', {}, m.name),
        h('span', { class: `kind k-${m.kind}` }, m.kind),
      ),
      h('span', { class: 'model-purpose' }, firstSentence),
      h(
        'span',
        { class: 'model-meta' },
        `${speed(m)} · ${m.scales ? m.scales.map((s) => `${s}×`).join('/') : 'any scale'} · ${m.license}`,
      ),
    ),
  );
}
