/**
 * Which addresses and host names an image URL may not reach unless PIXELIFT_ALLOW_PRIVATE_URLS is
 * set: the classification half of the SSRF defence in fetch-url.ts, pure and synchronous.
 *
 * Ranges come from the IANA special-purpose registries (RFC 6890 and successors):
 * https://www.iana.org/assignments/iana-ipv4-special-registry and …/iana-ipv6-special-registry.
 * The first matching row gives the reason, so more specific rows come first.
 */
import net from 'node:net';

type Range = readonly [cidr: string, reason: string];

const IPV4_RANGES: readonly Range[] = [
  ['0.0.0.0/8', 'an unspecified ("this network") address (0.0.0.0/8)'],
  ['10.0.0.0/8', 'a private address (10.0.0.0/8)'],
  ['100.64.0.0/10', 'a carrier-grade NAT address (100.64.0.0/10)'],
  ['127.0.0.0/8', 'a loopback address (127.0.0.0/8)'],
  ['169.254.169.254/32', 'the cloud metadata service address (link-local 169.254.0.0/16)'],
  ['169.254.0.0/16', 'a link-local address (169.254.0.0/16)'],
  ['172.16.0.0/12', 'a private address (172.16.0.0/12)'],
  ['192.0.0.0/24', 'an IETF protocol-assignment address (192.0.0.0/24)'],
  ['192.0.2.0/24', 'a documentation address (192.0.2.0/24)'],
  ['192.88.99.0/24', 'a 6to4 relay anycast address (192.88.99.0/24)'],
  ['192.168.0.0/16', 'a private address (192.168.0.0/16)'],
  ['198.18.0.0/15', 'a benchmarking address (198.18.0.0/15)'],
  ['198.51.100.0/24', 'a documentation address (198.51.100.0/24)'],
  ['203.0.113.0/24', 'a documentation address (203.0.113.0/24)'],
  ['224.0.0.0/4', 'a multicast address (224.0.0.0/4)'],
  ['255.255.255.255/32', 'the broadcast address (255.255.255.255)'],
  ['240.0.0.0/4', 'a reserved address (240.0.0.0/4)'],
];

/** Checked after the forms that embed an IPv4 address (mapped, compatible, NAT64, 6to4). */
const IPV6_RANGES: readonly Range[] = [
  ['64:ff9b:1::/48', 'a local-use NAT64 address (64:ff9b:1::/48)'],
  ['100::/64', 'a discard-only address (100::/64)'],
  ['2001::/32', 'a Teredo tunnel address (2001::/32)'],
  ['2001:db8::/32', 'a documentation address (2001:db8::/32)'],
  ['fc00::/7', 'a unique-local (private) address (fc00::/7)'],
  ['fe80::/10', 'a link-local address (fe80::/10)'],
  ['fec0::/10', 'a site-local address (fec0::/10)'],
  ['ff00::/8', 'a multicast address (ff00::/8)'],
];

/** IPv6 outside 2000::/3 is not global unicast (RFC 4291 §2.4), whatever else it is. */
const IPV6_GLOBAL_UNICAST = blockList('2000::/3', 'ipv6');

const IPV4_CHECKS = IPV4_RANGES.map(([cidr, reason]) => ({ list: blockList(cidr, 'ipv4'), reason }));
const IPV6_CHECKS = IPV6_RANGES.map(([cidr, reason]) => ({ list: blockList(cidr, 'ipv6'), reason }));

/**
 * Why `ip` may not be fetched from, or `undefined` when it is a public address. Anything that is
 * not an IP address is refused: callers pass resolved addresses, so a name here is a bug.
 */
export function isForbiddenAddress(ip: string): string | undefined {
  // Zone ids (fe80::1%eth0) come back from dns.lookup for link-local addresses; the range check
  // is about the address itself.
  const address = ip.split('%')[0] ?? '';
  switch (net.isIP(address)) {
    case 4:
      return forbiddenIPv4(address);
    case 6:
      return forbiddenIPv6(address);
    default:
      return 'not an IP address';
  }
}

