/**
 * pino, configured once. Library code takes a `Logger` so that embedders can pass their own
 * (or `silentLogger`) instead of getting lines on stdout they did not ask for.
 */
import { pino } from 'pino';

export type Logger = Pick<pino.Logger, 'debug' | 'info' | 'warn' | 'error'>;

export function createLogger(level = 'info', destination: 1 | 2 = 2): Logger {
  return pino({ level, base: { name: 'pixelift' } }, pino.destination(destination));
}

/** One readable line: `pixelift: message (key=value …)`, with the level named from warn up. */
function humanLine(name: string, lvl: string, fields: Record<string, unknown>, text: string): string {
  const extra = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const prefix = lvl === 'debug' || lvl === 'info' ? `${name}:` : `${name} ${lvl}:`;
  return `${prefix} ${text}${extra ? ` (${extra})` : ''}\n`;
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
    process.stderr.write(humanLine('pixelift', lvl, fields, text));
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } as unknown as Logger;
}

const pinoLevels: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/**
 * The logger of the long-running commands (`pixelift serve`, `pixelift worker`): a pino logger
 * (Fastify needs one) writing to stdout, the usual place for a service's logs. Its lines are
 * JSON unless PIXELIFT_LOG_FORMAT=pretty, which renders each one as `createHumanLogger` does
 * (an error by its message; pino's time, pid and hostname left out).
 */
export function createServiceLogger(
  options: { level: string; format: 'json' | 'pretty' | undefined; name: string },
  out: { write(text: string): unknown } = process.stdout,
): pino.Logger {
  const pinoOptions = { level: options.level, base: { name: options.name } };
  if (options.format !== 'pretty') return out === process.stdout ? pino(pinoOptions) : pino(pinoOptions, out);
  const pretty = {
    write(line: string): void {
      const {
        level,
        time: _time,
        pid: _pid,
        hostname: _hostname,
        name,
        msg,
        err,
        ...fields
      } = JSON.parse(line);
      if (err !== undefined)
        fields.err = typeof err === 'object' && err !== null ? (err.message ?? err.type) : err;
      out.write(humanLine(String(name), pinoLevels[level as number] ?? String(level), fields, msg ?? ''));
    },
  };
  return pino(pinoOptions, pretty);
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
