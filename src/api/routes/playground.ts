/**
 * The playground page (web/, built into dist/web by `npm run build`): `/` is its HTML, and
 * `/playground/<file>` its scripts and styles. Both are public — the page asks for an API key
 * itself when the server has keys, and sends it on its /v1 calls.
 *
 * The files are a few tens of kilobytes, so they are read and gzipped once when the app is
 * built and served from memory with an ETag; `no-cache` makes browsers revalidate, so a
 * rebuilt page is picked up on the next load without hashed file names.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PixeliftError } from '../../errors.js';

/** dist/src/api/routes/ → dist/web/ */
export const WEB_DIR = fileURLToPath(new URL('../../../web/', import.meta.url));

/** Where the page's assets are served from; the auth hook lets these paths through. */
export const PLAYGROUND_PREFIX = '/playground/';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

// Scripts, styles and API calls from this origin only; images from anywhere, since the page
// shows the image at a URL the user typed and results behind PIXELIFT_PUBLIC_URL.
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  'img-src * data: blob:',
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  readonly type: string;
  readonly body: Buffer;
  readonly gzip: Buffer;
  readonly etag: string;
}

/** The built files of the page, by name; empty when the page was not built. */
export function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!fs.existsSync(dir)) return assets;
  for (const name of fs.readdirSync(dir)) {
    const type = TYPES[path.extname(name)];
    if (!type) continue;
    const body = fs.readFileSync(path.join(dir, name));
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"`;
    assets.set(name, { type, body, gzip: gzipSync(body, { level: 9 }), etag });
  }
  return assets;
}

export function playgroundRoutes(app: FastifyInstance, dir: string, log?: FastifyBaseLogger): void {
  const assets = loadAssets(dir);
  if (!assets.has('index.html')) {
    log?.warn({ dir }, 'the playground page is not built (npm run build); / answers route_not_found');
    return;
  }
  const send = (request: FastifyRequest, reply: FastifyReply, asset: Asset) => {
    reply
      .header('content-type', asset.type)
      .header('cache-control', 'no-cache')
      .header('etag', asset.etag)
      .header('vary', 'accept-encoding')
      .header('x-content-type-options', 'nosniff');
    if (asset.type.startsWith('text/html')) {
      reply.header('content-security-policy', CSP).header('referrer-policy', 'no-referrer');
    }
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    if (/\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))) {
      return reply.header('content-encoding', 'gzip').send(asset.gzip);
    }
    return reply.send(asset.body);
  };

  app.get('/', { schema: { hide: true } }, async (request, reply) =>
    send(request, reply, assets.get('index.html')!),
  );
  app.get<{ Params: { file: string } }>(
    `${PLAYGROUND_PREFIX}:file`,
    { schema: { hide: true } },
    async (request, reply) => {
      const asset = assets.get(request.params.file);
      if (!asset) {
        throw new PixeliftError('route_not_found', {
          method: request.method,
          url: request.url.split('?')[0],
        });
      }
      return send(request, reply, asset);
    },
  );
}
