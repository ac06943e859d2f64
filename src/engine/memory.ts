/**
 * The per-worker memory budget for inference (issue 12): what one image's feature maps and
 * onnxruntime windows may use, on top of the decoded input and the output image. Set with
 * PIXELIFT_MEMORY_BUDGET; by default half the machine's memory shared among the workers,
 * between 512 MiB and 3 GiB.
 */
import os from 'node:os';

const MiB = 2 ** 20;
export const MIN_MEMORY_BUDGET = 256 * MiB;

export function defaultMemoryBudget(workers = 1, totalMemory = os.totalmem()): number {
  const share = (totalMemory * 0.5) / Math.max(1, workers);
  return Math.round(Math.min(3072 * MiB, Math.max(512 * MiB, share)));
}

/** "1536M", "2G", "1.5GiB", "800000000" → bytes; undefined if not a size. */
export function parseByteSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = { '': 1, k: 1024, m: MiB, g: 1024 * MiB }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.round(Number(m[1]) * unit);
}
