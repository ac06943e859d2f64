import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import ts from 'typescript';
import { ERRORS, invalidArgument, isPixeliftError, PixeliftError } from '../src/errors.js';
import { repoPath } from './helpers/paths.js';

test('every error code is documented in docs/errors.md with its HTTP status', () => {
  const doc = fs.readFileSync(repoPath('docs/errors.md'), 'utf8');
  for (const [code, spec] of Object.entries(ERRORS)) {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${code}\` |`));
    assert.ok(row, `docs/errors.md has no row for ${code}`);
    assert.match(row, new RegExp(`\\| ${spec.status} \\|`), `row for ${code} states status ${spec.status}`);
  }
});

test('docs/errors.md lists no code the registry lacks', () => {
  const doc = fs.readFileSync(repoPath('docs/errors.md'), 'utf8');
  const documented = [...doc.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(documented.sort(), Object.keys(ERRORS).sort());
});

test('an error fills its message template from details and carries status and retryable', () => {
  const err = new PixeliftError('model_not_found', { model: 'nope' });
  assert.equal(err.message, 'Unknown model "nope"');
  assert.equal(err.status, 404);
  assert.equal(err.retryable, false);
  assert.ok(isPixeliftError(err, 'model_not_found'));
  assert.equal(isPixeliftError(err, 'internal'), false);
  assert.deepEqual(err.toJSON(), {
    code: 'model_not_found',
    message: 'Unknown model "nope"',
    details: { model: 'nope' },
  });
});

test('BAD CALL - argument errors name the parameter, the expectation and the received value', () => {
  const err = invalidArgument('tile', 'positive integer', 1.5);
  assert.equal(err.code, 'invalid_argument');
  assert.equal(err.message, 'Expected positive integer for tile but received 1.5 of type number');
  assert.equal(err.details.param, 'tile');
});

/**
 * Every place that raises a registry error with a literal details object must give each
 * placeholder of the code's template a value: a `{limit}` left out reads "larger than {limit}
 * bytes", and a filler such as "the limit of" read "larger than the limit of bytes" (issue 16).
 */
test('every PixeliftError raised in src/ fills each placeholder of its message template', () => {
  const files = fs
    .readdirSync(repoPath('src'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => repoPath('src', f));
  const holes: string[] = [];
  let checked = 0;
  for (const file of files) {
    const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    const visit = (node: ts.Node): void => {
      if (
        ts.isNewExpression(node) &&
        node.expression.getText() === 'PixeliftError' &&
        node.arguments?.[0] &&
        ts.isStringLiteral(node.arguments[0])
      ) {
        const code = node.arguments[0].text as keyof typeof ERRORS;
        const placeholders = [...ERRORS[code].message.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
        const details = node.arguments[1];
        const where = `${file.slice(repoPath('').length)}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
        if (details === undefined) {
          if (placeholders.length > 0)
            holes.push(`${where} ${code}: no details for ${placeholders.join(', ')}`);
        } else if (ts.isObjectLiteralExpression(details)) {
          checked++;
          // A spread may carry any key: the check cannot see through it.
          if (details.properties.some((p) => ts.isSpreadAssignment(p))) return;
          const given = new Map<string, ts.Node | undefined>();
          for (const p of details.properties) {
            if (ts.isPropertyAssignment(p)) given.set(p.name.getText(), p.initializer);
            else if (ts.isShorthandPropertyAssignment(p)) given.set(p.name.getText(), undefined);
          }
          for (const name of placeholders) {
            if (!given.has(name)) holes.push(`${where} ${code}: {${name}} not given`);
            const value = given.get(name);
            // A literal standing in for a value it did not have: a bare pronoun ("this") or a
            // phrase that leaves its sentence dangling ("the limit of").
            if (
              value &&
              ts.isStringLiteral(value) &&
              /^(this|that|it)$|\b(of|the|a|an|to)$/.test(value.text)
            ) {
              holes.push(`${where} ${code}: {${name}} filled with the filler "${value.text}"`);
            }
          }
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  assert.ok(checked > 50, `found ${checked} call sites; the scan is not seeing them`);
  assert.deepEqual(holes, []);
});

test('a message template filled with values keeps no placeholder, and a missing value is visible', () => {
  for (const [code, spec] of Object.entries(ERRORS)) {
    const names = [...spec.message.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
    const err = new PixeliftError(
      code as keyof typeof ERRORS,
      Object.fromEntries(names.map((n) => [n, `<${n}>`])),
    );
    assert.doesNotMatch(err.message, /\{\w+\}/, code);
    for (const n of names) assert.ok(err.message.includes(`<${n}>`), `${code} shows ${n}`);
  }
});
