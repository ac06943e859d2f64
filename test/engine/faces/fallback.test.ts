import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { apply, FFHQ_TEMPLATE_512, faceMask, similarity } from '../../../src/engine/faces/align.js';
import { upscaleImage } from '../../../src/engine/pipeline.js';
import { testStore } from '../../helpers/models.js';
import { repoPath } from '../../helpers/paths.js';

const ASTRONAUT = repoPath('test/fixtures/faces/astronaut-256.png');
const store = testStore();

async function rgb(png: Buffer): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

describe('face pass without a face model (the default install)', () => {
  it('blends the faithful model’s face in under the mask, leaves the rest alone, and says so', async () => {
    const input = await sharp(ASTRONAUT).toBuffer();
    const opts = { model: 'realesrgan-x4fast', scale: 2 } as const;
    const plain = await upscaleImage(store, input, opts);
    const faced = await upscaleImage(store, input, { ...opts, face: { enabled: true } });
    assert.deepEqual(faced.info.warnings, [
      'No face model is installed: 1 face was upscaled with the faithful model rrdn-thick and blended in; to restore faces, add one: pixelift models add GFPGANv1.4.pth',
    ]);
    assert.equal(faced.info.faces?.length, 1);
    const a = await rgb(plain.data);
    const b = await rgb(faced.data);
    const lm = faced.info.faces![0]!.landmarks.map(
      ([x, y]) => [(x + 0.5) * 2 - 0.5, (y + 0.5) * 2 - 0.5] as const,
    );
    const t = similarity(lm, FFHQ_TEMPLATE_512);
    let inside = 0;
    let changed = 0;
    for (let y = 0; y < a.height; y++)
      for (let x = 0; x < a.width; x++) {
        const [u, v] = apply(t, x, y);
        const m = faceMask(u, v);
        const i = (y * a.width + x) * 3;
        const same =
          a.data[i] === b.data[i] && a.data[i + 1] === b.data[i + 1] && a.data[i + 2] === b.data[i + 2];
        if (m === 0) assert.ok(same, `pixel (${x}, ${y}) outside the face changed`);
        else if (m === 1) {
          inside++;
          if (!same) changed++;
        }
      }
    assert.ok(
      inside > 1000 && changed / inside > 0.5,
      `${changed} of ${inside} face pixels differ from the x4fast ones`,
    );
  });

  it('no seam where a tile border crosses the face: the face is the same whether the job ran in 48 px tiles or one tile', async () => {
    const input = await sharp(ASTRONAUT).toBuffer();
    const opts = { model: 'realesrgan-x4fast', scale: 2, face: { enabled: true } } as const;
    // The face spans x ≈ 81..139, y ≈ 37..92 of the input: 48 px tiles put borders at 96 and 48/96.
    const tiled = await upscaleImage(store, input, { ...opts, tile: 48 });
    const whole = await upscaleImage(store, input, { ...opts, tile: 512 });
    const a = await rgb(tiled.data);
    const b = await rgb(whole.data);
    const lm = whole.info.faces![0]!.landmarks.map(
      ([x, y]) => [(x + 0.5) * 2 - 0.5, (y + 0.5) * 2 - 0.5] as const,
    );
    const t = similarity(lm, FFHQ_TEMPLATE_512);
    let crossing = 0;
    for (let y = 0; y < a.height; y++)
      for (let x = 0; x < a.width; x++) {
        const [u, v] = apply(t, x, y);
        if (faceMask(u, v) < 1) continue;
        if (x === 192 || y === 96 || y === 192) crossing++;
        const i = (y * a.width + x) * 3;
        for (let c = 0; c < 3; c++) assert.equal(a.data[i + c], b.data[i + c], `(${x}, ${y}) differs`);
      }
    assert.ok(crossing > 20, `${crossing} face pixels on tile borders`);
  });
});
