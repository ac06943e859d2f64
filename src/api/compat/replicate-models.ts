/**
 * The Replicate models the replicate dialect serves: each one's input schema as Replicate
 * publishes it (GET /v1/models/{owner}/{name} → latest_version.openapi_schema, Input), and its
 * translation to a Pixelift job. The Pixelift model behind each name is in the alias table
 * (src/models/aliases.ts), which also carries the warning where it is not an honest equivalent.
 *
 * Sources: nightmareai/real-esrgan's schema (image; scale 0–10, default 4; face_enhance, default
 * false) was confirmed against public copies of its Replicate schema. The others are written from
 * the models' Replicate pages as remembered and their upstream code (docs/compat.md says which
 * fields could not be confirmed).
 */
import type { OutputFormat } from '../../engine/encode.js';
import type { FaceOptions } from '../../engine/faces/pass.js';
import { formatOf, TOPAZ_ENHANCE_MODELS, topazToKnobs } from './topaz.js';

export interface InputProperty {
  readonly type: 'string' | 'number' | 'integer' | 'boolean';
  readonly format?: 'uri';
  readonly enum?: readonly (string | number)[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly default?: string | number | boolean;
  readonly description?: string;
}

export interface TranslatedInput {
  /** A Pixelift model id or an alias name. */
  readonly model: string;
  readonly scale: number;
  readonly format: OutputFormat;
  readonly knobs?: { denoise?: number; sharpen?: number; fix_compression?: number; face?: FaceOptions };
  readonly warnings: string[];
}

export interface ReplicateModel {
  /** `owner/name`, lower case. */
  readonly name: string;
  readonly description: string;
  /** The input field that holds the image (`image`; GFPGAN calls it `img`). */
  readonly imageField?: string;
  readonly input: {
    readonly type: 'object';
    readonly required: readonly string[];
    readonly additionalProperties: false;
    readonly properties: Readonly<Record<string, InputProperty>>;
  };
  readonly warning?: string;
  /** Input with defaults filled in → the job. */
  translate(input: Record<string, unknown>): TranslatedInput;
}

const image: InputProperty = { type: 'string', format: 'uri', description: 'Input image' };
const unit = (def: number, description: string): InputProperty => ({
  type: 'number',
  minimum: 0,
  maximum: 1,
  default: def,
  description,
});

/**
 * The face pass (src/engine/faces) with the installed face model (PIXELIFT_FACE_MODEL); with none
 * installed the pass re-upscales each face with the faithful model and the job's warning says so,
 * as it does for the native API's `face`.
 */
const FACE_PASS: FaceOptions = { enabled: true };

export const REPLICATE_MODELS: readonly ReplicateModel[] = [
  {
    name: 'nightmareai/real-esrgan',
    description: 'Real-ESRGAN with optional face correction and adjustable upscale',
    input: {
      type: 'object',
      required: ['image'],
      additionalProperties: false,
      properties: {
        image,
        scale: {
          type: 'number',
          minimum: 0,
          maximum: 10,
          default: 4,
          description: 'Factor to scale image by',
        },
        face_enhance: {
          type: 'boolean',
          default: false,
          description: 'Run GFPGAN face enhancement along with upscaling',
        },
      },
    },
    translate: (i) => ({
      model: 'nightmareai/real-esrgan',
      scale: i.scale as number,
      format: 'png',
      knobs: i.face_enhance ? { face: FACE_PASS } : {},
      warnings: [],
    }),
  },
  {
    name: 'topazlabs/image-upscale',
    description: 'Professional-grade image upscaling, from Topaz Labs',
    input: {
      type: 'object',
      required: ['image'],
      additionalProperties: false,
      properties: {
        image,
        enhance_model: { type: 'string', enum: TOPAZ_ENHANCE_MODELS, default: 'Standard V2' },
        upscale_factor: { type: 'string', enum: ['None', '2x', '4x', '6x'], default: 'None' },
        output_format: { type: 'string', enum: ['jpg', 'png'], default: 'jpg' },
        subject_detection: {
          type: 'string',
          enum: ['None', 'All', 'Foreground', 'Background'],
          default: 'None',
        },
        face_enhancement: { type: 'boolean', default: false },
        face_enhancement_strength: unit(
          0.8,
          'Control how sharp the enhanced faces are relative to the background',
        ),
        face_enhancement_creativity: unit(0, 'Choose the level of creativity for face enhancement'),
      },
    },
    translate: (i) => {
      const { warnings, ...knobs } = topazToKnobs(
        {
          model: i.enhance_model as string,
          faceEnhancement: i.face_enhancement as boolean,
          faceEnhancementStrength: i.face_enhancement_strength as number,
          faceEnhancementCreativity: i.face_enhancement_creativity as number,
          subjectDetection: i.subject_detection as string,
        },
        {
          faceEnhancement: 'face_enhancement',
          faceEnhancementStrength: 'face_enhancement_strength',
          faceEnhancementCreativity: 'face_enhancement_creativity',
          subjectDetection: 'subject_detection',
        },
      );
      const factor = i.upscale_factor === 'None' ? 1 : Number(String(i.upscale_factor).replace('x', ''));
      return {
        // The Topaz enhance model is itself an alias (Standard V2, CGI, …) with its own preset.
        model: i.enhance_model as string,
        scale: factor,
        format: formatOf(i.output_format as string) ?? 'jpeg',
        knobs,
        warnings,
      };
    },
  },
  {
    name: 'jingyunliang/swinir',
    description: 'Image Restoration Using Swin Transformer',
    input: {
      type: 'object',
      required: ['image'],
      additionalProperties: false,
      properties: {
        image,
        task_type: {
          type: 'string',
          enum: [
            'Real-World Image Super-Resolution-Large',
            'Real-World Image Super-Resolution-Medium',
            'Grayscale Image Denoising',
            'Color Image Denoising',
            'JPEG Compression Artifact Reduction',
          ],
          default: 'Real-World Image Super-Resolution-Large',
        },
        noise: { type: 'integer', enum: [15, 25, 50], default: 15 },
        jpeg: { type: 'integer', enum: [10, 20, 30, 40], default: 40 },
      },
    },
    translate: (i) => {
      const task = String(i.task_type);
      const sr = task.startsWith('Real-World');
      return {
        model: 'jingyunliang/swinir',
        // Denoising and artifact reduction keep the size; super-resolution is 4x.
        scale: sr ? 4 : 1,
        format: 'png',
        knobs: task.includes('Denoising')
          ? { denoise: Number(i.noise) / 50 }
          : task.startsWith('JPEG')
            ? { fix_compression: (50 - Number(i.jpeg)) / 40 }
            : {},
        warnings: sr
          ? []
          : [`task_type "${task}" is approximated with Pixelift's denoise/fix_compression knobs.`],
      };
    },
  },
  {
    name: 'tencentarc/gfpgan',
    description: 'Practical face restoration algorithm for old photos or AI-generated faces',
    imageField: 'img',
    input: {
      type: 'object',
      required: ['img'],
      additionalProperties: false,
      properties: {
        img: image,
        version: { type: 'string', enum: ['v1.2', 'v1.3', 'v1.4', 'RestoreFormer'], default: 'v1.4' },
        scale: { type: 'number', default: 2, description: 'Rescaling factor' },
      },
    },
    // `version` names GFPGAN's weights; Pixelift uses the installed face model whichever is asked.
    translate: (i) => ({
      model: 'tencentarc/gfpgan',
      scale: i.scale as number,
      format: 'png',
      knobs: { face: FACE_PASS },
      warnings: [],
    }),
  },
  {
    name: 'sczhou/codeformer',
    description: 'Robust face restoration algorithm for old photos or AI-generated faces',
    input: {
      type: 'object',
      required: ['image'],
      additionalProperties: false,
      properties: {
        image,
        upscale: { type: 'integer', default: 2, description: 'The final upsampling scale of the image' },
        face_upsample: { type: 'boolean', default: true },
        background_enhance: { type: 'boolean', default: true },
        codeformer_fidelity: unit(0.5, 'Balance the quality (lower number) and fidelity (higher number).'),
      },
    },
    // CodeFormer's fidelity w is the face pass's 1 − creativity; face_upsample and
    // background_enhance are what Pixelift does anyway (faces and background are both upscaled).
    translate: (i) => ({
      model: 'sczhou/codeformer',
      scale: i.upscale as number,
      format: 'png',
      knobs: { face: { ...FACE_PASS, creativity: 1 - (i.codeformer_fidelity as number) } },
      warnings: [],
    }),
  },
];
