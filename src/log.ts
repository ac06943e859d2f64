/**
 * pino, configured once. Library code takes a `Logger` so that embedders can pass their own
 * (or `silentLogger`) instead of getting lines on stdout they did not ask for.
 */
import { pino } from 'pino';

export type Logger = Pick<pino.Logger, 'debug' | 'info' | 'warn' | 'error'>;

export function createLogger(level = 'info', destination: 1 | 2 = 2): Logger {
  return pino({ level, base: { name: 'pixelift' } }, pino.destination(destination));
}

/**
 * For a person at a terminal: `pixelift: message (key=value …)` on stderr. JSON lines are for
 * services (`createLogger`); the CLI uses this unless PIXELIFT_LOG_FORMAT=json.
 */
export function createHumanLogger(level = 'info'): Logger {
  const order = ['debug', 'info', 'warn', 'error'];
  const min = Math.max(0, order.indexOf(level));
  const at = (lvl: string) => (obj: unknown, msg?: string) => {
    if (order.indexOf(lvl) < min) return;
    const [fields, text] =
      typeof obj === 'string' ? [{}, obj] : [(obj ?? {}) as Record<string, unknown>, msg ?? ''];
    const extra = Object.entries(fields)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    const prefix = lvl === 'warn' || lvl === 'error' ? `pixelift ${lvl}:` : 'pixelift:';
    process.stderr.write(`${prefix} ${text}${extra ? ` (${extra})` : ''}\n`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } as unknown as Logger;
}

const noop = () => undefined;
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop } as unknown as Logger;

/** A logger that adds `fields` (job id, request id, …) to every line. */
export function withFields(log: Logger, fields: Record<string, unknown>): Logger {
  const maybeChild = (log as Partial<pino.Logger>).child;
  if (typeof maybeChild === 'function') return maybeChild.call(log, fields) as Logger;
  const at =
    (fn: (obj: unknown, msg?: string) => void) =>
    (obj: unknown, msg?: string): void => {
      if (typeof obj === 'string') fn.call(log, { ...fields }, obj);
      else fn.call(log, { ...fields, ...(obj as object) }, msg);
    };
  return {
    debug: at(log.debug as never),
    info: at(log.info as never),
    warn: at(log.warn as never),
    error: at(log.error as never),
  } as unknown as Logger;
}
