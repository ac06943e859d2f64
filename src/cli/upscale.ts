/** `pixelift upscale <files|dirs…>`: enlarge files and folders. */
import fs from 'node:fs';
import path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { DEVICES, PRECISIONS, type Precision } from '../config.js';
import { OUTPUT_FORMATS, type OutputFormat, type UpscaleOptions } from '../engine/pipeline.js';
import { FITS, type Fit, OVERSIZE_POLICIES, type OversizePolicy } from '../engine/plan.js';
import { isPixeliftError, PixeliftError } from '../errors.js';
import { WorkerPool } from '../workers/pool.js';
import { workerSettings } from '../workers/protocol.js';
import { cliContext } from './context.js';
import { batchProgress } from './progress.js';

const IMAGE_EXT = new Set([
  '.png',
  '.jpg',
  '.jpeg',
  '.webp',
  '.avif',
  '.tif',
  '.tiff',
  '.gif',
  '.heic',
  '.heif',
]);
const EXT_OF: Record<OutputFormat, string> = {
  png: '.png',
  jpeg: '.jpg',
  webp: '.webp',
  avif: '.avif',
  tiff: '.tiff',
};

interface Opts {
  output?: string;
  scale?: number;
  width?: number;
  height?: number;
  fit?: Fit;
  oversize?: OversizePolicy;
  model?: string;
  precision?: Precision;
  format?: OutputFormat;
  quality?: number;
  progressive?: boolean;
  lossless?: boolean;
  bitDepth?: 8 | 16;
  background?: string;
  denoise?: number;
  sharpen?: number;
  fixCompression?: number;
  tile?: number;
  device?: (typeof DEVICES)[number];
  threads?: number;
  keepMetadata?: boolean;
  overwrite?: boolean;
  json?: boolean;
  faces?: boolean;
  faceModel?: string;
  faceStrength?: number;
  faceCreativity?: number;
}

const number =
  (name: string, min: number, max: number, integer = false) =>
  (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      throw new InvalidArgumentError(
        `${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}]`,
      );
    }
    return n;
  };

export function registerUpscale(program: Command): void {
  program
    .command('upscale')
    .description('upscale image files and folders (folders are walked recursively, keeping relative paths)')
    .argument('<inputs...>', 'image files or folders')
    .option(
      '-o, --output <path>',
      'output file (one input) or folder; default: beside each input, named NAME_xS',
    )
    .option('-s, --scale <factor>', 'scale factor, any number in [1, 16] (default 4)', number('scale', 1, 16))
    .option('--width <px>', 'output width (with --height: see --fit)', number('width', 1, 65535, true))
    .option('--height <px>', 'output height', number('height', 1, 65535, true))
    .addOption(
      new Option('--fit <fit>', 'with --width and --height: contain, cover (crop to fill) or fill').choices(
        FITS,
      ),
    )
    .addOption(
      new Option(
        '--oversize <policy>',
        'when the output exceeds the size cap: reject, or shrink the input',
      ).choices(OVERSIZE_POLICIES),
    )
    .option('-m, --model <id>', 'model id or provider alias (see `pixelift models`)')
    .addOption(
      new Option(
        '--precision <precision>',
        'fp32, int8 (quantized network), or auto: int8 where it meets the quality bar (default PIXELIFT_PRECISION, auto)',
      ).choices(PRECISIONS),
    )
    .addOption(
      new Option('-f, --format <format>', 'output format (default: from -o, else the input format)').choices(
        OUTPUT_FORMATS,
      ),
    )
    .option(
      '-q, --quality <1-100>',
      'quality for jpeg, webp, avif (and JPEG-in-TIFF)',
      number('quality', 1, 100, true),
    )
    .option('--progressive', 'progressive JPEG / interlaced PNG')
    .option('--lossless', 'lossless WebP / AVIF')
    .addOption(
      new Option('--bit-depth <bits>', 'PNG/TIFF bit depth (default: the input’s)')
        .choices(['8', '16'])
        .argParser(Number),
    )
    .option('--background <colour>', 'colour JPEG flattens transparency onto (default #ffffff)')
    .option('--denoise <0-1>', 'reduce noise before the model', number('denoise', 0, 1))
    .option(
      '--fix-compression <0-1>',
      'smooth JPEG block artefacts before the model',
      number('fix-compression', 0, 1),
    )
    .option('--sharpen <0-1>', 'sharpen after the model', number('sharpen', 0, 1))
    .option(
      '--faces',
      'find faces and restore them (face model, or the faithful model when none is installed)',
    )
    .option('--face-model <id>', 'installed face model to restore faces with (default PIXELIFT_FACE_MODEL)')
    .option(
      '--face-strength <0-1>',
      'how much of the restored face is pasted back (default 1)',
      number('face-strength', 0, 1),
    )
    .option(
      '--face-creativity <0-1>',
      'face model freedom (CodeFormer w = 1 - creativity; default 0.5)',
      number('face-creativity', 0, 1),
    )
    .option('--tile <px>', 'tile side in input pixels (smaller: less memory)', number('tile', 16, 4096, true))
    .addOption(new Option('--device <device>', 'execution provider').choices(DEVICES))
    .option('--threads <n>', 'onnxruntime threads', number('threads', 1, 1024, true))
    .option('--keep-metadata', 'keep EXIF and XMP (the colour profile is always kept)')
    .option('--overwrite', 'replace existing outputs (default: skip them)')
    .option('--json', 'print one JSON result per file on stdout')
    .action(run);
}

