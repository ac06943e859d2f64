/** `pixelift upscale IN… -o OUT -s SCALE -m MODEL [--json]`: enlarge files and folders. */
import fs from 'node:fs';
import path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { DEVICES } from '../config.js';
import { OUTPUT_FORMATS, type OutputFormat, upscaleImage } from '../engine/pipeline.js';
import { isPixeliftError } from '../errors.js';
import { cliContext } from './context.js';

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
  model?: string;
  format?: OutputFormat;
  quality?: number;
  tile?: number;
  device?: (typeof DEVICES)[number];
  threads?: number;
  overwrite?: boolean;
  json?: boolean;
}

const number = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
  return n;
};

export function registerUpscale(program: Command): void {
  program
    .command('upscale')
    .description('upscale image files and folders (folders are walked recursively)')
    .argument('<inputs...>', 'image files or folders')
    .option('-o, --output <path>', 'output file (one input) or folder; default: beside each input')
    .option('-s, --scale <factor>', 'scale factor, any number in [1, 16] (default: 4)', number('scale'))
    .option('-m, --model <id>', 'model id or provider alias (see `pixelift models`)')
    .addOption(
      new Option('-f, --format <format>', 'output format (default: from -o, else png)').choices(
        OUTPUT_FORMATS,
      ),
    )
    .option('-q, --quality <1-100>', 'quality for jpeg/webp/avif', number('quality'))
    .option('--tile <px>', 'tile side in input pixels', number('tile'))
    .addOption(new Option('--device <device>', 'execution provider').choices(DEVICES))
    .option('--threads <n>', 'onnxruntime threads', number('threads'))
    .option('--overwrite', 'replace existing outputs (default: skip them)')
    .option('--json', 'print one JSON result per file on stdout')
    .action(run);
}

async function run(inputs: string[], opts: Opts): Promise<void> {
  const { store } = cliContext({ device: opts.device, threads: opts.threads });
  const jobs = plan(inputs, opts);
  let failed = 0;
  let skipped = 0;
  const t0 = performance.now();
  for (const [i, job] of jobs.entries()) {
    const label = `[${i + 1}/${jobs.length}] ${job.input}`;
    if (!opts.overwrite && fs.existsSync(job.output)) {
      skipped++;
      report(opts, {
        file: job.input,
        written: job.output,
        status: 'skipped',
        reason: 'output exists (use --overwrite)',
      });
      continue;
    }
    try {
      let last = -1;
      const result = await upscaleImage(
        store,
        job.input,
        { model: opts.model, scale: opts.scale, format: job.format, quality: opts.quality, tile: opts.tile },
        {
          onProgress: (f) => {
            const pct = Math.floor(f * 100);
            if (!opts.json && pct >= last + 10) {
              last = pct;
              process.stderr.write(`${label}: ${pct}%\n`);
            }
          },
        },
      );
      fs.mkdirSync(path.dirname(job.output), { recursive: true });
      fs.writeFileSync(job.output, result.data);
      const { input, output, model, timings, warnings } = result.info;
      report(opts, { file: job.input, written: job.output, status: 'ok', ...result.info }, () => {
        const secs = ((timings.decodeMs + timings.inferMs + timings.encodeMs) / 1000).toFixed(1);
        return `${label} → ${job.output}: ${input.width}x${input.height} → ${output.width}x${output.height} with ${model.used} in ${secs} s${warnings.length ? `\n  warning: ${warnings.join('\n  warning: ')}` : ''}`;
      });
    } catch (err) {
      failed++;
      const code = isPixeliftError(err) ? err.code : 'internal';
      report(opts, { file: job.input, status: 'failed', error: { code, message: (err as Error).message } });
    }
  }
  await store.close();
  const ok = jobs.length - failed - skipped;
  if (!opts.json) {
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    console.error(`done: ${ok} upscaled, ${skipped} skipped, ${failed} failed in ${secs} s`);
  }
  if (failed > 0 || jobs.length === 0) process.exitCode = 1;
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
  return files.map(({ file, root }) => {
    if (outIsFile) {
      return { input: file, output: opts.output!, format: opts.format ?? formatOf(opts.output!) };
    }
    const format = opts.format ?? formatOf(file);
    const stem = path.basename(file, path.extname(file));
    const suffix = opts.output ? '' : `_x${opts.scale ?? 'model'}`;
    const rel = root ? path.dirname(path.relative(root, file)) : '';
    const dir = opts.output ? path.join(opts.output, rel) : path.dirname(file);
    return { input: file, output: path.join(dir, `${stem}${suffix}${EXT_OF[format]}`), format };
  });
}

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

function report(opts: Opts, result: Record<string, unknown>, text?: () => string): void {
  if (opts.json) {
    console.log(JSON.stringify(result));
    return;
  }
  if (result.status === 'failed') {
    const e = result.error as { code: string; message: string };
    console.error(`${result.file}: failed [${e.code}] ${e.message}`);
  } else if (result.status === 'skipped') {
    console.error(`${result.file}: skipped, ${result.reason}`);
  } else {
    console.error(text?.() ?? String(result.written));
  }
}
