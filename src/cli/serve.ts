/**
 * `pixelift serve` (and `npm start`): the HTTP service on this machine. SIGTERM/SIGINT start
 * a graceful shutdown (running jobs get PIXELIFT_SHUTDOWN_GRACE seconds, the rest go back to
 * the queue for the next start); a second signal exits at once.
 */
import type { Command } from 'commander';
import { config as loadConfig } from '../config.js';
import { createServiceLogger } from '../log.js';
import { startService } from '../server/boot.js';
import { closeOnSignals } from './signals.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('start the HTTP API (native /v1) with an embedded job queue and worker pool')
    .option('-p, --port <n>', 'port (PIXELIFT_PORT, default 8080)', (v) => Number(v))
    .option('-H, --host <addr>', 'address to bind (PIXELIFT_HOST, default 127.0.0.1)')
    .action(async (opts: { port?: number; host?: string }) => {
      const base = loadConfig();
      const config = {
        ...base,
        ...(opts.port !== undefined ? { port: opts.port } : {}),
        ...(opts.host !== undefined ? { host: opts.host } : {}),
      };
      // JSON lines on stdout (request id and job id on each); readable ones with PIXELIFT_LOG_FORMAT=pretty.
      const logger = createServiceLogger({
        level: config.logLevel,
        format: config.logFormat,
        name: 'pixelift',
      });
      const service = await startService(config, logger);
      closeOnSignals(logger, () => service.close());
    });
}
