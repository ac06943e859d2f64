/**
 * Provider model names → Pixelift models, in one table (DESIGN §3). Each alias maps to a model
 * and a preset of knobs; names with no honest equivalent here (generative upscalers that
 * re-imagine the image from a prompt) are accepted, served by the closest model, and carry a
 * warning that the job reports. Lookups ignore case and surrounding space.
 */

export type Provider = 'topaz' | 'apiframe' | 'runware' | 'replicate' | 'fal';

/** Knobs in 0..1 that an alias presets (0 = untouched). */
export interface KnobPreset {
  readonly denoise?: number;
  readonly sharpen?: number;
  readonly fix_compression?: number;
}

export interface ModelAlias {
  readonly name: string;
  readonly provider: Provider;
  /** Pixelift model id that serves it. */
  readonly model: string;
  readonly preset: KnobPreset;
  /** What the provider's model does, in the provider's words. */
  readonly theirs: string;
  /** Set when Pixelift's model is not an honest equivalent; reported on every job. */
  readonly warning?: string;
}

const generative = (what: string, model: string) =>
  `${what} is a generative upscaler that re-imagines detail (and may follow a prompt); Pixelift has no generative model and serves it with ${model}, which enlarges without a prompt. Prompt, creativity and texture settings are ignored.`;

