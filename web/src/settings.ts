/**
 * The form's settings as the request body of POST /v1/upscale (less the image), and back:
 * one shape for running, estimating, the API snippets and re-running a recent job. Values at
 * their defaults are left out, so the snippets show only what the user chose.
 */
import { byId } from './dom.js';

export interface Settings {
  model?: string;
  scale?: number;
  width?: number;
  height?: number;
  fit?: 'contain' | 'cover' | 'fill';
  denoise?: number;
  fix_compression?: number;
  sharpen?: number;
  output?: { format?: string; quality?: number; keep_metadata?: boolean };
  face?: { enabled: true; strength?: number };
}

export const LOSSY = new Set(['jpeg', 'webp', 'avif']);
const KNOBS = ['denoise', 'fix_compression', 'sharpen'] as const;

const input = (id: string) => byId<HTMLInputElement>(id);
const select = (id: string) => byId<HTMLSelectElement>(id);
const num = (id: string) => {
  const v = input(id).value.trim();
  return v === '' ? undefined : Number(v);
};

export function readSettings(form: HTMLFormElement): Settings {
  const s: Settings = {};
  const model = form.querySelector<HTMLInputElement>('input[name="model"]:checked')?.value;
  if (model) s.model = model;
  if (form.querySelector<HTMLInputElement>('input[name="mode"]:checked')?.value === 'size') {
    const width = num('width');
    const height = num('height');
    if (width !== undefined) s.width = width;
    if (height !== undefined) s.height = height;
    const fit = select('fit').value as Settings['fit'];
    if (fit !== 'contain') s.fit = fit;
  } else {
    s.scale = num('scale') ?? 4;
  }
  for (const knob of KNOBS) {
    const v = Number(input(knob).value);
    if (v > 0) s[knob] = v;
  }
  const format = select('format').value;
  const output: NonNullable<Settings['output']> = {};
  if (format !== 'png') output.format = format;
  if (LOSSY.has(format)) output.quality = Number(input('quality').value);
  if (input('keep_metadata').checked) output.keep_metadata = true;
  if (Object.keys(output).length > 0) s.output = output;
  if (input('face').checked) {
    const strength = Number(input('face_strength').value);
    s.face = strength === 1 ? { enabled: true } : { enabled: true, strength };
  }
  return s;
}

/** Put a job's settings back into the form (re-run with other settings). */
export function writeSettings(form: HTMLFormElement, s: Settings): void {
  const model = form.querySelector<HTMLInputElement>(
    `input[name="model"][value="${CSS.escape(s.model ?? '')}"]`,
  );
  if (model) model.checked = true;
  const bySize = s.width !== undefined || s.height !== undefined;
  const mode = form.querySelector<HTMLInputElement>(
    `input[name="mode"][value="${bySize ? 'size' : 'scale'}"]`,
  );
  if (mode) mode.checked = true;
  input('scale').value = String(s.scale ?? 4);
  input('width').value = s.width === undefined ? '' : String(s.width);
  input('height').value = s.height === undefined ? '' : String(s.height);
  select('fit').value = s.fit ?? 'contain';
  for (const knob of KNOBS) input(knob).value = String(s[knob] ?? 0);
  select('format').value = s.output?.format ?? 'png';
  input('quality').value = String(s.output?.quality ?? 90);
  input('keep_metadata').checked = s.output?.keep_metadata === true;
  input('face').checked = s.face?.enabled === true;
  input('face_strength').value = String(s.face?.strength ?? 1);
}
