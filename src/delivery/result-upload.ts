/** Results a job's output.uploadUrl asks for are PUT there, under the same SSRF rules as image URLs. */
import { isPixeliftError, PixeliftError } from '../errors.js';
import { safeRequest } from './safe-request.js';

/** PUTs a result to a job's output.uploadUrl under the SSRF rules. */
export function resultUploader(allowPrivate: boolean) {
  return async (url: string, data: Buffer, contentType: string): Promise<void> => {
    const res = await safeRequest(url, {
      method: 'PUT',
      headers: { 'content-type': contentType },
      body: data,
      allowPrivate,
    }).catch((err: unknown) => {
      // A refused address stays url_forbidden/url_invalid (the request is wrong); transport failures are upload_failed.
      if (isPixeliftError(err, 'url_forbidden') || isPixeliftError(err, 'url_invalid')) throw err;
      throw new PixeliftError('upload_failed', { url, reason: (err as Error).message }, { cause: err });
    });
    if (res.status < 200 || res.status > 299) {
      throw new PixeliftError('upload_failed', { url, reason: `the server answered HTTP ${res.status}` });
    }
  };
}
