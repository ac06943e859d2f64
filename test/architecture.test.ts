/**
 * Keeps docs/architecture.md true: the layer order its ```layers block states is the order the
 * src/ import graph follows, every room under src/ has a place in it, every src/ path the page
 * names exists, there are no import cycles (type-only imports count), and Fastify stays in the
 * HTTP rooms (a worker node loads none of it). The graph is read from the sources with
 * TypeScript's parser, not a regex.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { repoPath } from './helpers/paths.js';

interface Edge {
  readonly from: string;
  /** A src/-relative file (`jobs/runner.ts`) or a package name (`fastify`). */
  readonly to: string;
  /** Erased at build (`import type`, every specifier `type`, `import('…').T` in a type). */
  readonly typeOnly: boolean;
}

const SRC = repoPath('src');

function sourceFiles(dir = SRC): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(full);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path.relative(SRC, full)] : [];
  });
}

function resolve(from: string, specifier: string): string {
  if (!specifier.startsWith('.')) {
    const parts = specifier.split('/');
    return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
  }
  return path.normalize(path.join(path.dirname(from), specifier)).replace(/\.js$/, '.ts');
}

function importsOf(file: string): Edge[] {
  const text = fs.readFileSync(path.join(SRC, file), 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const edges: Edge[] = [];
  const add = (specifier: ts.Expression | undefined, typeOnly: boolean) => {
    if (specifier && ts.isStringLiteral(specifier)) {
      edges.push({ from: file, to: resolve(file, specifier.text), typeOnly });
    }
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const named = clause?.namedBindings;
      const allTypes =
        !!clause &&
        !clause.name &&
        !!named &&
        ts.isNamedImports(named) &&
        named.elements.length > 0 &&
        named.elements.every((e) => e.isTypeOnly);
      add(node.moduleSpecifier, !!clause && (clause.isTypeOnly || allTypes));
    } else if (ts.isExportDeclaration(node)) {
      add(node.moduleSpecifier, node.isTypeOnly);
    } else if (ts.isImportTypeNode(node)) {
      const arg = node.argument;
      if (ts.isLiteralTypeNode(arg)) add(arg.literal as ts.Expression, true);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node.arguments[0], false);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return edges;
}

/** `jobs/runner.ts` → `jobs`; `config.ts` → `config`. */
function roomOf(file: string): string {
  return file.split(path.sep)[0]!.replace(/\.ts$/, '');
}

interface Layers {
  /** Room → rank, 0 at the top; a file may import its own room and rooms of a higher rank. */
  readonly rank: ReadonlyMap<string, number>;
  /** Rooms every other may import (they import only each other). */
  readonly shared: ReadonlySet<string>;
  /** `from -> to` file pairs the page names as exceptions, each with its reason there. */
  readonly exceptions: ReadonlySet<string>;
}

function layersOfDoc(doc: string): Layers {
  const block = /```layers\n([\s\S]*?)```/.exec(doc);
  assert.ok(block, 'docs/architecture.md has a ```layers block');
  const rank = new Map<string, number>();
  const shared = new Set<string>();
  const exceptions = new Set<string>();
  let level = 0;
  for (const raw of block[1]!.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    if (line.startsWith('shared:')) {
      for (const r of line.slice('shared:'.length).trim().split(/\s+/)) shared.add(r);
    } else if (line.startsWith('except:')) {
      const [from, to] = line
        .slice('except:'.length)
        .split('->')
        .map((s) => s.trim());
      exceptions.add(`${from} -> ${to}`);
    } else {
      for (const r of line.split(/\s+/)) rank.set(r, level);
      level++;
    }
  }
  return { rank, shared, exceptions };
}

const files = sourceFiles();
const edges = files.flatMap(importsOf);
const internal = edges.filter((e) => e.to.endsWith('.ts'));
const doc = fs.readFileSync(repoPath('docs/architecture.md'), 'utf8');
const layers = layersOfDoc(doc);

/** The imports that break the order: `from → to (room → room)` for each. */
function againstTheOrder(list: readonly Edge[], order: Layers): string[] {
  const wrong: string[] = [];
  for (const e of list) {
    const a = roomOf(e.from);
    const b = roomOf(e.to);
    if (a === b || order.shared.has(b) || order.exceptions.has(`${e.from} -> ${e.to}`)) continue;
    const ra = order.rank.get(a);
    const rb = order.rank.get(b);
    // Shared rooms import only each other; every other room only rooms below it.
    const fine = !order.shared.has(a) && ra !== undefined && rb !== undefined && rb > ra;
    if (!fine) wrong.push(`${e.from} → ${e.to} (${a} → ${b})`);
  }
  return wrong;
}

test('every import in src/ points down the layer order of docs/architecture.md', () => {
  assert.deepEqual(againstTheOrder(internal, layers), [], 'imports against the layer order');
});

test('BAD CALL - imports up the order, sideways, or from a shared room into a layer are each reported', () => {
  const probe = (from: string, to: string, typeOnly = false): Edge => ({
    from: path.join(...from.split('/')),
    to: path.join(...to.split('/')),
    typeOnly,
  });
  assert.deepEqual(
    againstTheOrder(
      [
        probe('jobs/service.ts', 'api/deps.ts', true),
        probe('cli/serve.ts', 'index.ts'),
        probe('errors.ts', 'jobs/types.ts'),
        probe('api/app.ts', 'jobs/service.ts'),
        probe('jobs/runner.ts', 'log.ts'),
      ],
      layers,
    ).length,
    3,
  );
});

test('every PIXELIFT_ variable src/config.ts reads is named in docs/architecture.md', () => {
  const config = fs.readFileSync(path.join(SRC, 'config.ts'), 'utf8');
  const read = new Set([...config.matchAll(/'(PIXELIFT_[A-Z0-9_]+)'/g)].map((m) => m[1]!));
  assert.ok(read.size > 10, 'config.ts reads its variables by name');
  assert.deepEqual(
    [...read].filter((v) => !doc.includes(`\`${v}\``)).sort(),
    [],
    'variables the page does not name',
  );
});

test('every room under src/ has its place in the layer order, and the page names no room that is gone', () => {
  const rooms = new Set(files.map(roomOf));
  const placed = new Set([...layers.rank.keys(), ...layers.shared]);
  assert.deepEqual([...rooms].filter((r) => !placed.has(r)).sort(), [], 'rooms the page does not place');
  assert.deepEqual(
    [...placed].filter((r) => !rooms.has(r)).sort(),
    [],
    'rooms the page places that do not exist',
  );
  for (const ex of layers.exceptions) {
    const [from, to] = ex.split(' -> ') as [string, string];
    assert.ok(
      internal.some((e) => e.from === from && e.to === to),
      `the exception ${ex} is no longer needed: remove it from the page`,
    );
  }
});

test('every src/ path docs/architecture.md names exists', () => {
  const named = new Set(
    [...doc.matchAll(/`(src\/[\w./-]+?)`/g), ...doc.matchAll(/^\s*(src\/[\w./-]+)/gm)].map((m) => m[1]!),
  );
  // The layout tree names files relative to the folder above them: each `name.ts` line under `src/`.
  const tree = /```text\n(src\/\n[\s\S]*?)```/.exec(doc);
  assert.ok(tree, 'docs/architecture.md has the src/ tree in a ```text block');
  const stack: string[] = [];
  for (const raw of tree[1]!.split('\n').slice(1)) {
    const m = /^( *)([\w.-]+\/?)/.exec(raw);
    if (!m) continue;
    const depth = m[1]!.length / 2 - 1;
    stack.length = Math.max(0, depth);
    const name = m[2]!;
    stack[depth] = name.replace(/\/$/, '');
    named.add(`src/${stack.slice(0, depth + 1).join('/')}`);
  }
  const missing = [...named].filter((p) => !fs.existsSync(repoPath(p.replace(/\/$/, ''))));
  assert.deepEqual(missing, [], 'paths on the page that src/ does not have');
});

/**
 * Each import cycle among `list`, as `a.ts → b.ts → a.ts`. Type-only imports count: they load
 * nothing at run time, but a cycle of types still ties two modules into one, which neither can
 * be read, moved or tested without.
 */
function cyclesOf(list: readonly Edge[]): string[] {
  const next = new Map<string, string[]>();
  for (const e of list) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const walk = (file: string, trail: string[]) => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      cycles.push([...trail.slice(trail.indexOf(file)), file].join(' → '));
      return;
    }
    state.set(file, 'open');
    for (const to of next.get(file) ?? []) walk(to, [...trail, file]);
    state.set(file, 'done');
  };
  for (const from of next.keys()) walk(from, []);
  return cycles;
}

