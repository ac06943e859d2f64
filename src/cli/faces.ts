/**
 * `pixelift faces IMAGE...`: the faces the shipped detector finds (box, score, 5 landmarks),
 * in the image's own pixels; `--json` prints one JSON object per image.
 */
import type { Command } from 'commander';
import { decode } from '../engine/decode.js';
import { detectFaces } from '../engine/faces/detect.js';
import { reportOf } from '../engine/faces/pass.js';
import { isPixeliftError, PixeliftError } from '../errors.js';
import { cliContext } from './context.js';

export function registerFaces(program: Command): void {
  program
    .command('faces')
    .description(
      'find the faces in images: box, score and 5 landmarks (eyes, nose, mouth corners), in input pixels',
    )
    .argument('<images...>', 'image files')
    .option('--json', 'print one JSON object per image on stdout')
    .action(async (images: string[], opts: { json?: boolean }) => {
      const { config } = cliContext();
      let failed = 0;
      for (const file of images) {
        try {
          const img = await decode(file, config.limits);
          const faces = (await detectFaces({ data: img.rgb, width: img.width, height: img.height })).map(
            (f) => reportOf(f, { x: 1, y: 1 }),
          );
          if (opts.json) {
            console.log(JSON.stringify({ file, width: img.width, height: img.height, faces }));
            continue;
          }
          console.log(
            `${file}: ${faces.length} face${faces.length === 1 ? '' : 's'} (${img.width}x${img.height})`,
          );
          for (const [i, f] of faces.entries()) {
            const p = (k: number) => `${f.landmarks[k]![0].toFixed(1)},${f.landmarks[k]![1].toFixed(1)}`;
            console.log(
              `  ${i + 1}. box ${f.box.x.toFixed(1)},${f.box.y.toFixed(1)} ${f.box.width.toFixed(1)}x${f.box.height.toFixed(1)}  score ${f.score.toFixed(3)}  eyes ${p(0)} ${p(1)}  nose ${p(2)}  mouth ${p(3)} ${p(4)}`,
            );
          }
        } catch (err) {
          failed++;
          const e = isPixeliftError(err)
            ? err
            : new PixeliftError('internal', { message: (err as Error).message });
          if (opts.json) console.log(JSON.stringify({ file, error: { code: e.code, message: e.message } }));
          else console.error(`${file}: failed [${e.code}] ${e.message}`);
        }
      }
      if (failed > 0) process.exitCode = 1;
    });
}
