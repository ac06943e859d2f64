/**
 * Bring your own model: files dropped into the models directory join the catalog.
 *
 *   my-model.onnx + my-model.json     any ONNX super-resolution network; the manifest is
 *                                     required and states at least its `scale`
 *   my-model.param + my-model.bin     an ncnn model (the format hundreds of community models
 *   [+ my-model.json]                 circulate in); the scale comes from the manifest, else
 *                                     from the name (`x4`, `4x`), else from converting it
 *   my-model.pth / .pt / .ckpt /      a PyTorch checkpoint or safetensors file (OpenModelDB,
 *   .safetensors [+ my-model.json]    Real-ESRGAN, BasicSR releases): its architecture, scale,
 *                                     parameters and FLOPs are recognised from the weights
 *
 * A file that cannot be used is reported (with its error) and left out; it never stops the rest.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { PixeliftError } from '../errors.js';
import type { ModelEntry, ModelKind } from './catalog.js';
import { importNcnn } from './import/ncnn.js';
import { PYTORCH_EXTENSIONS } from './pytorch/import.js';
import { inspectPytorchFile } from './pytorch/inspect.js';

export interface UserModelManifest {
  name?: string;
  scale?: number;
  kind?: ModelKind;
  purpose?: string;
  license?: string;
  inputRange?: [number, number];
  channelOrder?: 'rgb' | 'bgr';
}

export interface UserModelProblem {
  readonly file: string;
  readonly error: PixeliftError;
}

const manifestSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    scale: { type: 'integer', minimum: 1, maximum: 16 },
    kind: { enum: ['faithful', 'gan', 'fast', 'classical', 'face'] },
    purpose: { type: 'string', maxLength: 1000 },
    license: { type: 'string', maxLength: 200 },
    inputRange: { type: 'array', items: { type: 'number' }, minItems: 2, maxItems: 2 },
    channelOrder: { enum: ['rgb', 'bgr'] },
  },
} as const;

const validate = new Ajv({ allErrors: false }).compile<UserModelManifest>(manifestSchema);

const ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export interface ScanOptions {
  /** Where PyTorch file inspections are remembered (the model cache). */
  readonly cacheDir?: string;
  /** PIXELIFT_MAX_MODEL_BYTES. */
  readonly maxModelBytes?: number;
}

/** Context (input px per tile side) and default tile per architecture. */
const PYTORCH_TILING: Record<string, { context: number; tile: number }> = {
  // The same network as the built-in x4plus: its measured context and memory-bound tile.
  esrgan: { context: 48, tile: 192 },
  srvgg: { context: 32, tile: 512 },
  span: { context: 32, tile: 384 },
};

const isPytorchFile = (ext: string) => (PYTORCH_EXTENSIONS as readonly string[]).includes(ext);

