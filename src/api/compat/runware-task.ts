/**
 * What a Runware task is to both of its transports: the REST dialect (runware.ts) runs it, the
 * WebSocket (runware-socket.ts) carries it. Each imports these types from here, so neither
 * imports the other's types (runware.ts mounts the socket route; the socket knows only `RunTask`).
 */
import type { Caller } from '../../jobs/service.js';
import type { Outcome } from './payloads/runware.js';

/** One element of a request's task array, before it is checked. */
export type Task = Record<string, unknown> & { taskType?: unknown; taskUUID?: unknown };

/**
 * Who runs a task and when to give up on it: the REST request's caller and its client's
 * disconnect, or the WebSocket's authenticated key and its close. Both transports hand every
 * task to `runTask`, so a task behaves the same whichever way it came.
 */
export interface TaskContext {
  readonly caller: Caller;
  /** Aborted when the client is gone: input fetches stop and a sync task stops waiting. */
  readonly signal: AbortSignal;
}

/** runware.ts's `runTask` as the socket calls it (its dependencies already bound). */
export type RunTask = (task: Task, ctx: TaskContext) => Promise<Outcome>;
