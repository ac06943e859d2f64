#!/usr/bin/env node
/**
 * Builds the playground page into dist/web: its TypeScript with web/tsconfig.json (browser
 * ES modules, no bundler: the page is a handful of small files), then its HTML, CSS and icon
 * copied beside the scripts. dist/web is emptied first, so a renamed module leaves nothing
 * stale behind to be served. Runs as part of `npm run build` (and so of `npm install`).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const out = path.join(root, 'dist', 'web');
const tsc = createRequire(path.join(root, 'package.json')).resolve('typescript/bin/tsc');

fs.rmSync(out, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', path.join(root, 'web', 'tsconfig.json')], { stdio: 'inherit' });
for (const name of fs.readdirSync(path.join(root, 'web'))) {
  if (/\.(html|css|svg)$/.test(name)) fs.copyFileSync(path.join(root, 'web', name), path.join(out, name));
}
