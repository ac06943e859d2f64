/**
 * The API panel: the exact cURL, JavaScript (Node ≥ 20) and Python calls for the current
 * settings. A local file is sent as multipart (what a script has at hand is a file path), a
 * URL as JSON. The key is never written out: the snippets read PIXELIFT_API_KEY from the
 * environment. `Prefer: wait=60` makes each one a single call that returns the finished job.
 */
import type { Settings } from './settings.js';

export type Language = 'curl' | 'js' | 'python';

export interface SnippetInput {
  /** Origin of the API, e.g. http://127.0.0.1:8080. */
  readonly base: string;
  readonly needsKey: boolean;
  readonly image:
    | { readonly kind: 'file'; readonly name: string }
    | { readonly kind: 'url'; readonly url: string };
  readonly settings: Settings;
}

export function snippet(lang: Language, input: SnippetInput): string {
  return lang === 'curl' ? curl(input) : lang === 'js' ? javascript(input) : python(input);
}

/** Multipart text fields: numbers and strings as text, `output` as JSON text. */
function formFields(s: Settings): [string, string][] {
  return Object.entries(s).map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]);
}

const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function curl({ base, needsKey, image, settings }: SnippetInput): string {
  const lines = [`curl -s ${base}/v1/upscale`];
  if (needsKey) lines.push(`-H "Authorization: Bearer $PIXELIFT_API_KEY"`);
  lines.push(`-H 'Prefer: wait=60'`);
  if (image.kind === 'file') {
    // curl reads ; and , after @name as options; a quoted name keeps them literal.
    const name = /[;,"\\]/.test(image.name) ? `"${image.name.replace(/["\\]/g, '\\$&')}"` : image.name;
    lines.push(`-F ${sh(`image=@${name}`)}`);
    for (const [k, v] of formFields(settings)) lines.push(`-F ${sh(`${k}=${v}`)}`);
  } else {
    lines.push(`-H 'Content-Type: application/json'`);
    lines.push(`-d ${sh(JSON.stringify({ image: image.url, ...settings }))}`);
  }
  return lines.join(' \\\n  ');
}

/** A JS literal in the project's style: single quotes, bare keys. */
function js(v: unknown): string {
  if (typeof v === 'string')
    return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v).map(
      ([k, x]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : js(k)}: ${js(x)}`,
    );
    return `{ ${entries.join(', ')} }`;
  }
  return String(v);
}

function javascript({ base, needsKey, image, settings }: SnippetInput): string {
  const headers = [
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the generated snippet's own template literal
    ...(needsKey ? ['Authorization: `Bearer ${process.env.PIXELIFT_API_KEY}`'] : []),
    "Prefer: 'wait=60'",
  ];
  const lines: string[] = [];
  if (image.kind === 'file') {
    lines.push(
      "import { openAsBlob } from 'node:fs';",
      '',
      'const form = new FormData();',
      `form.append('image', await openAsBlob(${js(image.name)}), ${js(image.name)});`,
    );
    for (const [k, v] of Object.entries(settings)) {
      const text = typeof v === 'object' ? `JSON.stringify(${js(v)})` : js(String(v));
      lines.push(`form.append(${js(k)}, ${text});`);
    }
    lines.push(
      '',
      `const res = await fetch(${js(`${base}/v1/upscale`)}, {`,
      "  method: 'POST',",
      `  headers: { ${headers.join(', ')} },`,
      '  body: form,',
      '});',
    );
  } else {
    headers.push("'Content-Type': 'application/json'");
    lines.push(
      `const res = await fetch(${js(`${base}/v1/upscale`)}, {`,
      "  method: 'POST',",
      `  headers: { ${headers.join(', ')} },`,
      `  body: JSON.stringify(${js({ image: image.url, ...settings })}),`,
      '});',
    );
  }
  lines.push(
    'const job = await res.json();',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the generated snippet's own template literal
    'if (!res.ok) throw new Error(`${job.error.code}: ${job.error.message}`);',
    'console.log(job.status, job.result?.url);',
  );
  return lines.join('\n');
}

/** A Python literal: JSON's strings and numbers are Python's; true/false/null are not. */
function py(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'object') {
    return `{${Object.entries(v)
      .map(([k, x]) => `${JSON.stringify(k)}: ${py(x)}`)
      .join(', ')}}`;
  }
  return JSON.stringify(v);
}

function python({ base, needsKey, image, settings }: SnippetInput): string {
  const headers = [
    ...(needsKey ? [`"Authorization": f"Bearer {os.environ['PIXELIFT_API_KEY']}"`] : []),
    '"Prefer": "wait=60"',
  ];
  const imports = [
    ...(image.kind === 'file' && settings.output ? ['import json'] : []),
    ...(needsKey ? ['import os'] : []),
  ];
  const lines = [...imports, ...(imports.length ? [''] : []), 'import requests', ''];
  if (image.kind === 'file') {
    const data = Object.entries(settings).map(
      ([k, v]) =>
        `${JSON.stringify(k)}: ${typeof v === 'object' ? `json.dumps(${py(v)})` : JSON.stringify(String(v))}`,
    );
    lines.push(
      `with open(${JSON.stringify(image.name)}, "rb") as image:`,
      '    res = requests.post(',
      `        ${JSON.stringify(`${base}/v1/upscale`)},`,
      `        headers={${headers.join(', ')}},`,
      '        files={"image": image},',
      `        data={${data.join(', ')}},`,
      '        timeout=90,',
      '    )',
    );
  } else {
    lines.push(
      'res = requests.post(',
      `    ${JSON.stringify(`${base}/v1/upscale`)},`,
      `    headers={${headers.join(', ')}},`,
      `    json=${py({ image: image.url, ...settings })},`,
      '    timeout=90,',
      ')',
    );
  }
  lines.push(
    'job = res.json()',
    'if not res.ok:',
    `    raise SystemExit(f"{job['error']['code']}: {job['error']['message']}")`,
    'print(job["status"], (job["result"] or {}).get("url"))',
  );
  return lines.join('\n');
}
