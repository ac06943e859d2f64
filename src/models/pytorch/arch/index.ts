/**
 * Every architecture the PyTorch importer recognises, in detection order: the first whose
 * `detect` answers wins, so more specific key patterns come before looser ones.
 */
import type { Architecture } from '../types.js';
import { dat } from './dat.js';
import { hat } from './hat.js';
import { plksr, realplksr } from './plksr.js';
import { swinir } from './swinir.js';

export const ARCHITECTURES: readonly Architecture[] = [hat, dat, swinir, realplksr, plksr];
