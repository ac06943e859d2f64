/** `pixelift models`: list, prepare and explain the catalog. */
import { type Command, Option } from 'commander';
import { PRECISIONS, type Precision } from '../config.js';
import { isPixeliftError } from '../errors.js';
import { MODEL_ALIASES } from '../models/aliases.js';
import type { ModelEntry } from '../models/catalog.js';
import { autoInt8Scales, autoPrecision, hasInt8, type RunPrecision } from '../models/precision.js';
import { defaultScale } from '../models/registry.js';
import { addUserModel, removeUserModel } from '../models/user-model-admin.js';
import { cliContext } from './context.js';

export function registerModels(program: Command): void {
  const models = program
    .command('models')
    .description('list the models: id, native scales, kind, speed and licence')
    .option('--json', 'print the catalog as JSON')
    .action((opts: { json?: boolean }) => {
      const { store, config } = cliContext();
      const list = store.list();
      if (opts.json) {
        const notInstalled = [...store.notInstalled()].map(([id, reason]) => ({
          id,
          installed: false,
          reason,
        }));
        const problems = store.userModelProblems().map((p) => ({ file: p.file, error: p.error.toJSON() }));
        console.log(
          JSON.stringify(
            { models: list.map(describe), notInstalled, problems, memoryBudget: config.memoryBudget },
            null,
            2,
          ),
        );
        return;
      }
      printTable(
        ['id', 'scales', 'kind', 'arch', 'speed', 'params', 'flops/px', 'int8', 'licence'],
        list.map((m) => [
          m.id,
          m.scales.map((s) => `${s}x`).join(' ') === '1x' ? 'any' : m.scales.map((s) => `${s}x`).join(' '),
          m.kind,
          m.architecture?.id ?? m.source.format,
          speed(m),
          params(m),
          flops(m),
          int8(m),
          m.license + (m.origin === 'user' ? ' (your model)' : ''),
        ]),
      );
      for (const [id, reason] of store.notInstalled()) console.log(`\nnot installed: ${id}: ${reason}`);
      for (const p of store.userModelProblems())
        console.log(`\nskipped ${p.file}: [${p.error.code}] ${p.error.message}`);
      console.log(
        `\nMemory budget per worker: ${(config.memoryBudget / 2 ** 30).toFixed(2)} GiB (PIXELIFT_MEMORY_BUDGET); ${config.tiling === 'exact' ? `networks are tiled exactly within it${config.tile ? `, except that PIXELIFT_TILE=${config.tile} tiles whole networks with context` : ''}` : 'whole networks are tiled with context (PIXELIFT_TILING=context; unset, networks are tiled exactly within the budget)'}.`,
      );
      console.log(
        `\nint8: "auto" where --precision auto (the default, PIXELIFT_PRECISION=${config.precision} here) runs the model in int8; "yes" where int8 runs only when asked for.`,
      );
      console.log('\nProvider names (Topaz, Apiframe, Runware) are accepted too: `pixelift models aliases`.');
    });

  models
    .command('prepare [ids...]')
    .description('convert models to ONNX into the cache and verify them (default: every installed network)')
    .option('-s, --scale <n>', 'only this native scale', (v) => Number(v))
    .addOption(
      new Option(
        '--precision <precision>',
        'also quantize to int8: for every network (int8), only where auto picks it (auto, the default), or not (fp32)',
      )
        .choices(PRECISIONS)
        .default('auto'),
    )
    .action(async (ids: string[], opts: { scale?: number; precision: Precision }) => {
      const { store } = cliContext();
      const targets = ids.length > 0 ? ids.map((id) => store.get(id)) : store.list();
      let failed = 0;
      for (const m of targets) {
        if (m.source.format === 'classical') continue;
        for (const s of opts.scale ? [opts.scale] : m.scales) {
          const precisions: RunPrecision[] =
            opts.precision === 'int8' ||
            (opts.precision === 'auto' && autoPrecision(m, undefined, s) === 'int8')
              ? ['fp32', 'int8']
              : ['fp32'];
          for (const precision of precisions) {
            const t0 = performance.now();
            const what = `${m.id} x${s}${precision === 'int8' ? ' int8' : ''}`;
            try {
              const p = await store.prepare(m.id, s, precision);
              const ms = Math.round(performance.now() - t0);
              const done = precision === 'int8' ? 'quantized and verified' : 'converted and verified';
              console.log(`${what}: ${p.converted ? done : 'cached, verified'} in ${ms} ms`);
            } catch (err) {
              failed++;
              console.error(
                `${what}: ${isPixeliftError(err) ? `[${err.code}] ` : ''}${(err as Error).message}`,
              );
            }
          }
        }
      }
      await store.close();
      if (failed > 0) process.exitCode = 1;
    });

  models
    .command('add <file>')
    .description(
      'add a PyTorch (.pth, .pt, .ckpt) or .safetensors model: copy it into the models directory, recognise, convert and verify it',
    )
    .option('--id <id>', 'the model id (default: the file name without extension)')
    .option('--json', 'print what was found as JSON')
    .action(async (file: string, opts: { id?: string; json?: boolean }) => {
      const { store } = cliContext();
      try {
        const { model, prepared } = await addUserModel(store, { file, id: opts.id });
        if (opts.json) console.log(JSON.stringify(describe(model), null, 2));
        else {
          const cost = model.cost[prepared.scale];
          console.log(`added ${model.id}: ${model.architecture?.name ?? model.source.format}`);
          console.log(`  variant      ${model.architecture?.variant ?? '-'}`);
          console.log(`  scale        ${prepared.scale}x`);
          console.log(`  parameters   ${cost?.params.toLocaleString('en-US') ?? '?'}`);
          console.log(`  FLOPs/pixel  ${cost?.flops.toLocaleString('en-US') ?? '?'}`);
          console.log(`  verified     converted to ONNX and golden-checked (${prepared.onnxPath})`);
        }
      } catch (err) {
        console.error(`${isPixeliftError(err) ? `[${err.code}] ` : ''}${(err as Error).message}`);
        process.exitCode = 1;
      } finally {
        await store.close();
      }
    });

  models
    .command('remove <id>')
    .description('remove a model you added (its file and manifest); built-ins cannot be removed')
    .action(async (id: string) => {
      const { store } = cliContext();
      try {
        const m = removeUserModel(store, id);
        console.log(`removed ${m.id}`);
      } catch (err) {
        console.error(`${isPixeliftError(err) ? `[${err.code}] ` : ''}${(err as Error).message}`);
        process.exitCode = 1;
      } finally {
        await store.close();
      }
    });

  models
    .command('aliases')
    .description('provider model names and the Pixelift model that serves each')
    .option('--json', 'print as JSON')
    .action((opts: { json?: boolean }) => {
      if (opts.json) {
        console.log(JSON.stringify(MODEL_ALIASES, null, 2));
        return;
      }
      printTable(
        ['provider', 'name', 'served by', 'preset', 'note'],
        MODEL_ALIASES.map((a) => [
          a.provider,
          a.name,
          a.model,
          Object.entries(a.preset)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ') || '-',
          a.warning ? 'generative/unknown: served with a warning' : '',
        ]),
      );
    });
}