/**
 * Host names refused before they are resolved: `localhost` and `*.localhost` (RFC 6761 §6.3 lets
 * resolvers answer them with loopback without asking DNS) and the cloud metadata names. Their
 * addresses would be refused anyway; refusing the name gives a clearer message and does not
 * depend on what this machine's resolver says.
 */
export function isForbiddenHostname(hostname: string): string | undefined {
  const name = hostname.toLowerCase().replace(/\.+$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) return 'a loopback host name (RFC 6761)';
  if (name === 'metadata.google.internal' || name === 'metadata') return 'a cloud metadata service host name';
  return undefined;
}

function forbiddenIPv4(address: string): string | undefined {
  return IPV4_CHECKS.find((c) => c.list.check(address, 'ipv4'))?.reason;
}

function forbiddenIPv6(address: string): string | undefined {
  const bytes = ipv6Bytes(address);
  const zeros = (from: number, to: number) => bytes.subarray(from, to).every((b) => b === 0);
  const embedded = (at: number) => Array.from(bytes.subarray(at, at + 4)).join('.');

  if (zeros(0, 16)) return 'the unspecified address (::)';
  if (zeros(0, 15) && bytes[15] === 1) return 'the loopback address (::1)';

  // ::ffff:a.b.c.d (IPv4-mapped): the socket layer connects to a.b.c.d itself.
  if (zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) {
    const v4 = embedded(12);
    return within('an IPv4-mapped IPv6 form of', v4);
  }
  // 64:ff9b::a.b.c.d (NAT64, RFC 6052): a NAT64 gateway forwards to a.b.c.d.
  if (startsWith(bytes, [0x00, 0x64, 0xff, 0x9b]) && zeros(4, 12)) {
    return within('a NAT64 (64:ff9b::/96) form of', embedded(12));
  }
  // ::a.b.c.d (IPv4-compatible, deprecated by RFC 4291 §2.5.5.1): no legitimate use remains.
  if (zeros(0, 12)) {
    const v4 = embedded(12);
    return (
      within('an IPv4-compatible IPv6 form of', v4) ?? 'a deprecated IPv4-compatible IPv6 address (::/96)'
    );
  }
  // 2002:aabb:ccdd::/48 (6to4, RFC 3056): routed to the IPv4 address in bits 16..48.
  if (startsWith(bytes, [0x20, 0x02])) return within('a 6to4 (2002::/16) form of', embedded(2));

  const listed = IPV6_CHECKS.find((c) => c.list.check(address, 'ipv6'))?.reason;
  if (listed !== undefined) return listed;
  if (!IPV6_GLOBAL_UNICAST.check(address, 'ipv6')) return 'not a global unicast address (outside 2000::/3)';
  return undefined;
}

/** The reason for an IPv6 form that carries an IPv4 address, or undefined when that one is public. */
function within(form: string, v4: string): string | undefined {
  const reason = forbiddenIPv4(v4);
  return reason === undefined ? undefined : `${form} ${v4}, ${reason}`;
}

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return prefix.every((b, i) => bytes[i] === b);
}

function blockList(cidr: string, type: 'ipv4' | 'ipv6'): net.BlockList {
  const [network = '', prefix = ''] = cidr.split('/');
  const list = new net.BlockList();
  list.addSubnet(network, Number(prefix), type);
  return list;
}

/**
 * 16 bytes of an address that net.isIPv6 has accepted (so no validation is repeated here).
 *
 * Hand-written rather than ipaddr.js (2.5.0), which was tried: its parser rewrites the deprecated
 * IPv4-compatible form `::a.b.c.d` into the IPv4-mapped `::ffff:a.b.c.d`, a different address,
 * so `::8.8.8.8` came out public (test/delivery/forbidden-address.test.ts fails 2 of 60 cases
 * with only this function swapped). Its range() cannot replace the tables either: it has no
 * 2001:db8::/32 (documentation), lumps documentation, benchmarking and 240.0.0.0/4 into one
 * `reserved`, names no CIDR for the message, and its isValid() accepts `0x7f.1` and `2130706433`.
 */
function ipv6Bytes(address: string): Uint8Array {
  let text = address;
  // A dotted IPv4 tail (::ffff:127.0.0.1) becomes two hex groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)));
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  const all = [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}