async function run(inputs: string[], opts: Opts): Promise<void> {
  const { config, log, store } = cliContext({ device: opts.device, threads: opts.threads });
  // An unknown or uninstalled model fails once, here, not once per file in the workers.
  store.resolve(opts.model);
  const jobs = plan(inputs, opts);
  // Inference runs in worker processes (never on this event loop), so Ctrl-C and the progress
  // bar stay responsive and cancelling kills the work outright. Up to PIXELIFT_WORKERS files
  // run at once.
  const size = Math.max(1, Math.min(config.workers, jobs.length));
  // The children end with the last image: `auto` does not start a quantization it cannot finish.
  const settings = { ...workerSettings(config, config.logFormat ?? 'pretty'), quantizeInBackground: false };
  const pool = new WorkerPool({ size, settings, log });
  const progress = batchProgress(jobs.length);
  const say = (line: string) => (opts.json ? undefined : progress.log(line));
  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.once('SIGINT', onSigint);
  let succeeded = 0;
  let failed = 0;
  let skipped = 0;
  let canceled = false;
  const t0 = performance.now();

  const one = async (i: number, job: Job): Promise<void> => {
    if (!opts.overwrite && fs.existsSync(job.output)) {
      skipped++;
      emit(opts, {
        file: job.input,
        written: job.output,
        status: 'skipped',
        reason: 'output exists (use --overwrite)',
      });
      say(`${job.input}: skipped, output exists (use --overwrite)`);
      return;
    }
    progress.start(i, job.input);
    try {
      const options: UpscaleOptions = {
        model: opts.model,
        precision: opts.precision,
        defaultPrecision: config.precision,
        scale: opts.scale,
        width: opts.width,
        height: opts.height,
        fit: opts.fit,
        oversize: opts.oversize,
        format: job.format,
        quality: opts.quality,
        progressive: opts.progressive,
        lossless: opts.lossless,
        bitDepth: opts.bitDepth,
        background: opts.background,
        denoise: opts.denoise,
        fix_compression: opts.fixCompression,
        sharpen: opts.sharpen,
        ...(opts.faces
          ? {
              face: {
                enabled: true,
                model: opts.faceModel,
                strength: opts.faceStrength,
                creativity: opts.faceCreativity,
              },
            }
          : {}),
        tile: opts.tile ?? config.tile,
        tiling: config.tiling,
        keepMetadata: opts.keepMetadata,
        limits: config.limits,
      };
      const result = await pool.run(
        { input: path.resolve(job.input), options },
        {
          signal: ac.signal,
          onProgress: (f) => (opts.json ? undefined : progress.update(i, f)),
          onNotice: (notice) => (opts.json ? undefined : say(`  ${notice}`)),
        },
      );
      fs.mkdirSync(path.dirname(job.output), { recursive: true });
      fs.writeFileSync(job.output, result.data);
      succeeded++;
      const { input, output, model, timings, warnings } = result.info;
      emit(opts, { file: job.input, written: job.output, status: 'ok', ...result.info });
      const secs = ((timings.decodeMs + timings.inferMs + timings.encodeMs) / 1000).toFixed(1);
      say(
        `[${i + 1}/${jobs.length}] ${job.input} → ${job.output}: ${input.width}x${input.height} → ${output.width}x${output.height} with ${model.used} (${result.info.precision}) in ${secs} s`,
      );
      if (result.info.faces) say(`  faces: ${result.info.faces.length} found`);
      for (const w of warnings) say(`  warning: ${w}`);
    } catch (err) {
      failed++;
      if (ac.signal.aborted) {
        canceled = true;
        say(`${job.input}: canceled`);
        return;
      }
      const e = isPixeliftError(err)
        ? err
        : new PixeliftError('internal', { message: (err as Error).message });
      emit(opts, { file: job.input, status: 'failed', error: { code: e.code, message: e.message } });
      say(`${job.input}: failed [${e.code}] ${e.message}`);
    } finally {
      progress.finish(i);
    }
  };

  let next = 0;
  const lanes = Array.from({ length: size }, async () => {
    while (next < jobs.length && !ac.signal.aborted) {
      const i = next++;
      await one(i, jobs[i]!);
    }
  });
  await Promise.all(lanes);
  progress.done();
  process.off('SIGINT', onSigint);
  await pool.close();
  if (!opts.json) {
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    const notRun = jobs.length - succeeded - skipped - failed;
    console.error(
      `done: ${succeeded} upscaled, ${skipped} skipped, ${failed} failed${notRun > 0 ? `, ${notRun} not started` : ''} in ${secs} s`,
    );
  }
  if (canceled) process.exitCode = 130;
  else if (failed > 0 || jobs.length === 0) process.exitCode = 1;
}

