/**
 * Reading a multipart/form-data body (POST /v1/upscale, /v1/estimate, /v1/uploads) into its
 * text fields and its one file, with every way the body can be wrong answered as the client's
 * error: a truncated part or a body that does not match its boundary (busboy's parse errors,
 * 500 before issue 16) is 400 multipart_invalid; too many files or fields, or an over-long
 * field, is 400 invalid_argument naming the limit; a file over the size limit is 413.
 */
import type { FastifyRequest } from 'fastify';
import { isPixeliftError, PixeliftError } from '../errors.js';

/** What @fastify/multipart is registered with (api/app.ts) and what the messages quote. */
export const MULTIPART_LIMITS = {
  files: 1,
  fields: 50,
  fieldBytes: 1024 * 1024, // 1 MiB per text field
} as const;

export interface MultipartBody {
  readonly fields: Record<string, string>;
  readonly file?: { readonly field: string; readonly data: Buffer };
}

export async function readMultipart(request: FastifyRequest, maxFileBytes: number): Promise<MultipartBody> {
  const fields: Record<string, string> = {};
  let file: MultipartBody['file'];
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        file = { field: part.fieldname, data: await part.toBuffer() };
        continue;
      }
      if (part.valueTruncated) {
        throw new PixeliftError('invalid_argument', {
          param: part.fieldname,
          message: `Multipart field "${part.fieldname}" is longer than the limit of ${MULTIPART_LIMITS.fieldBytes} bytes`,
        });
      }
      fields[part.fieldname] = String(part.value);
    }
  } catch (err) {
    throw multipartError(err, maxFileBytes);
  }
  return file ? { fields, file } : { fields };
}

/** The parser's and the plugin's failures as registry errors; ours pass through. */
function multipartError(err: unknown, maxFileBytes: number): PixeliftError {
  if (isPixeliftError(err)) return err;
  const code = (err as { code?: unknown }).code;
  const tooMany = (what: 'file' | 'field', limit: number) =>
    new PixeliftError('invalid_argument', {
      param: `${what}s`,
      message: `A multipart request may carry at most ${limit} ${limit === 1 ? what : `${what}s`}${what === 'file' ? ' (the image)' : ''}`,
    });
  switch (code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return new PixeliftError('body_too_large', { limit: maxFileBytes });
    case 'FST_FILES_LIMIT':
      return tooMany('file', MULTIPART_LIMITS.files);
    case 'FST_FIELDS_LIMIT':
    case 'FST_PARTS_LIMIT':
      return tooMany('field', MULTIPART_LIMITS.fields);
  }
  // Anything else thrown while iterating the parts is the body failing to parse: a part cut
  // short, no part matching the boundary, a forbidden field name.
  const reason = err instanceof Error ? err.message : String(err);
  return new PixeliftError('multipart_invalid', { reason }, { cause: err });
}
