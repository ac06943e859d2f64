import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createServiceLogger } from '../../src/log.js';
import { freePort, sharedCacheDataDir, spawnCli } from '../helpers/cli-process.js';

function collector(): { write(text: string): void; lines: () => string[] } {
  let text = '';
  return {
    write: (t: string) => {
      text += t;
    },
    lines: () => text.split('\n').filter(Boolean),
  };
}

test('the service logger writes pino JSON lines unless the format is pretty', () => {
  const out = collector();
  const log = createServiceLogger({ level: 'info', format: undefined, name: 'pixelift' }, out);
  log.info({ port: 8080 }, 'listening');
  log.debug('not at info');
  const [line, ...rest] = out.lines();
  assert.equal(rest.length, 0, 'debug is below the level');
  const parsed = JSON.parse(line ?? '');
  assert.equal(parsed.msg, 'listening');
  assert.equal(parsed.port, 8080);
  assert.equal(parsed.name, 'pixelift');
  assert.equal(parsed.level, 30);
});

test('PIXELIFT_LOG_FORMAT=pretty renders each line as the CLI does: level from warn up, fields, an error by its message', () => {
  const out = collector();
  const log = createServiceLogger({ level: 'info', format: 'pretty', name: 'pixelift-worker' }, out);
  log.info({ url: 'http://127.0.0.1:8080', workers: 2 }, 'listening');
  log.warn('slow');
  log.child({ jobId: 'j1' }).error({ err: new Error('disk full') }, 'job failed');
  assert.deepEqual(out.lines(), [
    'pixelift-worker: listening (url=http://127.0.0.1:8080 workers=2)',
    'pixelift-worker warn: slow',
    'pixelift-worker error: job failed (jobId=j1 err=disk full)',
  ]);
});

test('pixelift serve honours PIXELIFT_LOG_FORMAT=pretty: its start line is readable, not JSON', async () => {
  const port = await freePort();
  const { child, logs, exited } = spawnCli('serve', {
    PIXELIFT_DATA_DIR: sharedCacheDataDir('pixelift-log-'),
    PIXELIFT_PORT: String(port),
    PIXELIFT_WORKERS: '1',
    PIXELIFT_DEVICE: 'cpu',
    PIXELIFT_LOG_FORMAT: 'pretty',
  });
  const url = `http://127.0.0.1:${port}`;
  const end = Date.now() + 30_000;
  while (!logs().includes('Pixelift listening')) {
    if (child.exitCode !== null || Date.now() > end) throw new Error(`server did not start:\n${logs()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGTERM');
  const { code } = await exited;
  const start = logs()
    .split('\n')
    .find((l) => l.includes('Pixelift listening'));
  assert.match(
    start ?? '',
    new RegExp(`^pixelift: Pixelift listening on ${url} \\(url=${url} backend=embedded `),
  );
  assert.equal(code, 0, logs());
});
