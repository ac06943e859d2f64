/**
 * importPytorch off the calling thread: reading and converting a large checkpoint (a 67 MB
 * ESRGAN: ~2 s of CPU) would otherwise stall an API server's event loop. One short-lived
 * worker_thread per conversion; the ONNX bytes come back as a transferred buffer.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { type ErrorCode, isPixeliftError, PixeliftError } from '../../errors.js';
import { type ImportPytorchOptions, importPytorch, type PytorchImport } from './import.js';

interface Request {
  readonly file: string;
  readonly options: ImportPytorchOptions;
}

type Reply =
  | { readonly ok: true; readonly result: PytorchImport }
  | {
      readonly ok: false;
      readonly code?: ErrorCode;
      readonly details?: Record<string, unknown>;
      readonly message: string;
    };

export function importPytorchOffThread(
  file: string,
  options: ImportPytorchOptions = {},
): Promise<PytorchImport> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { file, options } satisfies Request });
    let settled = false;
    worker.once('message', (reply: Reply) => {
      settled = true;
      if (reply.ok) resolve(reply.result);
      else if (reply.code) reject(new PixeliftError(reply.code, reply.details));
      else reject(new PixeliftError('model_unreadable', { file, message: reply.message }));
    });
    worker.once('error', (err) => {
      settled = true;
      reject(new PixeliftError('model_unreadable', { file, message: err.message }, { cause: err }));
    });
    worker.once('exit', (code) => {
      if (!settled)
        reject(new PixeliftError('model_unreadable', { file, message: `the converter exited (${code})` }));
    });
  });
}

if (!isMainThread && parentPort && (workerData as Request | undefined)?.file) {
  const { file, options } = workerData as Request;
  let reply: Reply;
  try {
    const imported = importPytorch(file, options);
    // A fresh buffer of its own: the encoder's may be Node's shared (untransferable) pool.
    const result = { ...imported, onnx: new Uint8Array(imported.onnx) };
    reply = { ok: true, result };
    parentPort.postMessage(reply, [result.onnx.buffer]);
  } catch (err) {
    reply = isPixeliftError(err)
      ? { ok: false, code: err.code, details: err.details, message: err.message }
      : { ok: false, message: (err as Error).message };
    parentPort.postMessage(reply);
  }
}
