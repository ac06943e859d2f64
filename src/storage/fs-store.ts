/**
 * Blobs as files under one directory: the embedded mode's BlobStore. A key maps to a path below
 * the root and never outside it; a write is all or nothing (temp file, fsync, rename), so a crash
 * or a concurrent reader never sees half a result.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { invalidArgument, PixeliftError } from '../errors.js';
import { type BlobStore, type ByteRange, badBlobKey, checkBlobKey, checkRange } from './blob-store.js';

export class FsBlobStore implements BlobStore {
  readonly root: string;

  constructor(root: string) {
    if (typeof root !== 'string' || root === '') throw invalidArgument('root', 'directory path', root);
    this.root = path.resolve(root);
  }

  /** `contentType` is not stored: the job or upload record that names the key holds it. */
  async put(key: string, data: Buffer, _contentType?: string): Promise<void> {
    const file = this.pathOf(key);
    if (!Buffer.isBuffer(data)) throw invalidArgument('data', 'Buffer', data);
    const dir = path.dirname(file);
    await fs.promises.mkdir(dir, { recursive: true });
    // Same directory as the target: rename(2) is atomic only within one filesystem.
    const temp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const handle = await fs.promises.open(temp, 'wx');
      try {
        await handle.writeFile(data);
        // Without fsync a power loss after the rename can leave an empty file under the final name.
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.promises.rename(temp, file);
    } catch (err) {
      await fs.promises.rm(temp, { force: true });
      throw err;
    }
  }

  async get(key: string): Promise<Buffer> {
    const handle = await this.openFile(key);
    try {
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  async size(key: string): Promise<number | undefined> {
    try {
      const stat = await fs.promises.stat(this.pathOf(key));
      return stat.isFile() ? stat.size : undefined;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async stream(key: string, range?: ByteRange): Promise<Readable> {
    if (range !== undefined) checkRange(range);
    // Opened here, not lazily by the stream, so that a missing blob rejects this call with
    // blob_not_found instead of surfacing later as a stream error.
    const handle = await this.openFile(key);
    // With `fd` given the path is not opened again; it only names the stream in errors.
    return fs.createReadStream(this.pathOf(key), { fd: handle, start: range?.start, end: range?.end });
  }

  async delete(key: string): Promise<void> {
    try {
      await fs.promises.unlink(this.pathOf(key));
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
  }

  /** An open handle on the key's file; blob_not_found when there is none (or a directory is there). */
  private async openFile(key: string): Promise<fs.promises.FileHandle> {
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(this.pathOf(key), 'r');
    } catch (err) {
      if (isMissing(err)) throw new PixeliftError('blob_not_found', { key }, { cause: err });
      throw err;
    }
    if (!(await handle.stat()).isFile()) {
      await handle.close();
      throw new PixeliftError('blob_not_found', { key });
    }
    return handle;
  }

  private pathOf(key: string): string {
    checkBlobKey(key);
    const file = path.join(this.root, ...key.split('/'));
    // checkBlobKey already rules out every way out of the root; this is the belt to its braces.
    if (!file.startsWith(this.root + path.sep)) throw badBlobKey(key);
    return file;
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  // ENOTDIR: a key below something that is a file (`a.png/b`), which is absent all the same.
  return code === 'ENOENT' || code === 'ENOTDIR';
}