function describe(m: ModelEntry) {
  return {
    id: m.id,
    name: m.name,
    scales: m.scales,
    kind: m.kind,
    purpose: m.purpose,
    cost: m.cost,
    kpxPerSecond: m.kpxPerSecond ?? null,
    license: m.license,
    packageLicense: m.packageLicense ?? null,
    origin: m.origin,
    format: m.source.format,
    package: 'package' in m.source ? m.source.package : null,
    context: m.context,
    tile: m.tile,
    architecture: m.architecture ?? null,
    precision: { int8: hasInt8(m), auto: autoPrecision(m) },
  };
}

function int8(m: ModelEntry): string {
  if (!hasInt8(m)) return '-';
  const scales = autoInt8Scales(m);
  if (scales.length === 0) return 'yes';
  return scales.length === m.scales.length ? 'auto' : `auto ${scales.map((s) => `×${s}`).join(' ')}`;
}

function flops(m: ModelEntry): string {
  const c = m.cost[defaultScale(m)];
  if (!c) return '?';
  if (c.flops === 0) return '-';
  return c.flops >= 1e9
    ? `${(c.flops / 1e9).toFixed(1)} G`
    : c.flops >= 1e6
      ? `${(c.flops / 1e6).toFixed(1)} M`
      : `${(c.flops / 1e3).toFixed(0)} k`;
}

function speed(m: ModelEntry): string {
  if (m.kind === 'classical') return 'instant';
  return m.kpxPerSecond ? `${m.kpxPerSecond} kpx/s` : '?';
}

function params(m: ModelEntry): string {
  const c = m.cost[defaultScale(m)];
  if (!c) return '?';
  if (c.params === 0) return '-';
  return c.params >= 1e6 ? `${(c.params / 1e6).toFixed(1)} M` : `${(c.params / 1e3).toFixed(0)} k`;
}

function printTable(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}
