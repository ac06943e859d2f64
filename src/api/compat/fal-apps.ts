/**
 * The fal apps the fal dialect serves: each one's input as fal documents it, checked the way
 * fal's FastAPI apps check it (422 `{detail: [{loc, msg, type}]}`), and its translation to a
 * Pixelift job. The Pixelift model behind each is in the alias table (src/models/aliases.ts), which
 * carries the warning for the generative ones (clarity-upscaler, ccsr).
 */
import type { OutputFormat } from '../../engine/encode.js';
import type { FaceOptions } from '../../engine/faces/pass.js';
import { formatOf, TOPAZ_MODELS, topazToKnobs } from './topaz.js';

export interface FalProblem {
  readonly loc: (string | number)[];
  readonly msg: string;
  readonly type: string;
}

export interface FalApp {
  readonly id: string;
  validate(input: Record<string, unknown>): FalProblem[];
  translate(input: Record<string, unknown>): {
    model: string;
    scale: number;
    format: OutputFormat;
    knobs?: { denoise?: number; sharpen?: number; fix_compression?: number; face?: FaceOptions };
    warnings: string[];
  };
}

type Field =
  | { type: 'string'; enum?: readonly string[]; required?: boolean }
  | { type: 'number' | 'integer'; min?: number; max?: number }
  | { type: 'boolean' };

/** Checks `input` against `fields`; `open` lets fields through that the app takes but Pixelift ignores. */
function check(input: Record<string, unknown>, fields: Record<string, Field>, open = false): FalProblem[] {
  const out: FalProblem[] = [];
  for (const [name, f] of Object.entries(fields)) {
    const v = input[name];
    if (v === undefined) {
      if (f.type === 'string' && f.required)
        out.push({ loc: ['body', name], msg: 'Field required', type: 'missing' });
      continue;
    }
    if (f.type === 'string') {
      if (typeof v !== 'string')
        out.push({ loc: ['body', name], msg: 'Input should be a valid string', type: 'string_type' });
      else if (f.enum && !f.enum.includes(v)) {
        out.push({
          loc: ['body', name],
          msg: `Input should be ${f.enum.map((e) => `'${e}'`).join(', ')}`,
          type: 'literal_error',
        });
      }
    } else if (f.type === 'boolean') {
      if (typeof v !== 'boolean')
        out.push({ loc: ['body', name], msg: 'Input should be a valid boolean', type: 'bool_type' });
    } else if (typeof v !== 'number' || (f.type === 'integer' && !Number.isInteger(v))) {
      out.push({
        loc: ['body', name],
        msg: `Input should be a valid ${f.type}`,
        type: `${f.type === 'integer' ? 'int' : 'float'}_type`,
      });
    } else if (f.min !== undefined && v < f.min) {
      out.push({
        loc: ['body', name],
        msg: `Input should be greater than or equal to ${f.min}`,
        type: 'greater_than_equal',
      });
    } else if (f.max !== undefined && v > f.max) {
      out.push({
        loc: ['body', name],
        msg: `Input should be less than or equal to ${f.max}`,
        type: 'less_than_equal',
      });
    }
  }
  if (!open) {
    for (const name of Object.keys(input)) {
      if (!(name in fields))
        out.push({ loc: ['body', name], msg: 'Extra inputs are not permitted', type: 'extra_forbidden' });
    }
  }
  return out;
}

const image_url: Field = { type: 'string', required: true };

/** fal-ai/esrgan's model names → whether Pixelift's realesrgan-x4plus is the same network. */
const ESRGAN_MODELS = [
  'RealESRGAN_x4plus',
  'RealESRGAN_x2plus',
  'RealESRGAN_x4plus_anime_6B',
  'RealESRGAN_x4_v3',
  'RealESRGAN_x4_wdn_v3',
  'RealESRGAN_x4_anime_v3',
] as const;

