/**
 * `pixelift worker`: run jobs for scale-out API nodes (DESIGN §5–6). SIGTERM/SIGINT stop taking
 * jobs; running ones get PIXELIFT_SHUTDOWN_GRACE seconds, then go back to the queue for another
 * worker; a second signal exits at once.
 */
import type { Command } from 'commander';
import { pino } from 'pino';
import { startWorkerNode } from '../api/worker-node.js';
import { config as loadConfig } from '../config.js';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description(
      'run upscaling jobs from the shared queue (scale-out: needs PIXELIFT_DATABASE_URL, PIXELIFT_REDIS_URL, PIXELIFT_S3_URL)',
    )
    .action(async () => {
      const config = loadConfig();
      const logger = pino({ level: config.logLevel, base: { name: 'pixelift-worker' } });
      const worker = await startWorkerNode(config, logger);
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals) => {
        signals++;
        if (signals > 1) {
          logger.warn({ signal }, 'second signal: exiting now');
          process.exit(130);
        }
        logger.info({ signal }, 'signal received');
        worker.close().then(
          () => process.exit(0),
          (err: unknown) => {
            logger.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    });
}
