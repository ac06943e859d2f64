/**
 * A worker child (DESIGN §4): runs `upscaleImage` for the pool, one job at a time. It exists
 * because onnxruntime-node's `session.run()` blocks its thread's event loop for the whole run
 * (one 270 ms run stalled a timer 271 ms) and cannot be interrupted: here a stall harms no one,
 * and cancelling means the parent kills this process.
 *
 * The ModelStore is built once from the parent's `init`, so sessions stay warm across jobs.
 * Logs go to stderr; stdout is not ours (the pool points it at the parent's stderr).
 */
import type { Precision } from '../config.js';
import { upscaleImage } from '../engine/pipeline.js';
import { PixeliftError } from '../errors.js';
import { createHumanLogger, createLogger, type Logger, silentLogger } from '../log.js';
import { ModelStore } from '../models/store.js';
import type { ChildMessage, ParentMessage, WorkerSettings } from './protocol.js';
import { toWireError } from './protocol.js';

if (!process.send) {
  process.stderr.write('pixelift: src/workers/child.js is started by the worker pool, not by hand\n');
  process.exit(2);
}

process.title = 'pixelift-worker';

let store: ModelStore | undefined;
let memoryBudget: number | undefined;
let tiling: 'exact' | 'context' | undefined;
let defaultPrecision: Precision | undefined;
let log: Logger = silentLogger;
/** Jobs run strictly one after another, even if a parent ever sent two. */
let queue: Promise<void> = Promise.resolve();

function send(message: ChildMessage): void {
  // A closed channel means the parent is gone; 'disconnect' below ends this process.
  if (process.connected) process.send!(message, undefined, undefined, () => undefined);
}

process.on('message', (message: ParentMessage) => {
  switch (message.type) {
    case 'init':
      init(message.settings);
      break;
    case 'run':
      queue = queue.then(() => run(message));
      break;
  }
});

// Without a parent there is nobody to report to, and nobody to kill us later.
process.on('disconnect', () => process.exit(0));

send({ type: 'ready' });

function init(settings: WorkerSettings): void {
  log = loggerFor(settings);
  memoryBudget = settings.memoryBudget;
  tiling = settings.tiling;
  defaultPrecision = settings.precision;
  store = new ModelStore({
    modelCacheDir: settings.modelCacheDir,
    modelsDir: settings.modelsDir,
    session: {
      device: settings.device,
      threads: settings.threads,
      graphOptimizationLevel: settings.graphOptimizationLevel,
    },
    log,
    // A child lives on after its job: `auto` quantizes a missing int8 file here, off the request.
    quantizeInBackground: settings.quantizeInBackground ?? true,
    ...(settings.packageRoot === undefined ? {} : { packageRoot: settings.packageRoot }),
    ...(settings.maxModelBytes === undefined ? {} : { maxModelBytes: settings.maxModelBytes }),
    ...(settings.faceModel === undefined ? {} : { faceModel: settings.faceModel }),
  });
  log.debug({ pid: process.pid, device: settings.device, threads: settings.threads }, 'worker ready');
}

async function run(message: Extract<ParentMessage, { type: 'run' }>): Promise<void> {
  const { jobId } = message;
  try {
    if (!store) throw new PixeliftError('internal', { message: 'worker got a job before its settings' });
    const options = { memoryBudget, tiling, defaultPrecision, ...message.options };
    const { data, info } = await upscaleImage(store, message.input, options, {
      onProgress: (fraction) => send({ type: 'progress', jobId, fraction }),
      onEstimate: (estimate) => send({ type: 'estimate', jobId, estimate }),
      onNotice: (notice) => send({ type: 'notice', jobId, message: notice }),
    });
    send({ type: 'done', jobId, data, info });
  } catch (err) {
    const error = toWireError(err);
    // Expected failures (bad input, unknown model) are the caller's to report; a bug is ours.
    if (error.code === 'internal') log.error({ err, jobId }, 'worker job failed');
    else log.debug({ code: error.code, jobId }, error.message);
    send({ type: 'failed', jobId, error });
  }
}

function loggerFor(settings: WorkerSettings): Logger {
  if (settings.logLevel === 'silent') return silentLogger;
  return settings.logFormat === 'pretty'
    ? createHumanLogger(settings.logLevel)
    : createLogger(settings.logLevel, 2);
}