interface Job {
  input: string;
  output: string;
  format: OutputFormat;
}

/** Expand folders, and decide each output path and format. */
function plan(inputs: string[], opts: Opts): Job[] {
  const files: { file: string; root?: string }[] = [];
  for (const input of inputs) {
    const stat = fs.statSync(input, { throwIfNoEntry: false });
    if (stat?.isDirectory()) {
      for (const f of walk(input)) files.push({ file: f, root: input });
    } else {
      files.push({ file: input });
    }
  }
  const outIsFile =
    opts.output !== undefined &&
    files.length === 1 &&
    IMAGE_EXT.has(path.extname(opts.output).toLowerCase()) &&
    !fs.statSync(opts.output, { throwIfNoEntry: false })?.isDirectory();
  const suffix = opts.output
    ? ''
    : opts.width || opts.height
      ? `_${opts.width ?? ''}x${opts.height ?? ''}`
      : `_x${opts.scale ?? 4}`;
  return files.map(({ file, root }) => {
    if (outIsFile)
      return { input: file, output: opts.output!, format: opts.format ?? formatOf(opts.output!) };
    const format = opts.format ?? formatOf(file);
    const stem = path.basename(file, path.extname(file));
    const rel = root ? path.dirname(path.relative(root, file)) : '';
    const dir = opts.output ? path.join(opts.output, rel) : path.dirname(file);
    return { input: file, output: path.join(dir, `${stem}${suffix}${EXT_OF[format]}`), format };
  });
}

/** The output format for a path: its extension; GIF and HEIF inputs become PNG. */
function formatOf(file: string): OutputFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.jpg' || ext === '.jpeg') return 'jpeg';
  if (ext === '.webp') return 'webp';
  if (ext === '.avif') return 'avif';
  if (ext === '.tif' || ext === '.tiff') return 'tiff';
  return 'png';
}

function* walk(dir: string): Generator<string> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (IMAGE_EXT.has(path.extname(e.name).toLowerCase())) yield p;
  }
}

function emit(opts: Opts, result: Record<string, unknown>): void {
  if (opts.json) console.log(JSON.stringify(result));
}
