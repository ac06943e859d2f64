/** Shared parts of the compat dialect tests: a loopback image host, a callback receiver, polling. */
import type { TestContext } from 'node:test';
import sharp from 'sharp';
import { serveLoopback } from './loopback.js';

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
export type Json = any;

export async function json(res: Response): Promise<Json> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`not JSON (HTTP ${res.status}): ${text.slice(0, 200)}`);
  }
}

/** Serves `files` (path → bytes) on loopback as the provider docs' public image URLs would be. */
export async function imageHost(t: TestContext, files: Record<string, Buffer>) {
  const server = await serveLoopback(t, (req, res) => {
    const body = files[req.url];
    if (!body) {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    res.setHeader('content-type', req.url.endsWith('.png') ? 'image/png' : 'application/octet-stream');
    res.end(body);
  });
  return { url: (path: string) => `${server.origin}${path}` };
}

/** A loopback callback receiver that answers with the statuses given in turn (then 200). */
export async function receiver(t: TestContext, statuses: number[] = []) {
  const times: number[] = [];
  const server = await serveLoopback(t, (_req, res) => {
    times.push(Date.now());
    res.statusCode = statuses.shift() ?? 200;
    res.end('ok');
  });
  return {
    get got() {
      return server.received.map((r, i) => ({
        ...r,
        raw: r.body,
        text: r.body.toString('utf8'),
        at: times[i] ?? 0,
      }));
    },
    url: `${server.origin}/webhook`,
  };
}

/** Polls `check` until it returns something truthy, or fails after `timeoutMs`. */
export async function until<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
  what = 'condition',
): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Width and height of an encoded image. */
export async function sizeOf(data: Buffer): Promise<{ width: number; height: number; format: string }> {
  const m = await sharp(data).metadata();
  return { width: m.width!, height: m.height!, format: m.format! };
}

/** A PNG whose header is intact but whose pixel data stops short: accepted at submission, fails to decode. */
export function truncated(png: Buffer): Buffer {
  return png.subarray(0, Math.max(60, Math.floor(png.length / 2)));
}
