import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Tests run from dist/test/…; the repository root is two levels above dist/test. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export const repoPath = (...parts: string[]): string => path.join(REPO_ROOT, ...parts);
