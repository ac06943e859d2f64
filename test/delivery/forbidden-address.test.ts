/**
 * Pure classification: no socket is opened here, so hostile addresses that are not loopback
 * (10.0.0.1, 169.254.169.254, NAT64 forms that would route off this machine) are tested here and
 * only here. fetch-url.test.ts drives the loopback ones end to end.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isForbiddenAddress, isForbiddenHostname } from '../../src/delivery/forbidden-address.js';

const FORBIDDEN: readonly [address: string, reason: RegExp][] = [
  ['127.0.0.1', /loopback/],
  ['127.255.255.254', /loopback/],
  ['::1', /loopback/],
  ['10.0.0.1', /private .*10\.0\.0\.0\/8/],
  ['172.16.0.1', /private .*172\.16\.0\.0\/12/],
  ['172.31.255.255', /private/],
  ['192.168.1.1', /private .*192\.168\.0\.0\/16/],
  ['fc00::1', /unique-local/],
  ['fd00:ec2::254', /unique-local/], // AWS IMDS over IPv6
  ['169.254.169.254', /cloud metadata/],
  ['169.254.1.1', /link-local/],
  ['fe80::1', /link-local/],
  ['fe80::1%eth0', /link-local/],
  ['0.0.0.0', /unspecified/],
  ['0.1.2.3', /unspecified/],
  ['::', /unspecified/],
  ['100.64.0.1', /carrier-grade NAT/],
  ['100.127.255.255', /carrier-grade NAT/],
  ['224.0.0.1', /multicast/],
  ['239.255.255.250', /multicast/],
  ['ff02::1', /multicast/],
  ['255.255.255.255', /broadcast/],
  ['240.0.0.1', /reserved/],
  ['192.0.2.1', /documentation/],
  ['2001:db8::1', /documentation/],
  ['fec0::1', /site-local/],
  ['4000::1', /not a global unicast/],
];

const EMBEDDED: readonly [address: string, reason: RegExp][] = [
  ['::ffff:127.0.0.1', /IPv4-mapped IPv6 form of 127\.0\.0\.1, a loopback/],
  ['::ffff:7f00:1', /IPv4-mapped IPv6 form of 127\.0\.0\.1, a loopback/],
  ['0:0:0:0:0:ffff:7f00:0001', /IPv4-mapped .*loopback/],
  ['::ffff:169.254.169.254', /IPv4-mapped .*169\.254\.169\.254, the cloud metadata/],
  ['::ffff:a00:1', /IPv4-mapped .*10\.0\.0\.1, a private/],
  ['64:ff9b::127.0.0.1', /NAT64 .*127\.0\.0\.1, a loopback/],
  ['64:ff9b::a9fe:a9fe', /NAT64 .*169\.254\.169\.254/],
  ['64:ff9b:1::1', /local-use NAT64/],
  ['::127.0.0.1', /IPv4-compatible IPv6 form of 127\.0\.0\.1/],
  ['::7f00:1', /IPv4-compatible .*loopback/],
  ['::8.8.8.8', /deprecated IPv4-compatible/],
  ['2002:7f00:1::', /6to4 .*127\.0\.0\.1, a loopback/],
  ['2002:c0a8:101::1', /6to4 .*192\.168\.1\.1, a private/],
];

const PUBLIC = [
  '8.8.8.8',
  '93.184.215.14',
  '1.1.1.1',
  '11.0.0.1',
  '100.63.255.255', // just below CGNAT
  '100.128.0.0', // just above CGNAT
  '172.15.255.255',
  '172.32.0.0',
  '169.253.255.255',
  '192.169.0.1',
  '223.255.255.255',
  '2606:4700:4700::1111',
  '2a00:1450:4001:80b::200e',
  '::ffff:8.8.8.8',
  '64:ff9b::808:808',
  '2002:808:808::1',
];

for (const [address, reason] of FORBIDDEN) {
  test(`isForbiddenAddress refuses ${address} and names its range`, () => {
    assert.match(isForbiddenAddress(address) ?? 'allowed', reason);
  });
}

for (const [address, reason] of EMBEDDED) {
  test(`isForbiddenAddress sees the IPv4 address inside ${address}`, () => {
    assert.match(isForbiddenAddress(address) ?? 'allowed', reason);
  });
}

test('isForbiddenAddress lets public IPv4 and IPv6 addresses through, embedded public IPv4 included', () => {
  for (const address of PUBLIC) assert.equal(isForbiddenAddress(address), undefined, address);
});

test('isForbiddenAddress refuses a string that is not an IP address', () => {
  for (const s of ['localhost', '', '127.0.0.1.', '0x7f.1', '2130706433', '[::1]']) {
    assert.equal(isForbiddenAddress(s), 'not an IP address', s);
  }
});

// WHATWG URL parsing (what fetchUrl uses) turns every IPv4 spelling into dotted decimal and
// compresses IPv6; the classification of what it yields must still be "forbidden".
const LITERALS: readonly [url: string, hostname: string, reason: RegExp][] = [
  ['http://2130706433/', '127.0.0.1', /loopback/],
  ['http://0x7f000001/', '127.0.0.1', /loopback/],
  ['http://0x7f.1/', '127.0.0.1', /loopback/],
  ['http://0177.0.0.1/', '127.0.0.1', /loopback/],
  ['http://127.1/', '127.0.0.1', /loopback/],
  ['http://127.0.0.1./', '127.0.0.1', /loopback/],
  ['http://0/', '0.0.0.0', /unspecified/],
  ['http://3232235777/', '192.168.1.1', /private/],
  ['http://0xa.0.0.1/', '10.0.0.1', /private/],
  ['http://2852039166/latest/meta-data/', '169.254.169.254', /cloud metadata/],
  ['http://0xa9.0xfe.0xa9.0xfe/', '169.254.169.254', /cloud metadata/],
  ['http://[::ffff:127.0.0.1]/', '[::ffff:7f00:1]', /IPv4-mapped/],
  ['http://[0:0:0:0:0:ffff:127.0.0.1]/', '[::ffff:7f00:1]', /IPv4-mapped/],
  ['http://[::ffff:169.254.169.254]/', '[::ffff:a9fe:a9fe]', /cloud metadata/],
  ['http://[64:ff9b::127.0.0.1]/', '[64:ff9b::7f00:1]', /NAT64/],
  ['http://[::127.0.0.1]/', '[::7f00:1]', /IPv4-compatible/],
  ['http://[0000::1]/', '[::1]', /loopback/],
];

for (const [url, hostname, reason] of LITERALS) {
  test(`${url} parses to ${hostname}, which is refused`, () => {
    const parsed = new URL(url).hostname;
    assert.equal(parsed, hostname);
    assert.match(isForbiddenAddress(parsed.replace(/^\[(.*)\]$/, '$1')) ?? 'allowed', reason);
  });
}

test('isForbiddenHostname refuses localhost, *.localhost and cloud metadata names in any case', () => {
  for (const name of ['localhost', 'LocalHost', 'localhost.', 'api.localhost', 'a.b.localhost..']) {
    assert.match(isForbiddenHostname(name) ?? 'allowed', /loopback host name/, name);
  }
  for (const name of ['metadata.google.internal', 'METADATA.GOOGLE.INTERNAL.', 'metadata']) {
    assert.match(isForbiddenHostname(name) ?? 'allowed', /metadata/, name);
  }
  for (const name of [
    'images.example.com',
    'localhost.example.com',
    'notlocalhost',
    'metadata.example.com',
  ]) {
    assert.equal(isForbiddenHostname(name), undefined, name);
  }
});
