/**
 * Which decodable formats the service takes from clients. SVG is refused unless
 * PIXELIFT_ALLOW_SVG=true: it is a document, not pixels — librsvg renders it, scripts and
 * external references included in what it parses — and image servers facing untrusted input
 * (imgproxy, thumbor) refuse it by default for that reason.
 */
import { PixeliftError } from '../errors.js';

export function checkInputFormat(format: string, allowSvg: boolean): void {
  if (format === 'svg' && !allowSvg) {
    throw new PixeliftError('image_format_refused', {
      format: 'SVG',
      reason: 'vector documents are not accepted from clients; set PIXELIFT_ALLOW_SVG=true to accept them',
    });
  }
}