test('there are no import cycles, type-only imports included', () => {
  assert.deepEqual(cyclesOf(internal), []);
});

test('BAD CALL - a cycle closed by a type-only import is reported, and a chain that is not one is not', () => {
  const edge = (from: string, to: string, typeOnly = false): Edge => ({ from, to, typeOnly });
  assert.deepEqual(cyclesOf([edge('a.ts', 'b.ts'), edge('b.ts', 'a.ts', true), edge('b.ts', 'c.ts')]), [
    'a.ts → b.ts → a.ts',
  ]);
  assert.deepEqual(cyclesOf([edge('a.ts', 'b.ts', true), edge('b.ts', 'c.ts'), edge('a.ts', 'c.ts')]), []);
});

test('Fastify is imported only in api/ and server/, and a worker node loads none of it', () => {
  const fastify = (to: string) => to === 'fastify' || to.startsWith('@fastify/');
  const outside = edges.filter((e) => fastify(e.to) && !['api', 'server'].includes(roomOf(e.from)));
  assert.deepEqual(
    outside.map((e) => `${e.from} → ${e.to}`),
    [],
  );
  // What `pixelift worker` loads: the run-time imports reachable from server/worker-node.ts.
  const seen = new Set<string>();
  const loaded: string[] = [];
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const e of edges) {
      if (e.from !== file || e.typeOnly) continue;
      if (e.to.endsWith('.ts')) walk(e.to);
      else if (fastify(e.to)) loaded.push(`${file} → ${e.to}`);
    }
  };
  walk(path.join('server', 'worker-node.ts'));
  assert.ok(seen.has(path.join('api', 'webhooks', 'index.ts')), 'the worker formats the dialects’ webhooks');
  assert.deepEqual(loaded, [], 'Fastify reached from server/worker-node.ts');
});