export function scanUserModels(
  dir: string,
  reservedIds: ReadonlySet<string>,
  options: ScanOptions = {},
): { models: ModelEntry[]; problems: UserModelProblem[] } {
  const models: ModelEntry[] = [];
  const problems: UserModelProblem[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir).sort();
  } catch {
    return { models, problems }; // no models directory: nothing to add
  }
  const files = new Set(names);
  for (const name of names) {
    const ext = path.extname(name);
    if (ext !== '.onnx' && ext !== '.param' && !isPytorchFile(ext)) continue;
    const stem = name.slice(0, -ext.length);
    const file = path.join(dir, name);
    try {
      const id = stem.toLowerCase();
      if (!ID_PATTERN.test(id)) {
        throw new PixeliftError('model_manifest_invalid', {
          file,
          message:
            'the file name must be 1-64 characters of a-z, 0-9, ".", "_" or "-" (it becomes the model id)',
        });
      }
      if (reservedIds.has(id) || models.some((m) => m.id === id)) {
        throw new PixeliftError('model_manifest_invalid', {
          file,
          message: `the id "${id}" is already taken`,
        });
      }
      const manifestFile = path.join(dir, `${stem}.json`);
      const manifest = files.has(`${stem}.json`) ? readManifest(manifestFile) : undefined;
      if (isPytorchFile(ext)) {
        const found = inspectPytorchFile(file, {
          cacheDir: options.cacheDir,
          maxBytes: options.maxModelBytes,
        });
        const d = found.detection;
        if (manifest?.scale !== undefined && manifest.scale !== d.scale) {
          throw new PixeliftError('model_manifest_invalid', {
            file: manifestFile,
            message: `the manifest says scale ${manifest.scale}, the weights are a ${d.scale}x ${found.archName}`,
          });
        }
        const tiling = PYTORCH_TILING[d.arch] ?? { context: 32, tile: 256 };
        models.push({
          ...entry(id, manifest, d.scale, { format: 'pytorch', files: { [d.scale]: file } }),
          ...tiling,
          // A face-restoration architecture (GFPGAN, CodeFormer) serves the face pass, not upscaling.
          ...(d.params.face === true ? { kind: 'face' as const, tile: 512, context: 0 } : {}),
          purpose: manifest?.purpose ?? `User-supplied ${found.archName}: ${d.variant}.`,
          cost: { [d.scale]: { params: found.stats.params, flops: found.stats.flopsPerInputPixel } },
          architecture: { id: d.arch, name: found.archName, variant: d.variant },
        });
      } else if (ext === '.onnx') {
        if (!manifest?.scale) {
          throw new PixeliftError('model_manifest_invalid', {
            file: manifestFile,
            message: 'an .onnx model needs a manifest beside it stating at least {"scale": N}',
          });
        }
        models.push(
          entry(id, manifest, manifest.scale, { format: 'onnx', files: { [manifest.scale]: file } }),
        );
      } else {
        const bin = path.join(dir, `${stem}.bin`);
        if (!files.has(`${stem}.bin`)) {
          throw new PixeliftError('model_format_invalid', { file, message: `no ${stem}.bin beside it` });
        }
        const scale = manifest?.scale ?? scaleFromName(stem) ?? convertedScale(file, bin);
        models.push(
          entry(id, manifest, scale, { format: 'ncnn-file', files: { [scale]: { param: file, bin } } }),
        );
      }
    } catch (err) {
      const error =
        err instanceof PixeliftError
          ? err
          : new PixeliftError('model_format_invalid', { file, message: (err as Error).message });
      problems.push({ file, error });
    }
  }
  return { models, problems };
}

function readManifest(file: string): UserModelManifest {
  let data: unknown;
  try {
    data = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new PixeliftError('model_manifest_invalid', {
      file,
      message: `not JSON: ${(err as Error).message}`,
    });
  }
  if (!validate(data)) {
    const e = validate.errors?.[0];
    const where = e?.instancePath
      ? e.instancePath.slice(1)
      : (e?.params as { additionalProperty?: string })?.additionalProperty;
    throw new PixeliftError('model_manifest_invalid', {
      file,
      message: `${where ?? 'manifest'} ${e?.message ?? 'is invalid'}`,
    });
  }
  return data;
}

/** `4x_foo`, `foo-x4`, `realesrgan-x4plus` → 4. */
export function scaleFromName(stem: string): number | undefined {
  const m = /(?:^|[^a-z0-9])(?:x([1-9]|1[0-6])|([1-9]|1[0-6])x)(?=$|[^0-9])/i.exec(stem);
  const v = m ? Number(m[1] ?? m[2]) : undefined;
  return v;
}

function convertedScale(param: string, bin: string): number {
  return importNcnn(fs.readFileSync(param, 'utf8'), fs.readFileSync(bin), { file: param }).stats.scale;
}

function entry(
  id: string,
  m: UserModelManifest | undefined,
  scale: number,
  source: ModelEntry['source'],
): ModelEntry {
  return {
    id,
    name: m?.name ?? id,
    scales: [scale],
    context: 32,
    tile: 256,
    kind: m?.kind ?? 'gan',
    purpose: m?.purpose ?? 'User-supplied model.',
    cost: {},
    source,
    license: m?.license ?? 'unknown (user-supplied)',
    inputRange: m?.inputRange ?? [0, 1],
    channelOrder: m?.channelOrder ?? 'rgb',
    origin: 'user',
  };
}
