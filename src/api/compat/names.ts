/**
 * The compatibility dialects by name: a job's `request.dialect` and the mount `/compat/<name>`.
 * Plain, so that `pixelift worker` (no HTTP) knows which formatters its jobs may need.
 */
export const DIALECT_NAMES = [
  'runflow',
  'apiframe',
  'oxen',
  'scenario',
  'runware',
  'replicate',
  'fal',
] as const;
export type DialectName = (typeof DIALECT_NAMES)[number];
