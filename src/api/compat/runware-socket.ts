/**
 * Runware's WebSocket API (what `@runware/sdk-js` and the Python `runware` package speak) at
 * `GET /compat/runware/v1`. Every client frame is a JSON array of tasks:
 *
 * - `authentication` `{apiKey, connectionSessionUUID?}` first, answered
 *   `{data: [{taskType: "authentication", connectionSessionUUID}]}`; a wrong key gets
 *   `{errors: [{code: "invalidApiKey", taskType: "authentication"}]}` and the socket is closed
 *   (that code is the one that stops the SDK's reconnect loop). The handshake itself is open
 *   (app.ts), so an unauthenticated socket may send nothing else and is closed after
 *   PIXELIFT_WS_AUTH_TIMEOUT.
 * - `ping` `{ping: true}` → `{data: [{taskType: "ping", pong: true}]}` (the SDK's heartbeat).
 * - every other task goes to the REST dialect's `runTask`, and its answer comes back as a frame of
 *   its own as soon as it is ready (the SDK reads only the first error of a frame, and matches
 *   frames to calls by `taskUUID`), so several tasks run at once on one socket.
 *
 * Limits: frame size (`ws` closes with 1009), tasks per frame, tasks in flight per connection
 * and per key, tasks per minute per key (PIXELIFT_RATE_LIMIT, counted apart from REST requests),
 * an auth and an idle timeout, and backpressure: past PIXELIFT_WS_MAX_BUFFERED_BYTES queued to a
 * slow reader the socket stops being read, so it starts nothing new until the reader catches up. On shutdown sockets close with 1001, which
 * the SDK answers by reconnecting (to another node behind the same address, or to this one once
 * it is back). A client that reconnects (to the same node) within 60 s with the
 * `connectionSessionUUID` it had gets the answers of the tasks it sent before the drop.
 */
import { randomUUID } from 'node:crypto';
import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import client from 'prom-client';
import type { RawData, WebSocket } from 'ws';
import { PixeliftError } from '../../errors.js';
import type { Caller } from '../../jobs/service.js';
import type { Uses } from '../deps.js';
import type { RunwareError } from './payloads/runware.js';
import type { RunTask, Task } from './runware-task.js';

/** What these routes use of the API's dependencies. */
export type SocketDeps = Uses<{
  access: 'keys';
  telemetry: 'metrics';
  settings: 'bodyLimit' | 'openWithoutKeys' | 'rateLimitPerMinute' | 'socket';
}>;

type Present = (err: unknown) => RunwareError;

/** Close codes (RFC 6455 §7.4.1). */
const CLOSE = {
  /** Server going down: the SDK reconnects. */
  goingAway: 1001,
  /** Auth refused or missing, or only `authentication` was allowed. */
  policy: 1008,
  /** Idle: nothing sent, nothing running. */
  normal: 1000,
} as const;

/**
 * How long a session whose socket dropped keeps its running tasks and their answers for a client
 * that reconnects with its `connectionSessionUUID`, ms: the SDK's own task timeout (60 s), after
 * which it sends the task again anyway.
 */
const RESUME_MS = 60_000;

/**
 * A connection's tasks and their answers. It outlives its socket by RESUME_MS while it has tasks
 * unanswered, so that a client reconnecting with its `connectionSessionUUID` (to this node) gets
 * the answers of tasks it sent before the drop.
 */
interface Session {
  readonly id: string;
  readonly keyId: string | null;
  socket: WebSocket | undefined;
  /** Tasks started and not yet answered: running, or finished and parked. */
  open: number;
  /** Answers that finished while no socket was attached, for the next one. */
  readonly parked: string[];
  /** Aborted when the session ends: its tasks' input fetches and waits stop. */
  readonly ended: AbortController;
  expiry: NodeJS.Timeout | undefined;
}

/** What the sockets of one app share: sessions, unanswered tasks per key, tasks per key per minute. */
interface Shared {
  readonly sessions: Map<string, Session>;
  /** Tasks started and not yet answered, per key (`open` for open mode). */
  readonly open: Map<string, number>;
  readonly rate: Map<string, { windowStart: number; count: number }>;
  readonly sockets: Set<WebSocket>;
}

const keyName = (keyId: string | null) => keyId ?? 'open';

function countOpen(shared: Shared, keyId: string | null, delta: number): void {
  const key = keyName(keyId);
  const n = (shared.open.get(key) ?? 0) + delta;
  if (n > 0) shared.open.set(key, n);
  else shared.open.delete(key);
}

