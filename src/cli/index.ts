#!/usr/bin/env node
/** The `pixelift` command. Each verb lives in its own file and registers itself here. */
import { createRequire } from 'node:module';
import { Command } from 'commander';
import { isPixeliftError } from '../errors.js';
import { registerFaces } from './faces.js';
import { registerKeys } from './keys.js';
import { registerModels } from './models.js';
import { registerServe } from './serve.js';
import { registerUpscale } from './upscale.js';
import { registerWorker } from './worker.js';

const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };

const program = new Command()
  .name('pixelift')
  .description('Self-hosted AI image upscaling: real super-resolution networks on your own CPU or GPU.')
  .version(pkg.version)
  .showHelpAfterError();

registerUpscale(program);
registerModels(program);
registerFaces(program);
registerServe(program);
registerKeys(program);
registerWorker(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (isPixeliftError(err)) {
    console.error(`pixelift: [${err.code}] ${err.message}`);
  } else {
    console.error(`pixelift: ${(err as Error).stack ?? err}`);
  }
  process.exitCode = 1;
});