const esrgan: FalApp = {
  id: 'fal-ai/esrgan',
  validate: (i) =>
    check(i, {
      image_url,
      scale: { type: 'number', min: 1, max: 8 },
      tile: { type: 'integer', min: 0 },
      face: { type: 'boolean' },
      model: { type: 'string', enum: ESRGAN_MODELS },
      output_format: { type: 'string', enum: ['png', 'jpeg'] },
    }),
  translate: (i) => {
    const name = (i.model as string | undefined) ?? 'RealESRGAN_x4plus';
    const warnings: string[] = [];
    if (name !== 'RealESRGAN_x4plus') {
      warnings.push(`model ${name} is served with Pixelift's realesrgan-x4plus (RealESRGAN_x4plus).`);
    }
    return {
      model: 'fal-ai/esrgan',
      scale: (i.scale as number | undefined) ?? 2,
      format: (i.output_format as OutputFormat | undefined) ?? 'png',
      // The face pass with the installed face model; with none, the job's warning says what was done.
      knobs: i.face ? { face: { enabled: true } } : {},
      warnings,
    };
  },
};

/** A generative app (prompted diffusion upscaler): its image and scale are honoured, the rest warned about. */
function generative(id: string, scaleField: string): FalApp {
  return {
    id,
    validate: (i) => check(i, { image_url, [scaleField]: { type: 'number', min: 1, max: 8 } }, true),
    translate: (i) => {
      const ignored = Object.keys(i).filter((k) => k !== 'image_url' && k !== scaleField);
      return {
        model: id,
        scale: (i[scaleField] as number | undefined) ?? 2,
        format: 'png',
        warnings:
          ignored.length > 0
            ? [`${ignored.join(', ')} steer generative upscaling, which Pixelift does not do; ignored.`]
            : [],
      };
    },
  };
}

const unit: Field = { type: 'number', min: 0, max: 1 };

const topaz: FalApp = {
  id: 'fal-ai/topaz/upscale/image',
  validate: (i) =>
    check(i, {
      image_url,
      model: { type: 'string', enum: TOPAZ_MODELS },
      upscale_factor: { type: 'number', min: 1, max: 4 },
      crop_to_fill: { type: 'boolean' },
      output_format: { type: 'string', enum: ['jpeg', 'png'] },
      subject_detection: { type: 'string', enum: ['All', 'Foreground', 'Background'] },
      face_enhancement: { type: 'boolean' },
      face_enhancement_strength: unit,
      face_enhancement_creativity: unit,
    }),
  translate: (i) => {
    const { warnings, ...knobs } = topazToKnobs(
      {
        model: i.model as string | undefined,
        faceEnhancement: i.face_enhancement as boolean | undefined,
        faceEnhancementStrength: i.face_enhancement_strength as number | undefined,
        faceEnhancementCreativity: i.face_enhancement_creativity as number | undefined,
        subjectDetection: i.subject_detection as string | undefined,
        cropToFill: i.crop_to_fill as boolean | undefined,
      },
      {
        faceEnhancement: 'face_enhancement',
        faceEnhancementStrength: 'face_enhancement_strength',
        faceEnhancementCreativity: 'face_enhancement_creativity',
        subjectDetection: 'subject_detection',
        cropToFill: 'crop_to_fill',
      },
    );
    return {
      model: (i.model as string | undefined) ?? 'Standard V2',
      scale: (i.upscale_factor as number | undefined) ?? 2,
      format: formatOf(i.output_format as string | undefined) ?? 'jpeg',
      knobs,
      warnings,
    };
  },
};

const APPS = new Map<string, FalApp>(
  [
    esrgan,
    generative('fal-ai/clarity-upscaler', 'upscale_factor'),
    generative('fal-ai/ccsr', 'scale'),
    topaz,
  ].map((a) => [a.id, a]),
);

/** The app an endpoint id names; `pixelift/<model id>` serves an installed Pixelift model as is. */
export function falAppOf(id: string): FalApp | undefined {
  const known = APPS.get(id.toLowerCase());
  if (known) return known;
  const m = /^pixelift\/([a-z0-9][a-z0-9._-]*)$/i.exec(id);
  if (!m) return undefined;
  return {
    id,
    validate: (i) =>
      check(i, {
        image_url,
        scale: { type: 'number', min: 1, max: 8 },
        output_format: { type: 'string', enum: ['png', 'jpeg', 'webp'] },
      }),
    translate: (i) => ({
      model: m[1]!,
      scale: (i.scale as number | undefined) ?? 2,
      format: (i.output_format as OutputFormat | undefined) ?? 'png',
      warnings: [],
    }),
  };
}
