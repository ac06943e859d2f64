/**
 * Every architecture the PyTorch importer recognises, in detection order: the first whose
 * `detect` answers wins, so more specific key patterns come before looser ones (HAT before
 * SwinIR, whose keys it extends).
 */
import type { Architecture } from '../types.js';
import { codeformer } from './codeformer.js';
import { dat } from './dat.js';
import { esrgan } from './esrgan.js';
import { gfpgan } from './gfpgan.js';
import { hat } from './hat.js';
import { omnisr } from './omnisr.js';
import { plksr, realplksr } from './plksr.js';
import { realcugan } from './realcugan.js';
import { restoreformer } from './restoreformer.js';
import { span } from './span.js';
import { srvgg } from './srvgg.js';
import { swinir } from './swinir.js';

export const ARCHITECTURES: readonly Architecture[] = [
  esrgan,
  span,
  srvgg,
  hat,
  dat,
  swinir,
  omnisr,
  realplksr,
  plksr,
  realcugan,
  gfpgan,
  codeformer,
  restoreformer,
];
