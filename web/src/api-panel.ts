/** The API panel: tabs for cURL, JavaScript and Python, the snippet for the current settings, copy. */
import { byId } from './dom.js';
import { type Language, type SnippetInput, snippet } from './snippets.js';

let lang: Language = 'curl';
let last: SnippetInput | undefined;

export function renderApiPanel(input: SnippetInput): void {
  last = input;
  byId('code-text').textContent = snippet(lang, input);
  byId('api-note').textContent =
    `${input.needsKey ? 'Set PIXELIFT_API_KEY to your key. ' : ''}` +
    '“Prefer: wait=60” holds the call until the job ends (up to 60 s); without it the answer is 202 at once, then follow GET /v1/jobs/{id}/events or poll GET /v1/jobs/{id}.';
}

const tabs = (['curl', 'js', 'python'] as const).map((l) => ({ lang: l, el: byId(`tab-${l}`) }));
function selectTab(next: Language, focus = false): void {
  lang = next;
  for (const t of tabs) {
    const on = t.lang === next;
    t.el.setAttribute('aria-selected', String(on));
    t.el.tabIndex = on ? 0 : -1;
    if (on && focus) t.el.focus();
    if (on) byId('code').setAttribute('aria-labelledby', t.el.id);
  }
  if (last) renderApiPanel(last);
}
tabs.forEach((t, i) => {
  t.el.addEventListener('click', () => selectTab(t.lang));
  t.el.addEventListener('keydown', (e) => {
    const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
    if (step) selectTab(tabs[(i + step + tabs.length) % tabs.length]!.lang, true);
  });
});
byId('copy').addEventListener('click', async () => {
  const button = byId('copy');
  try {
    await navigator.clipboard.writeText(byId('code-text').textContent ?? '');
    button.textContent = 'Copied';
  } catch {
    // Not a secure context (plain http beyond localhost): select it for Ctrl+C instead.
    getSelection()?.selectAllChildren(byId('code-text'));
    button.textContent = 'Press Ctrl+C';
  }
  setTimeout(() => {
    button.textContent = 'Copy';
  }, 1500);
});
