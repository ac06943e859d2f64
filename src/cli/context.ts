/** What every CLI command needs, built once from config. */
import { type Config, config as loadConfig } from '../config.js';
import { createHumanLogger, createLogger, type Logger } from '../log.js';
import { type ModelStore, modelStoreFor } from '../models/store.js';

export interface CliContext {
  readonly config: Config;
  readonly log: Logger;
  readonly store: ModelStore;
}

export function cliContext(overrides: { device?: Config['device']; threads?: number } = {}): CliContext {
  const base = loadConfig();
  const config = {
    ...base,
    ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)),
  };
  // Logs go to stderr so that stdout carries only results (tables, --json).
  const log =
    config.logFormat === 'json' ? createLogger(config.logLevel, 2) : createHumanLogger(config.logLevel);
  const store = modelStoreFor(config, log);
  return { config, log, store };
}
