/**
 * The built CLI as its own process (`node dist/src/cli/index.js <verb>`), for tests that run
 * Pixelift the way a user or operator does: a free loopback port, a data dir sharing the model
 * cache, output captured, and every child still running SIGKILLed when the test file ends.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { after } from 'node:test';
import { tempDir } from './models.js';
import { repoPath } from './paths.js';
import { SHARED_MODEL_CACHE } from './service.js';

export const CLI = repoPath('dist/src/cli/index.js');

const running = new Set<ChildProcess>();
after(() => {
  for (const p of running) p.kill('SIGKILL');
});

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A data dir whose model cache is the one every service test shares (conversion costs seconds). */
export function sharedCacheDataDir(prefix: string): string {
  const dir = tempDir(prefix);
  fs.mkdirSync(path.join(dir, 'cache'), { recursive: true });
  fs.mkdirSync(SHARED_MODEL_CACHE, { recursive: true });
  fs.symlinkSync(SHARED_MODEL_CACHE, path.join(dir, 'cache', 'models'));
  return dir;
}

export interface CliProcess {
  readonly child: ChildProcess;
  /** stdout and stderr so far. */
  readonly logs: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `pixelift <verb>` with only PATH and `env` in its environment. */
export function spawnCli(verb: string, env: Record<string, string>): CliProcess {
  const child = spawn(process.execPath, [CLI, verb], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  return { child, logs: () => out, exited };
}
