/**
 * The `image` field of a request names its input in one of four ways: an http(s) URL (fetched
 * with fetchUrl), an upload id from POST /v1/uploads, a base64 data URI, or bare base64. This
 * tells them apart and decodes the inline forms; it never touches the network or the store.
 */
import { PixeliftError } from '../errors.js';

export type ImageField =
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'upload'; readonly id: string }
  | { readonly kind: 'bytes'; readonly data: Buffer; readonly contentType?: string };

const ACCEPTED =
  'an http(s) URL, an upload id (upl_…), a data URI (data:image/<type>;base64,<data>) or base64-encoded image bytes';

const UPLOAD_ID = /^upl_[A-Za-z0-9_-]{1,128}$/;
/**
 * Padded standard base64 only, as every mainstream encoder writes it (btoa, Buffer, Python's
 * b64encode). Being strict keeps a mistyped URL or path (`/images/cat`, which is valid unpadded
 * base64) from being decoded into garbage bytes and reported as an unreadable image.
 */
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const IMAGE_MEDIA_TYPE = /^image\/[a-z0-9][a-z0-9!#$&^_.+-]*$/;

export function parseImageField(value: string): ImageField {
  if (typeof value !== 'string') throw refuse(`a value of type ${value === null ? 'null' : typeof value}`);
  const text = value.trim();
  if (/^https?:\/\//i.test(text)) return { kind: 'url', url: text };
  if (UPLOAD_ID.test(text)) return { kind: 'upload', id: text };
  if (/^data:/i.test(text)) return parseDataUri(text);
  const data = decodeBase64(text);
  if (data === undefined) throw refuse(describe(text));
  return { kind: 'bytes', data };
}

/** RFC 2397: `data:[<media type>][;<parameter>]*[;base64],<data>`. */
function parseDataUri(text: string): ImageField {
  const comma = text.indexOf(',');
  if (comma === -1) throw invalid('The image data URI has no "," before its data');
  const params = text.slice('data:'.length, comma).split(';');
  const mediaType = (params[0] ?? '').trim().toLowerCase();
  if (!IMAGE_MEDIA_TYPE.test(mediaType)) {
    // An empty media type means text/plain (RFC 2397 §2).
    throw invalid(`The image data URI must have an image/* media type, not "${mediaType || 'text/plain'}"`);
  }
  if (params.length < 2 || params[params.length - 1]?.trim().toLowerCase() !== 'base64') {
    throw invalid('The image data URI must be base64-encoded (data:image/<type>;base64,<data>)');
  }
  const data = decodeBase64(text.slice(comma + 1));
  if (data === undefined) throw invalid('The image data URI does not hold valid base64 data after "base64,"');
  return { kind: 'bytes', data, contentType: mediaType };
}

/** The bytes `text` encodes, or undefined unless it is non-empty, padded standard base64 (whitespace aside). */
function decodeBase64(text: string): Buffer | undefined {
  // Line breaks are common (MIME wraps at 76 columns) and carry nothing.
  const compact = text.replace(/\s+/g, '');
  if (compact.length % 4 !== 0 || !BASE64.test(compact)) return undefined;
  const data = Buffer.from(compact, 'base64');
  return data.length > 0 ? data : undefined;
}

function refuse(received: string): PixeliftError {
  return invalid(`Expected ${ACCEPTED} for image but received ${received}`);
}

function invalid(message: string): PixeliftError {
  return new PixeliftError('invalid_argument', { param: 'image', message });
}

function describe(text: string): string {
  if (text === '') return 'an empty string';
  const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
  return `${JSON.stringify(shown)} (${text.length} characters)`;
}
