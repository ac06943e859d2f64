/**
 * Scale-out for user models: the file of a model added on one node goes to the blob store
 * under its content hash (`models/<sha256>`) and into a registry every node reads (PostgreSQL).
 * Before a node resolves a model name it does not hold, it asks the registry and fetches the
 * file into its own models directory; its ModelStore then sees it (the directory changed),
 * converts it and caches it on first use. A model removed from the registry is removed from a
 * node's directory the next time that node is asked for it.
 *
 * Which local files came from the registry is recorded in `.<id>.registry` beside them, so a
 * node never overwrites or deletes a model someone dropped into its directory by hand.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PixeliftError } from '../errors.js';
import type { Logger } from '../log.js';
import type { BlobStore } from '../storage/blob-store.js';
import { BUILTIN_MODELS, type ModelEntry } from './catalog.js';

export interface RegisteredModel {
  readonly id: string;
  /** `<id>.<ext>`: the name it has in every node's models directory. */
  readonly fileName: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly blobKey: string;
  readonly createdAt: string;
}

/** Where the nodes of a deployment find each other's user models. */
export interface ModelRegistry {
  put(model: RegisteredModel): Promise<void>;
  get(id: string): Promise<RegisteredModel | undefined>;
  delete(id: string): Promise<void>;
}

export interface UserModelSyncOptions {
  readonly registry: ModelRegistry;
  readonly blobs: BlobStore;
  readonly modelsDir: string;
  readonly log: Logger;
}

const ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

interface Marker {
  readonly sha256: string;
  readonly fileName: string;
}

export class UserModelSync {
  constructor(private readonly o: UserModelSyncOptions) {}

  /** Make the local models directory agree with the registry about `name` (a model id or alias). */
  async ensure(name: string | undefined): Promise<void> {
    if (name === undefined) return;
    const id = name.trim().toLowerCase();
    // Built-ins and provider aliases (which hold spaces or colons) never come from the registry.
    if (!ID_PATTERN.test(id) || BUILTIN_MODELS.some((m) => m.id === id)) return;
    const rec = await this.o.registry.get(id);
    const marker = this.readMarker(id);
    if (!rec) {
      if (marker) {
        // Removed on another node: drop this node's copy too.
        fs.rmSync(path.join(this.o.modelsDir, marker.fileName), { force: true });
        fs.rmSync(this.markerPath(id), { force: true });
        this.o.log.info({ model: id }, 'user model removed from the registry: local copy deleted');
      }
      return;
    }
    const target = path.join(this.o.modelsDir, rec.fileName);
    if (marker?.sha256 === rec.sha256 && fs.existsSync(target)) return;
    if (!marker && fs.existsSync(target)) return; // this node's own file: never overwritten
    const bytes = await this.o.blobs.get(rec.blobKey);
    if (sha256(bytes) !== rec.sha256) {
      throw new PixeliftError('model_unreadable', {
        file: rec.fileName,
        message: `the stored copy does not match its hash ${rec.sha256.slice(0, 12)}…`,
      });
    }
    fs.mkdirSync(this.o.modelsDir, { recursive: true });
    const tmp = path.join(this.o.modelsDir, `.${rec.fileName}.${process.pid}.partial`);
    fs.writeFileSync(tmp, bytes);
    if (marker && marker.fileName !== rec.fileName) {
      fs.rmSync(path.join(this.o.modelsDir, marker.fileName), { force: true });
    }
    this.writeMarker(id, { sha256: rec.sha256, fileName: rec.fileName });
    fs.renameSync(tmp, target);
    this.o.log.info({ model: id, bytes: rec.bytes }, 'user model fetched from the blob store');
  }

  /** Share a model just added on this node (its file is in the models directory). */
  async publish(model: ModelEntry): Promise<void> {
    if (model.source.format !== 'pytorch') return;
    const file = Object.values(model.source.files)[0]!;
    const bytes = fs.readFileSync(file);
    const hash = sha256(bytes);
    const rec: RegisteredModel = {
      id: model.id,
      fileName: path.basename(file),
      sha256: hash,
      bytes: bytes.length,
      blobKey: `models/${hash}`,
      createdAt: new Date().toISOString(),
    };
    await this.o.blobs.put(rec.blobKey, bytes, 'application/octet-stream');
    await this.o.registry.put(rec);
    this.writeMarker(model.id, { sha256: hash, fileName: rec.fileName });
  }

  /** Forget a model everywhere (the caller removed this node's files); the blob may be shared by another id. */
  async unpublish(id: string): Promise<void> {
    await this.o.registry.delete(id);
    fs.rmSync(this.markerPath(id), { force: true });
  }

  private markerPath(id: string): string {
    return path.join(this.o.modelsDir, `.${id}.registry`);
  }

  private readMarker(id: string): Marker | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.markerPath(id), 'utf8')) as Marker;
    } catch {
      return undefined;
    }
  }

  private writeMarker(id: string, m: Marker): void {
    fs.mkdirSync(this.o.modelsDir, { recursive: true });
    fs.writeFileSync(this.markerPath(id), JSON.stringify(m));
  }
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
