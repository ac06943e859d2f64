/**
 * Adding and removing a user's PyTorch/safetensors model: what `pixelift models add/remove` and
 * `POST/DELETE /v1/models` do. A file is recognised, converted and golden-checked before it
 * joins the models directory; one that fails leaves nothing behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PixeliftError } from '../errors.js';
import { BUILTIN_MODELS, type ModelEntry } from './catalog.js';
import { PYTORCH_EXTENSIONS } from './pytorch/import.js';
import { inspectPytorchFileOffThread } from './pytorch/inspect.js';
import type { ModelStore, PreparedModel } from './store.js';

const ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export interface AddModelOptions {
  /** The file to add (a temporary upload or the user's own path); it is copied, never moved. */
  readonly file: string;
  /** Its original name, for the extension and the default id (default: `file`'s name). */
  readonly originalName?: string;
  /** The model id (default: the name without extension, lower-cased). */
  readonly id?: string;
}

export interface AddedModel {
  readonly model: ModelEntry;
  readonly prepared: PreparedModel;
}

/** The id a file would get: its name without the extension, lower-cased, other characters as `-`. */
export function idFromFileName(name: string): string {
  const stem = path.basename(name, path.extname(name));
  return stem
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 64);
}

export async function addUserModel(store: ModelStore, o: AddModelOptions): Promise<AddedModel> {
  const { modelsDir, modelCacheDir, maxModelBytes } = store.userModelSettings;
  const name = o.originalName ?? path.basename(o.file);
  const ext = path.extname(name).toLowerCase();
  if (!(PYTORCH_EXTENSIONS as readonly string[]).includes(ext)) {
    throw new PixeliftError('invalid_argument', {
      param: 'file',
      message: `Expected a ${PYTORCH_EXTENSIONS.join(', ')} file but received "${name}"`,
    });
  }
  const id = o.id ?? idFromFileName(name);
  if (!ID_PATTERN.test(id)) {
    throw new PixeliftError('invalid_argument', {
      param: 'id',
      message: `Expected 1-64 characters of a-z, 0-9, ".", "_" or "-" starting with a letter or digit for id but received "${id}"`,
    });
  }
  if (
    BUILTIN_MODELS.some((m) => m.id === id) ||
    store.list().some((m) => m.id === id) ||
    stemTaken(modelsDir, id)
  ) {
    throw new PixeliftError('invalid_argument', {
      param: 'id',
      message: `the model id "${id}" is already taken; choose another with --id (HTTP: the "id" field) or remove it first`,
    });
  }
  const size = fs.statSync(o.file).size;
  if (size > maxModelBytes) {
    throw new PixeliftError('model_too_large', { file: name, bytes: size, limit: maxModelBytes });
  }
  fs.mkdirSync(modelsDir, { recursive: true });
  const target = path.join(modelsDir, `${id}${ext}`);
  // Copy under a name the scan ignores, recognise it there (in a worker thread, remembered
  // under its final name so the catalog scan need not convert it again), then rename: no
  // process ever sees half a file or an unsafe one.
  const tmp = path.join(modelsDir, `.${id}${ext}.${process.pid}.partial`);
  fs.copyFileSync(o.file, tmp);
  try {
    await inspectPytorchFileOffThread(tmp, {
      maxBytes: maxModelBytes,
      cacheDir: modelCacheDir,
      rememberAs: target,
      displayName: name,
    });
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.renameSync(tmp, target);
  try {
    const problem = store.userModelProblems().find((p) => p.file === target);
    if (problem) throw problem.error;
    const model = store.get(id);
    const prepared = await store.prepare(id, model.scales[0]);
    return { model, prepared };
  } catch (err) {
    fs.rmSync(target, { force: true });
    store.forget(id);
    throw err;
  }
}

/** Remove a user model's files (weights and manifest); built-ins cannot be removed. */
export function removeUserModel(store: ModelStore, id: string): ModelEntry {
  const model = store.get(id);
  if (model.origin !== 'user') {
    throw new PixeliftError('invalid_argument', {
      param: 'id',
      message: `"${id}" is a built-in model; only models you added can be removed`,
    });
  }
  const files = new Set<string>();
  const src = model.source;
  if (src.format === 'pytorch' || src.format === 'onnx')
    for (const f of Object.values(src.files)) files.add(f);
  if (src.format === 'ncnn-file') {
    for (const f of Object.values(src.files)) {
      files.add(f.param);
      files.add(f.bin);
    }
  }
  for (const f of files) {
    files.add(path.join(path.dirname(f), `${path.basename(f, path.extname(f))}.json`));
  }
  for (const f of files) fs.rmSync(f, { force: true });
  store.forget(id);
  return model;
}

function stemTaken(dir: string, id: string): boolean {
  try {
    return fs.readdirSync(dir).some((n) => n.toLowerCase().startsWith(`${id}.`) && !n.startsWith('.'));
  } catch {
    return false;
  }
}
