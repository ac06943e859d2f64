/**
 * How a long-running command (`serve`, `worker`) stops: the first SIGTERM/SIGINT starts its
 * graceful close and exits 0 (1 if the close fails); a second signal exits 130 at once.
 */
import type { Logger } from '../log.js';

export function closeOnSignals(logger: Logger, close: () => Promise<void>): void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    logger.info({ signal }, 'signal received');
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