/**
 * Mount the socket on `app` (the dialect's scope, so the upgrade is routed and errors are
 * Runware-shaped there); `runTask` and `present` are the REST dialect's own.
 */
export function socketRoute(
  app: FastifyInstance,
  deps: SocketDeps,
  runTask: RunTask,
  present: Present,
): void {
  const limits = deps.settings.socket;
  const shared: Shared = { sessions: new Map(), open: new Map(), rate: new Map(), sockets: new Set() };
  const registers = [deps.telemetry.metrics.registry];
  const opened = new client.Counter({
    name: 'pixelift_runware_ws_connections_total',
    help: 'WebSocket connections opened at /compat/runware/v1',
    registers,
  });
  new client.Gauge({
    name: 'pixelift_runware_ws_connections',
    help: 'WebSocket connections open at /compat/runware/v1',
    registers,
    collect() {
      this.set(shared.sockets.size);
    },
  });
  new client.Gauge({
    name: 'pixelift_runware_ws_buffered_bytes',
    help: 'Bytes queued to WebSocket clients at /compat/runware/v1 and not yet sent',
    registers,
    collect() {
      let bytes = 0;
      for (const socket of shared.sockets) bytes += socket.bufferedAmount;
      this.set(bytes);
    },
  });

  app.register(websocket, {
    options: {
      maxPayload: limits.maxFrameBytes ?? deps.settings.bodyLimit,
      // The SDK turns compression off; inflating client frames would also be a memory lever.
      perMessageDeflate: false,
    },
    preClose(done) {
      for (const socket of shared.sockets) socket.close(CLOSE.goingAway, 'server shutting down');
      // A client that does not read cannot take the close frame: it is cut off after a second
      // rather than after ws's 30 s close timeout.
      setTimeout(() => {
        for (const socket of shared.sockets) socket.terminate();
      }, 1000).unref();
      done();
    },
  });
  app.register(async (scope) => {
    scope.get('/v1', { websocket: true }, (socket, request) => {
      opened.inc();
      serve(socket, request, { deps, shared, runTask, present });
    });
  });
}

interface Ctx {
  readonly deps: SocketDeps;
  readonly shared: Shared;
  readonly runTask: RunTask;
  readonly present: Present;
}

/** Write a frame; past PIXELIFT_WS_MAX_BUFFERED_BYTES queued, stop reading the socket until it drains. */
function write(socket: WebSocket, text: string, maxBuffered: number): void {
  if (socket.readyState !== socket.OPEN) return;
  socket.send(text, () => {
    if (socket.isPaused && socket.bufferedAmount <= maxBuffered / 2) socket.resume();
  });
  // Backpressure: a client that does not read gets no new work started for it.
  if (socket.bufferedAmount > maxBuffered && !socket.isPaused) socket.pause();
}