export const MODEL_ALIASES: readonly ModelAlias[] = [
  // Topaz (served through Runflow, Apiframe, Oxen and Scenario)
  {
    name: 'Standard V2',
    provider: 'topaz',
    model: 'realesrgan-x4plus',
    preset: {},
    theirs: 'general purpose',
  },
  {
    name: 'Low Resolution V2',
    provider: 'topaz',
    model: 'realesrgan-x4plus',
    preset: { denoise: 0.2, fix_compression: 0.3 },
    theirs: 'for low-resolution images',
  },
  {
    name: 'CGI',
    provider: 'topaz',
    model: 'realesrgan-x4plus',
    preset: { sharpen: 0.2 },
    theirs: 'for digital art and renders',
  },
  {
    name: 'High Fidelity V2',
    provider: 'topaz',
    model: 'rrdn-thick',
    preset: {},
    theirs: 'preserves details',
  },
  {
    name: 'Text Refine',
    provider: 'topaz',
    model: 'rrdn-thick',
    preset: { sharpen: 0.3 },
    theirs: 'optimised for text',
  },
  {
    name: 'Recovery',
    provider: 'topaz',
    model: 'realesrgan-x4plus',
    preset: { denoise: 0.3, fix_compression: 0.5 },
    theirs: 'recovers very low-resolution, degraded images',
  },
  {
    name: 'Recovery V2',
    provider: 'topaz',
    model: 'realesrgan-x4plus',
    preset: { denoise: 0.3, fix_compression: 0.5 },
    theirs: 'recovers very low-resolution, degraded images, with detail control',
  },
  {
    name: 'Standard MAX',
    provider: 'topaz',
    model: 'realesrgan-x4plus',
    preset: {},
    theirs: 'highest-quality general enhancement',
  },
  {
    name: 'Redefine',
    provider: 'topaz',
    model: 'realesrgan-x4plus',
    preset: {},
    theirs: 'generative, prompt-guided',
    warning: generative('Topaz Redefine', 'realesrgan-x4plus'),
  },
  {
    name: 'Wonder',
    provider: 'topaz',
    model: 'realesrgan-x4plus',
    preset: {},
    theirs: 'generative',
    warning: generative('Topaz Wonder', 'realesrgan-x4plus'),
  },
  // Apiframe model identifiers
  {
    name: 'topaz-image-upscale',
    provider: 'apiframe',
    model: 'realesrgan-x4plus',
    preset: {},
    theirs: 'Topaz Image Upscale: preserves detail for realistic photos',
  },
  {
    name: 'clarity-upscale',
    provider: 'apiframe',
    model: 'realesrgan-x4plus',
    preset: {},
    theirs: 'Clarity Upscaler: creative "hi-res fix" that invents detail',
    warning: generative('Clarity Upscaler', 'realesrgan-x4plus'),
  },
  // Runware AIR ids
  {
    name: 'runware:500@1',
    provider: 'runware',
    model: 'realesrgan-x4plus',
    preset: {},
    theirs: 'Clarity',
    warning: generative('Clarity (runware:500@1)', 'realesrgan-x4plus'),
  },
  {
    name: 'runware:501@1',
    provider: 'runware',
    model: 'realesrgan-x4plus',
    preset: {},
    theirs: 'CCSR',
    warning: generative('CCSR (runware:501@1)', 'realesrgan-x4plus'),
  },
  {
    name: 'runware:502@1',
    provider: 'runware',
    model: 'realesrgan-x4plus',
    preset: {},
    theirs: 'Stable Diffusion Latent Upscaler',
    warning: generative('Stable Diffusion Latent Upscaler (runware:502@1)', 'realesrgan-x4plus'),
  },
  {
    name: 'runware:503@1',
    provider: 'runware',
    model: 'realesrgan-x4plus',
    preset: {},
    theirs: 'SwinIR (real-world super-resolution, 2x/4x)',
  },
  {
    name: 'runware:504@1',
    provider: 'runware',
    model: 'realesrgan-x4plus',
    preset: {},
    theirs: 'not in Runware’s published upscale table',
    warning:
      'runware:504@1 is not in Runware’s published upscale model table; Pixelift serves it with realesrgan-x4plus.',
  },
  // Replicate models (owner/name)
  {
    name: 'nightmareai/real-esrgan',
    provider: 'replicate',
    model: 'realesrgan-x4plus',
    preset: {},
    theirs: 'Real-ESRGAN x4plus, with optional GFPGAN face enhancement',
  },
  {
    name: 'topazlabs/image-upscale',
    provider: 'replicate',
    model: 'realesrgan-x4plus',
    preset: {},
    theirs:
      'Topaz Labs image upscale (enhance models Standard V2, Low Resolution V2, CGI, High Fidelity V2, Text Refine)',
  },
  {
    name: 'jingyunliang/swinir',
    provider: 'replicate',
    model: 'realesrgan-x4plus',
    preset: {},
    theirs: 'SwinIR image restoration (real-world 4x super-resolution, denoising, JPEG artifact reduction)',
    warning:
      'jingyunliang/swinir is SwinIR; Pixelift has no SwinIR network and serves it with realesrgan-x4plus (a real-world 4x super-resolution GAN of the same task).',
  },
  {
    name: 'tencentarc/gfpgan',
    provider: 'replicate',
    model: 'realesrgan-x4plus',
    preset: {},
    // Faces go through the face pass (the dialect asks for it), with the installed face model.
    theirs: 'GFPGAN face restoration (background upscaled with Real-ESRGAN)',
  },
  {
    name: 'sczhou/codeformer',
    provider: 'replicate',
    model: 'realesrgan-x4plus',
    preset: {},
    // Faces go through the face pass with codeformer_fidelity as 1 − creativity.
    theirs: 'CodeFormer face restoration (background upscaled with Real-ESRGAN)',
  },
  // fal apps (endpoint ids)
  {
    name: 'fal-ai/esrgan',
    provider: 'fal',
    model: 'realesrgan-x4plus',
    preset: {},
    theirs: 'Real-ESRGAN (RealESRGAN_x4plus by default)',
  },
  {
    name: 'fal-ai/clarity-upscaler',
    provider: 'fal',
    model: 'realesrgan-x4plus',
    preset: {},
    theirs: 'Clarity Upscaler: creative "hi-res fix" that invents detail',
    warning: generative('Clarity Upscaler (fal-ai/clarity-upscaler)', 'realesrgan-x4plus'),
  },
  {
    name: 'fal-ai/ccsr',
    provider: 'fal',
    model: 'realesrgan-x4plus',
    preset: {},
    theirs: 'CCSR: diffusion-based content-consistent super-resolution',
    warning: generative('CCSR (fal-ai/ccsr)', 'realesrgan-x4plus'),
  },
];

const byName = new Map(MODEL_ALIASES.map((a) => [normalize(a.name), a]));

export function normalize(name: string): string {
  return name.trim().toLowerCase();
}

export function findAlias(name: string): ModelAlias | undefined {
  return byName.get(normalize(name));
}
