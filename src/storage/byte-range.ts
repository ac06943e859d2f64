/**
 * The `Range` header of a file download (RFC 9110 §14.1.2), reduced to what this server serves:
 * one range of bytes. A header naming several ranges is ignored and the whole file sent, which
 * RFC 9110 §14.2 allows, rather than building multipart/byteranges answers nobody here needs.
 */
import type { ByteRange } from './blob-store.js';

/**
 * The inclusive byte range `header` asks for in a body of `size` bytes; `'unsatisfiable'` when
 * it names no byte of it (answer 416, stating the size in Content-Range); undefined when there is
 * no usable header (answer 200 with the whole body): absent, malformed, another unit, or several
 * ranges.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): ByteRange | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  // The range unit is case-insensitive (RFC 9110 §14.1); whitespace around the parts is tolerated.
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (match === null) return undefined;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return undefined;

  if (first === '') {
    // bytes=-n: the last n bytes. A suffix of 0 bytes, or any suffix of an empty body, names no byte.
    const length = Number(last);
    if (length === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - length), end: size - 1 };
  }

  const start = Number(first);
  const end = last === '' ? size - 1 : Number(last);
  // A last position before the first makes the range invalid (§14.1.1), so the header is ignored.
  if (last !== '' && end < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(end, size - 1) };
}
