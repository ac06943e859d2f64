import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRange } from '../../src/storage/byte-range.js';

const SIZE = 1000;

for (const [header, expected] of [
  ['bytes=0-499', { start: 0, end: 499 }],
  ['bytes=500-999', { start: 500, end: 999 }],
  ['bytes=0-0', { start: 0, end: 0 }],
  ['bytes=999-999', { start: 999, end: 999 }],
  ['bytes=500-5000', { start: 500, end: 999 }],
  ['bytes=500-', { start: 500, end: 999 }],
  ['bytes=0-', { start: 0, end: 999 }],
  ['bytes=-100', { start: 900, end: 999 }],
  ['bytes=-1', { start: 999, end: 999 }],
  ['bytes=-5000', { start: 0, end: 999 }],
  ['Bytes=1-2', { start: 1, end: 2 }],
  [' bytes = 1 - 2 ', { start: 1, end: 2 }],
] as const) {
  test(`the Range "${header}" of a ${SIZE}-byte body is bytes ${expected.start}-${expected.end}`, () => {
    assert.deepEqual(parseRange(header, SIZE), expected);
  });
}

for (const header of ['bytes=1000-', 'bytes=1000-1001', 'bytes=5000-6000', 'bytes=-0']) {
  test(`the Range "${header}" names no byte of a ${SIZE}-byte body: unsatisfiable`, () => {
    assert.equal(parseRange(header, SIZE), 'unsatisfiable');
  });
}

test('every range of an empty body is unsatisfiable', () => {
  for (const header of ['bytes=0-', 'bytes=0-0', 'bytes=-1'])
    assert.equal(parseRange(header, 0), 'unsatisfiable');
});

for (const header of [
  undefined,
  '',
  'bytes=',
  'bytes=-',
  'bytes=5-2',
  'bytes=a-b',
  'bytes=1.5-2',
  'bytes=--1',
  'items=0-1',
  '0-1',
  'bytes 0-1',
  'bytes=0-1,5-6',
  'bytes=0-1, 5-6',
  'bytes=-1,0-',
]) {
  test(`the Range ${JSON.stringify(header)} is ignored (whole body): absent, malformed, another unit or several ranges`, () => {
    assert.equal(parseRange(header, SIZE), undefined);
  });
}