function serve(socket: WebSocket, request: FastifyRequest, ctx: Ctx): void {
  const { deps, shared } = ctx;
  const limits = deps.settings.socket;
  let session: Session | undefined;
  let authenticating = false;
  let lastFrameAt = Date.now();
  shared.sockets.add(socket);

  const authTimer = setTimeout(() => {
    if (!session) socket.close(CLOSE.policy, 'authentication timeout');
  }, limits.authTimeoutSeconds * 1000);
  // Checked at a fraction of the timeout: one timer per socket, not one reset per frame.
  const idleMs = limits.idleTimeoutSeconds * 1000;
  const idleTimer = setInterval(
    () => {
      if (Date.now() - lastFrameAt < idleMs) return;
      // A reader that stopped reading (paused, with bytes queued) cannot take a close frame either.
      if (socket.isPaused) socket.terminate();
      else if ((session?.open ?? 0) === 0) socket.close(CLOSE.normal, 'idle');
    },
    Math.max(50, Math.min(idleMs / 4, 10_000)),
  );

  socket.on('close', () => {
    clearTimeout(authTimer);
    clearInterval(idleTimer);
    shared.sockets.delete(socket);
    if (session?.socket === socket) detach(session);
  });

  /** The socket is gone: the session waits RESUME_MS for a reconnect if it has tasks unanswered. */
  const detach = (s: Session) => {
    s.socket = undefined;
    if (s.open === 0) {
      end(s);
      return;
    }
    s.expiry = setTimeout(() => end(s), RESUME_MS);
    s.expiry.unref();
  };
  const end = (s: Session) => {
    clearTimeout(s.expiry);
    if (shared.sessions.get(s.id) === s) shared.sessions.delete(s.id);
    // Parked answers are dropped; running tasks are released as they end (see run).
    countOpen(shared, s.keyId, -s.parked.length);
    s.open -= s.parked.length;
    s.parked.length = 0;
    s.ended.abort();
  };

  const send = (frame: unknown) => write(socket, JSON.stringify(frame), limits.maxBufferedBytes);
  const sendError = (err: unknown, who: { taskType?: string; taskUUID?: string }, message?: string) => {
    const { status: _s, ...e } = ctx.present(err);
    send({ errors: [{ ...e, ...(message ? { message } : {}), ...who }] });
  };
  /** A task's answer: to the session's socket now, or parked until one attaches. */
  const answer = (s: Session, text: string) => {
    if (s.ended.signal.aborted) {
      s.open--;
      countOpen(shared, s.keyId, -1);
      return;
    }
    if (s.socket && s.socket.readyState === s.socket.OPEN) {
      write(s.socket, text, limits.maxBufferedBytes);
      s.open--;
      countOpen(shared, s.keyId, -1);
      return;
    }
    s.parked.push(text);
  };

  socket.on('message', (raw: RawData) => {
    lastFrameAt = Date.now();
    let frame: unknown;
    try {
      frame = JSON.parse(textOf(raw));
    } catch (err) {
      sendError(new PixeliftError('invalid_json', { reason: (err as Error).message }), {});
      return;
    }
    const tasks: unknown[] = Array.isArray(frame) ? frame : frame && typeof frame === 'object' ? [frame] : [];
    if (tasks.length === 0) {
      sendError(
        new PixeliftError('invalid_argument', {
          message: 'Each frame must be a non-empty JSON array of task objects.',
          runware: 'invalidTaskArray',
        }),
        {},
      );
      return;
    }
    // No more tasks in a frame than may run at once: each task is answered with a frame of its
    // own, so a frame of a million tiny tasks would otherwise queue a million answers.
    if (tasks.length > limits.maxTasksPerConnection) {
      sendError(
        new PixeliftError('invalid_argument', {
          message: `A frame may hold at most ${limits.maxTasksPerConnection} tasks (PIXELIFT_WS_MAX_TASKS); it held ${tasks.length}.`,
          runware: 'invalidTaskArray',
        }),
        {},
      );
      return;
    }
    for (const t of tasks) {
      const task = (t && typeof t === 'object' && !Array.isArray(t) ? t : {}) as Task;
      const who = {
        ...(typeof task.taskType === 'string' ? { taskType: task.taskType } : {}),
        ...(typeof task.taskUUID === 'string' ? { taskUUID: task.taskUUID } : {}),
      };
      if (task.taskType === 'authentication') {
        void authenticate(task);
        continue;
      }
      if (!session) {
        // Nothing but `authentication` before the key is known; an SDK never gets here.
        sendError(
          new PixeliftError('unauthorized'),
          who,
          'Authenticate first: [{"taskType": "authentication", "apiKey": "<key>"}]',
        );
        socket.close(CLOSE.policy, 'authenticate first');
        return;
      }
      if (task.taskType === 'ping') {
        send({ data: [{ taskType: 'ping', pong: true }] });
        continue;
      }
      const refused = admit(session);
      if (refused) {
        sendError(refused, who);
        continue;
      }
      void run(t as Task, session);
    }
  });

  /** A reason to refuse one more task now (rate or tasks in flight), or undefined. */
  const admit = (s: Session): PixeliftError | undefined => {
    const key = keyName(s.keyId);
    const now = Date.now();
    const window = shared.rate.get(key);
    if (!window || now - window.windowStart >= 60_000) shared.rate.set(key, { windowStart: now, count: 1 });
    else if (++window.count > deps.settings.rateLimitPerMinute) {
      return new PixeliftError('rate_limited', {
        limit: deps.settings.rateLimitPerMinute,
        window: 'minute',
        retryAfter: Math.max(1, Math.ceil((window.windowStart + 60_000 - now) / 1000)),
      });
    }
    if (s.open >= limits.maxTasksPerConnection) {
      return new PixeliftError('too_many_tasks', {
        limit: limits.maxTasksPerConnection,
        scope: 'connection',
      });
    }
    if ((shared.open.get(key) ?? 0) >= limits.maxTasksPerKey) {
      return new PixeliftError('too_many_tasks', {
        limit: limits.maxTasksPerKey,
        scope: 'key on this server',
      });
    }
    return undefined;
  };

  const run = async (task: Task, s: Session) => {
    s.open++;
    countOpen(shared, s.keyId, 1);
    let frame: unknown;
    try {
      // The key is checked per task, as REST checks it per request: a revoked key stops here.
      if (!(await live(s.keyId, deps))) {
        const { status: _s, ...e } = ctx.present(new PixeliftError('unauthorized'));
        const message = 'The API key of this connection is no longer valid (revoked?)';
        answer(
          s,
          JSON.stringify({ errors: [{ ...e, message, taskType: task.taskType, taskUUID: task.taskUUID }] }),
        );
        s.socket?.close(CLOSE.policy, 'invalid API key');
        return;
      }
      const outcome = await ctx.runTask(task, { caller: { keyId: s.keyId }, signal: s.ended.signal });
      if ('data' in outcome) frame = { data: [outcome.data] };
      else {
        const { status: _s, ...e } = outcome.error;
        frame = { errors: [e] };
      }
    } catch (err) {
      // runTask answers every failure itself; this is a bug, still answered in Runware's shape.
      request.log.error({ err }, 'runware socket task failed');
      const { status: _s, ...e } = ctx.present(err);
      frame = { errors: [{ ...e, taskUUID: String(task.taskUUID), taskType: String(task.taskType) }] };
    }
    answer(s, JSON.stringify(frame));
  };

  const authenticate = async (task: Task) => {
    if (session) {
      // Already in: the key was checked; a repeat costs no lookup.
      send({ data: [{ taskType: 'authentication', connectionSessionUUID: session.id }] });
      return;
    }
    if (authenticating) return;
    authenticating = true;
    try {
      const found = await keyOf(task.apiKey, deps);
      if (!found) {
        sendError(
          new PixeliftError('unauthorized'),
          { taskType: 'authentication' },
          'Invalid API key: authenticate with a Pixelift key, [{"taskType": "authentication", "apiKey": "<key>"}]',
        );
        socket.close(CLOSE.policy, 'invalid API key');
        return;
      }
      if (socket.readyState !== socket.OPEN) return;
      clearTimeout(authTimer);
      session = resume(task.connectionSessionUUID, found.keyId) ?? open(found.keyId);
      send({ data: [{ taskType: 'authentication', connectionSessionUUID: session.id }] });
      // Answers that came while the client was away, now that it is back.
      for (const text of session.parked.splice(0)) answer(session, text);
    } catch (err) {
      request.log.error({ err }, 'runware socket authentication failed');
      sendError(err, { taskType: 'authentication' });
    } finally {
      authenticating = false;
    }
  };

  /** The dropped session `id` names, if it is this key's and waits for its client. */
  const resume = (id: unknown, keyId: string | null): Session | undefined => {
    const s = typeof id === 'string' ? shared.sessions.get(id.toLowerCase()) : undefined;
    if (!s || s.keyId !== keyId || s.socket) return undefined;
    clearTimeout(s.expiry);
    s.expiry = undefined;
    s.socket = socket;
    return s;
  };
  const open = (keyId: string | null): Session => {
    const s: Session = {
      id: randomUUID(),
      keyId,
      socket,
      open: 0,
      parked: [],
      ended: new AbortController(),
      expiry: undefined,
    };
    shared.sessions.set(s.id, s);
    return s;
  };
}

/** The caller an `apiKey` names; open mode (no live key, loopback) takes any. */
async function keyOf(apiKey: unknown, deps: SocketDeps): Promise<Caller | undefined> {
  if (typeof apiKey === 'string' && apiKey.length > 0 && apiKey.length <= 1024) {
    const key = await deps.access.keys.authenticate(apiKey);
    if (key) return { keyId: key.id };
  }
  if (deps.settings.openWithoutKeys && (await deps.access.keys.count()) === 0) return { keyId: null };
  return undefined;
}

/** Whether the key a session authenticated with still opens the API. */
async function live(keyId: string | null, deps: SocketDeps): Promise<boolean> {
  if (keyId === null) return deps.settings.openWithoutKeys && (await deps.access.keys.count()) === 0;
  const key = await deps.access.keys.get(keyId);
  return key !== undefined && key.revokedAt === null;
}

/** The SDK sends text frames; a binary frame holding JSON text is read the same. */
function textOf(raw: RawData): string {
  if (Buffer.isBuffer(raw)) return raw.toString('utf8');
  if (Array.isArray(raw)) return Buffer.concat(raw).toString('utf8');
  return Buffer.from(raw).toString('utf8');
}
