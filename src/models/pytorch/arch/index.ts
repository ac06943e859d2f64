/**
 * Every architecture the PyTorch importer recognises, in detection order: the first whose
 * `detect` answers wins, so more specific key patterns come before looser ones.
 */
import type { Architecture } from '../types.js';
import { esrgan } from './esrgan.js';
import { span } from './span.js';
import { srvgg } from './srvgg.js';

export const ARCHITECTURES: readonly Architecture[] = [esrgan, span, srvgg];
