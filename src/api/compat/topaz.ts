/**
 * The Topaz parameter table: four of the dialects sell Topaz, with the same knobs under
 * different spellings; each maps its own names onto TopazParams and gets Pixelift's knobs and
 * the "accepted but not honoured" warnings back. Translation only: below this folder there is a
 * SubmitRequest and a Job.
 */
import type { OutputFormat } from '../../engine/encode.js';
import type { FaceOptions } from '../../engine/faces/pass.js';
import { findAlias } from '../../models/aliases.js';

/** Topaz's enhancement models, as all four Topaz resellers spell them. */
export const TOPAZ_MODELS = [
  'Low Resolution V2',
  'Standard V2',
  'CGI',
  'High Fidelity V2',
  'Text Refine',
  'Recovery',
  'Redefine',
  'Recovery V2',
  'Standard MAX',
  'Wonder',
] as const;
/** The five non-generative ones (Oxen, Scenario, Apiframe list only these). */
export const TOPAZ_ENHANCE_MODELS = TOPAZ_MODELS.slice(0, 5);

/** Topaz's knobs, in one spelling; each dialect maps its own names onto these. */
export interface TopazParams {
  readonly model?: string;
  readonly faceEnhancement?: boolean;
  readonly faceEnhancementStrength?: number;
  readonly faceEnhancementCreativity?: number;
  readonly subjectDetection?: string;
  readonly sharpen?: number;
  readonly denoise?: number;
  readonly fixCompression?: number;
  readonly detail?: number;
  readonly strength?: number;
  readonly creativity?: number;
  readonly texture?: number;
  readonly prompt?: string;
  readonly autoprompt?: boolean;
  readonly cropToFill?: boolean;
}

/**
 * Topaz parameters → Pixelift's knobs and warnings. What maps is applied (sharpen, denoise,
 * compression repair, face enhancement); what Pixelift has no model for (subject detection,
 * generative prompt/creativity/texture) is accepted, recorded as a warning on the job, and
 * never silently dropped. `names` gives the dialect's own spelling of each field for messages.
 */
export function topazToKnobs(
  p: TopazParams,
  names: Partial<Record<keyof TopazParams, string>> = {},
): { denoise?: number; sharpen?: number; fix_compression?: number; face?: FaceOptions; warnings: string[] } {
  const n = (k: keyof TopazParams) => names[k] ?? k;
  const warnings: string[] = [];
  // Honoured by the face pass (src/engine/faces): strength and creativity map one to one; with
  // no face model installed the job's own warning says what was done instead.
  const face: FaceOptions | undefined = p.faceEnhancement
    ? {
        enabled: true,
        ...(p.faceEnhancementStrength !== undefined ? { strength: p.faceEnhancementStrength } : {}),
        ...(p.faceEnhancementCreativity !== undefined ? { creativity: p.faceEnhancementCreativity } : {}),
      }
    : undefined;
  if (p.subjectDetection !== undefined && !['All', 'None'].includes(p.subjectDetection)) {
    warnings.push(
      `${n('subjectDetection')} "${p.subjectDetection}" is not available in Pixelift; the whole image is enhanced.`,
    );
  }
  if (p.detail !== undefined) {
    warnings.push(
      `${n('detail')} (Recovery V2 detail control) has no equivalent in Pixelift and is ignored.`,
    );
  }
  const generative = (['prompt', 'autoprompt', 'creativity', 'texture'] as const).filter(
    (k) => p[k] !== undefined && p[k] !== false && p[k] !== '',
  );
  if (generative.length > 0 && !findAlias(p.model ?? '')?.warning) {
    // The generative aliases (Redefine, Wonder) already warn that these are ignored.
    warnings.push(
      `${generative.map(n).join(', ')} only steer generative upscaling, which Pixelift does not do; ignored.`,
    );
  }
  if (p.cropToFill) {
    warnings.push(
      `${n('cropToFill')} only matters when an output width and height are both given; with a scale factor the aspect ratio is kept and nothing is cropped.`,
    );
  }
  let sharpen = p.sharpen;
  if (p.strength !== undefined) {
    // Text Refine's "enhancement strength" is the closest to Pixelift's post-sharpen.
    sharpen = sharpen ?? p.strength;
    warnings.push(`${n('strength')} is applied as Pixelift's sharpen (${p.strength}).`);
  }
  return {
    ...(p.denoise !== undefined ? { denoise: p.denoise } : {}),
    ...(sharpen !== undefined ? { sharpen } : {}),
    ...(p.fixCompression !== undefined ? { fix_compression: p.fixCompression } : {}),
    ...(face ? { face } : {}),
    warnings,
  };
}

/** `jpg`/`jpeg`/`JPG` → jpeg, `PNG` → png, `WEBP` → webp. */
export function formatOf(value: string | undefined): OutputFormat | undefined {
  if (value === undefined) return undefined;
  const v = value.toLowerCase();
  return v === 'jpg' ? 'jpeg' : (v as OutputFormat);
}

/** `2x` → 2. */
export function factorOf(value: string): number {
  return Number(value.replace(/x$/i, ''));
}
