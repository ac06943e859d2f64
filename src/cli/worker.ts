/**
 * `pixelift worker`: run jobs for scale-out API nodes (DESIGN §5–6). SIGTERM/SIGINT stop taking
 * jobs; running ones get PIXELIFT_SHUTDOWN_GRACE seconds, then go back to the queue for another
 * worker; a second signal exits at once.
 */
import type { Command } from 'commander';
import { config as loadConfig } from '../config.js';
import { createServiceLogger } from '../log.js';
import { startWorkerNode } from '../server/worker-node.js';
import { closeOnSignals } from './signals.js';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description(
      'run upscaling jobs from the shared queue (scale-out: needs PIXELIFT_DATABASE_URL, PIXELIFT_REDIS_URL, PIXELIFT_S3_URL)',
    )
    .action(async () => {
      const config = loadConfig();
      const logger = createServiceLogger({
        level: config.logLevel,
        format: config.logFormat,
        name: 'pixelift-worker',
      });
      const worker = await startWorkerNode(config, logger);
      closeOnSignals(logger, () => worker.close());
    });
}
