/**
 * Which addresses an http target may reach: public unicast only, unless an operator allows a
 * network (`PACER_ALLOW_TARGET_NETWORKS`) — and never a cloud metadata server, whatever is
 * allowed. Pure: the worker applies it to every address a lookup returns, at connect time.
 *
 * IPv6 that carries an IPv4 address — mapped (`::ffff:a.b.c.d`), compatible (`::a.b.c.d`),
 * NAT64 (`64:ff9b::/96`, `64:ff9b:1::/48`), 6to4 (`2002::/16`), Teredo (`2001::/32`) — is judged by
 * the IPv4 address it leads to. Other IPv6 is public only inside global unicast (`2000::/3`).
 */
import ipaddr from 'ipaddr.js';

export type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

export type AddressVerdict = { allowed: true } | { allowed: false; address: string; why: string };

/** Metadata servers: never reachable, whatever the allowlist says. */
const METADATA = new Set(['169.254.169.254', 'fd00:ec2::254', '169.254.170.2']);

/** Parses the allowlist (`10.0.0.0/8`, `fd00::/8`). Throws on a malformed range. */
export function parseNetworks(ranges: readonly string[]): Cidr[] {
  return ranges.map((range) => ipaddr.parseCIDR(range));
}

/** Whether `address` (a literal) may be reached, with the allowlist `allowed`. */
export function judgeAddress(address: string, allowed: readonly Cidr[]): AddressVerdict {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address.replace(/^\[|\]$/g, '').replace(/%.*$/, ''));
  } catch {
    return { allowed: false, address, why: 'not an IP address' };
  }
  const embedded = parsed instanceof ipaddr.IPv6 ? embeddedIPv4(parsed) : null;
  const judged = embedded ?? parsed;
  const text = judged.toString();
  if (METADATA.has(text) || METADATA.has(parsed.toString())) {
    return { allowed: false, address: text, why: 'a metadata server' };
  }
  const range = judged.range();
  const isPublic =
    judged instanceof ipaddr.IPv4
      ? range === 'unicast'
      : range === 'unicast' && judged.match(GLOBAL_UNICAST);
  if (isPublic) return { allowed: true };
  if (inAny(judged, allowed)) return { allowed: true };
  return {
    allowed: false,
    address: text,
    why: judged instanceof ipaddr.IPv6 && range === 'unicast' ? 'outside 2000::/3' : range,
  };
}

const GLOBAL_UNICAST = ipaddr.parseCIDR('2000::/3') as [ipaddr.IPv6, number];

/** The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo), if any. */
export function embeddedIPv4(address: ipaddr.IPv6): ipaddr.IPv4 | null {
  const parts = address.parts;
  const word = (i: number) => parts[i] ?? 0;
  const fromWords = (high: number, low: number) =>
    new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
  if (address.isIPv4MappedAddress()) return address.toIPv4Address();
  // ::a.b.c.d (IPv4-compatible, deprecated), but not :: or ::1.
  if (parts.slice(0, 6).every((p) => p === 0) && (word(6) !== 0 || word(7) > 1)) {
    return fromWords(word(6), word(7));
  }
  // NAT64 well-known prefix 64:ff9b::/96 and local-use 64:ff9b:1::/48.
  if (word(0) === 0x64 && word(1) === 0xff9b) return fromWords(word(6), word(7));
  // 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
  if (word(0) === 0x2002) return fromWords(word(1), word(2));
  // Teredo: 2001:0::/32, the client's address inverted in the last 32 bits.
  if (word(0) === 0x2001 && word(1) === 0) return fromWords(~word(6) & 0xffff, ~word(7) & 0xffff);
  return null;
}

function inAny(address: ipaddr.IPv4 | ipaddr.IPv6, allowed: readonly Cidr[]): boolean {
  return allowed.some(([network, bits]) => {
    if (network.kind() !== address.kind()) return false;
    return address.match([network, bits] as Parameters<typeof address.match>[0]);
  });
}
