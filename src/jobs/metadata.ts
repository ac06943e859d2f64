/**
 * Bounds on a job's `metadata`, the free-form JSON object a client attaches and gets back on
 * the job and in its webhooks. Unbounded, four 30 MB objects made `GET /v1/jobs` answer 126 MB
 * and the server's RSS grow to 1.6 GB (issue 16); nested 10,000 deep, they overflowed the
 * stack of every recursive walker (JSON.stringify among them). The checks walk the value with
 * an explicit stack, so no input can overflow it, and stop at the first bound crossed.
 */
import { PixeliftError } from '../errors.js';

export const METADATA_LIMITS = {
  /** The object as compact JSON, UTF-8 bytes. */
  maxBytes: 16 * 1024,
  /** Objects and arrays inside one another; the metadata object itself is depth 1. */
  maxDepth: 8,
  /** Object keys, counted at every level. */
  maxKeys: 256,
} as const;

/**
 * Refuses metadata that is not a plain JSON object or crosses a bound, with invalid_argument
 * (400) naming `param`. Returns it unchanged.
 */
export function checkMetadata<T>(value: T, param = 'metadata'): T {
  if (value === undefined || value === null) return value;
  const refuse = (message: string) => new PixeliftError('invalid_argument', { param, message });
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw refuse(
      `Expected a JSON object for ${param} but received ${Array.isArray(value) ? 'an array' : typeof value}`,
    );
  }
  const { maxBytes, maxDepth, maxKeys } = METADATA_LIMITS;
  let keys = 0;
  // A lower bound of the JSON size, summed on the way, so that a huge string is refused before
  // anything serializes it; the exact size is measured once the shape is known to be small.
  let bytes = 0;
  const stack: { readonly v: unknown; readonly depth: number }[] = [{ v: value, depth: 1 }];
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (typeof v === 'string') bytes += v.length + 2;
    else if (v === null || typeof v === 'number' || typeof v === 'boolean') bytes += 1;
    if (v === null || typeof v !== 'object') {
      if (bytes > maxBytes) throw tooLarge();
      continue;
    }
    if (depth > maxDepth) {
      throw refuse(`${param} may nest objects and arrays at most ${maxDepth} deep`);
    }
    const children = Array.isArray(v) ? v : Object.values(v as Record<string, unknown>);
    if (!Array.isArray(v)) {
      const names = Object.keys(v as Record<string, unknown>);
      keys += names.length;
      if (keys > maxKeys) throw refuse(`${param} may hold at most ${maxKeys} keys in all`);
      for (const name of names) bytes += name.length + 3;
    }
    bytes += 2;
    if (bytes > maxBytes) throw tooLarge();
    for (const child of children) stack.push({ v: child, depth: depth + 1 });
  }
  const exact = Buffer.byteLength(JSON.stringify(value));
  if (exact > maxBytes) throw tooLarge(exact);
  return value;

  function tooLarge(size?: number) {
    return refuse(
      `${param} may be at most ${maxBytes} bytes as JSON${size === undefined ? '' : `; this one is ${size}`}`,
    );
  }
}
