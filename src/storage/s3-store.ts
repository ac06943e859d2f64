/**
 * Blobs in any S3-compatible store (AWS S3, MinIO, Ceph RGW, R2, …): the scale-out BlobStore,
 * so that whichever machine ran a job, every API node serves its result. Keys are the same
 * relative paths as on the filesystem, under an optional prefix in one bucket.
 *
 * PIXELIFT_S3_URL names the bucket and how to reach it:
 * - `http(s)://ACCESS_KEY:SECRET@host:port/bucket[/prefix][?region=…]`: an S3-compatible
 *   endpoint, path-style addressing (what MinIO and most self-hosted stores expect);
 * - `s3://bucket[/prefix][?region=…]`: AWS itself, with the SDK's own credential chain
 *   (AWS_ACCESS_KEY_ID…, instance roles).
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { invalidArgument, PixeliftError } from '../errors.js';
import { type BlobStore, type ByteRange, checkBlobKey, checkRange } from './blob-store.js';

export interface S3Location {
  readonly bucket: string;
  /** Prepended to every key ('' or ending in '/'). */
  readonly prefix: string;
  readonly client: S3ClientConfig;
}

const DEFAULT_REGION = 'us-east-1';

/** PIXELIFT_S3_URL → bucket, prefix and client settings; invalid_config when it cannot be one. */
export function parseS3Url(text: string): S3Location {
  const bad = (why: string) =>
    new PixeliftError('invalid_config', {
      param: 'PIXELIFT_S3_URL',
      message: `PIXELIFT_S3_URL ${why}: expected http(s)://KEY:SECRET@host:port/bucket[/prefix] or s3://bucket[/prefix]`,
    });
  if (!URL.canParse(text)) throw bad('is not a URL');
  const url = new URL(text);
  const region = url.searchParams.get('region') ?? DEFAULT_REGION;
  let path: string[];
  let client: S3ClientConfig;
  if (url.protocol === 's3:') {
    path = [url.hostname, ...url.pathname.split('/')];
    client = { region };
  } else if (url.protocol === 'http:' || url.protocol === 'https:') {
    path = url.pathname.split('/');
    const credentials =
      url.username === ''
        ? undefined
        : {
            accessKeyId: decodeURIComponent(url.username),
            secretAccessKey: decodeURIComponent(url.password),
          };
    client = {
      region,
      endpoint: `${url.protocol}//${url.host}`,
      forcePathStyle: true,
      ...(credentials ? { credentials } : {}),
    };
  } else {
    throw bad(`has the scheme ${url.protocol}`);
  }
  const [bucket, ...rest] = path.filter((s) => s !== '');
  if (!bucket) throw bad('names no bucket');
  return { bucket, prefix: rest.length > 0 ? `${rest.join('/')}/` : '', client };
}

export class S3BlobStore implements BlobStore {
  readonly #s3: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(location: S3Location) {
    this.#s3 = new S3Client({ ...location.client, maxAttempts: 3 });
    this.#bucket = location.bucket;
    this.#prefix = location.prefix;
  }

  async put(key: string, data: Buffer, contentType?: string): Promise<void> {
    if (!Buffer.isBuffer(data)) throw invalidArgument('data', 'Buffer', data);
    // One PUT is atomic in S3: a reader sees the old object, the new one or none, never half.
    await this.#s3.send(
      new PutObjectCommand({
        Bucket: this.#bucket,
        Key: this.#keyOf(key),
        Body: data,
        ContentLength: data.length,
        ContentType: contentType ?? 'application/octet-stream',
      }),
    );
  }

  async get(key: string): Promise<Buffer> {
    const body = await this.#getObject(key);
    return Buffer.from(await body.transformToByteArray());
  }

  async size(key: string): Promise<number | undefined> {
    try {
      const head = await this.#s3.send(
        new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#keyOf(key) }),
      );
      return head.ContentLength;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async stream(key: string, range?: ByteRange): Promise<Readable> {
    if (range !== undefined) checkRange(range);
    return (await this.#getObject(key, range)) as unknown as Readable;
  }

  async delete(key: string): Promise<void> {
    // DeleteObject succeeds for an absent key, as the interface asks.
    await this.#s3.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#keyOf(key) }));
  }

  /**
   * Readiness, with the permissions the node really uses: PUT, GET and DELETE of one object under
   * its prefix. Not HeadBucket: that needs s3:ListBucket on the whole bucket, which
   * least-privilege policies do not grant (and a server checking signatures refused it while
   * object calls worked), so a node would never become ready (issue 16). Undefined when every
   * step worked; else which step failed on which key, and why.
   */
  async probe(): Promise<string | undefined> {
    const key = `readyz/${randomBytes(8).toString('hex')}`;
    const where = `s3://${this.#bucket}/${this.#keyOf(key)}`;
    const body = Buffer.from('pixelift readiness probe');
    let step = 'PutObject';
    try {
      await this.put(key, body, 'text/plain');
      step = 'GetObject';
      const back = await this.get(key);
      if (!back.equals(body)) return `GetObject ${where} returned other bytes than were put`;
      step = 'DeleteObject';
      await this.delete(key);
      return undefined;
    } catch (err) {
      return `${step} ${where} failed: ${describeS3Error(err)}`;
    }
  }

  close(): void {
    this.#s3.destroy();
  }

  async #getObject(key: string, range?: ByteRange) {
    try {
      const res = await this.#s3.send(
        new GetObjectCommand({
          Bucket: this.#bucket,
          Key: this.#keyOf(key),
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      );
      if (!res.Body) throw new PixeliftError('blob_not_found', { key });
      return res.Body;
    } catch (err) {
      if (isMissing(err)) throw new PixeliftError('blob_not_found', { key }, { cause: err });
      throw err;
    }
  }

  #keyOf(key: string): string {
    checkBlobKey(key);
    return this.#prefix + key;
  }
}

/** `AccessDenied (HTTP 403): Access Denied`, from what the SDK's error carries. */
function describeS3Error(err: unknown): string {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  return (
    [e.name, status ? `(HTTP ${status})` : undefined].filter(Boolean).join(' ') +
    (e.message ? `: ${e.message}` : '')
  );
}

/** NoSuchKey on GET, NotFound (a bare 404) on HEAD. */
function isMissing(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}
