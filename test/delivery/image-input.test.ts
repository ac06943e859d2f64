import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseImageField } from '../../src/delivery/image-input.js';
import { isPixeliftError } from '../../src/errors.js';

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
const PNG_B64 = PNG.toString('base64');

function refused(value: unknown): string {
  let message = '';
  assert.throws(
    () => parseImageField(value as string),
    (err: unknown) => {
      assert.ok(isPixeliftError(err, 'invalid_argument'), String(err));
      assert.equal(err.details.param, 'image');
      message = err.message;
      return true;
    },
  );
  return message;
}

test('an http or https URL is a url, kept as given (surrounding whitespace aside)', () => {
  assert.deepEqual(parseImageField('https://images.example.test/cat.png?x=1'), {
    kind: 'url',
    url: 'https://images.example.test/cat.png?x=1',
  });
  assert.deepEqual(parseImageField('  HTTP://example.test/a.jpg\n'), {
    kind: 'url',
    url: 'HTTP://example.test/a.jpg',
  });
});

test('upl_ followed by id characters is an upload id', () => {
  assert.deepEqual(parseImageField('upl_01HZX3K9Q2ab-_c'), { kind: 'upload', id: 'upl_01HZX3K9Q2ab-_c' });
});

test('a base64 data URI decodes to its bytes with its media type', () => {
  assert.deepEqual(parseImageField(`data:image/png;base64,${PNG_B64}`), {
    kind: 'bytes',
    data: PNG,
    contentType: 'image/png',
  });
  const withParams = parseImageField(`DATA:Image/WebP;name=cat.webp;BASE64,${PNG_B64}`);
  assert.ok(withParams.kind === 'bytes');
  assert.equal(withParams.contentType, 'image/webp');
  assert.deepEqual(withParams.data, PNG);
});

test('bare base64 decodes to bytes without a media type, line breaks allowed', () => {
  assert.deepEqual(parseImageField(PNG_B64), { kind: 'bytes', data: PNG });
  const wrapped = `${PNG_B64.slice(0, 8)}\r\n${PNG_B64.slice(8, 16)}\n ${PNG_B64.slice(16)}`;
  assert.deepEqual(parseImageField(wrapped), { kind: 'bytes', data: PNG });
  assert.deepEqual(parseImageField('/9j/'), { kind: 'bytes', data: Buffer.from([0xff, 0xd8, 0xff]) });
});

for (const value of [
  '',
  '   ',
  'cat.png',
  '/images/cat', // valid base64 were padding optional: strictness keeps paths from decoding to garbage
  'abc',
  'iVBORw0KGgo=x',
  'iVBORw0KGgo===',
  'iVBORw0K_Ggo-',
  '====',
  'ftp://example.test/cat.png',
  'file:///etc/passwd',
  'upl_',
  'upl_bad id',
]) {
  test(`EXPECTED FAILURE - ${JSON.stringify(value)} is refused with a message naming the accepted forms`, () => {
    const message = refused(value);
    assert.match(message, /http\(s\) URL/);
    assert.match(message, /upload id \(upl_…\)/);
    assert.match(message, /data URI/);
    assert.match(message, /base64/);
  });
}

test('EXPECTED FAILURE - a value that is not a string is refused', () => {
  assert.match(refused(42), /received a value of type number/);
  assert.match(refused(null), /received a value of type null/);
});

test('EXPECTED FAILURE - a data URI that is not base64 or not image/* is refused, saying which', () => {
  assert.match(refused('data:image/png,%89PNG'), /must be base64-encoded/);
  assert.match(refused(`data:image/svg+xml;utf8,${PNG_B64}`), /must be base64-encoded/);
  assert.match(refused(`data:text/html;base64,${PNG_B64}`), /image\/\* media type, not "text\/html"/);
  assert.match(refused(`data:;base64,${PNG_B64}`), /not "text\/plain"/);
  assert.match(refused(`data:application/octet-stream;base64,${PNG_B64}`), /image\/\*/);
  assert.match(refused('data:image/png;base64'), /no "," before its data/);
  assert.match(refused('data:image/png;base64,'), /does not hold valid base64/);
  assert.match(refused('data:image/png;base64,not base64!'), /does not hold valid base64/);
});

test('a long message is not echoed whole: only its start and length', () => {
  const message = refused(`${'x'.repeat(5000)}!`);
  assert.match(message, /\(5001 characters\)/);
  assert.ok(message.length < 400);
});
