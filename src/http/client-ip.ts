/**
 * The client's address: the socket peer, unless the peer is a trusted proxy, in which case
 * X-Forwarded-For is walked from the right past trusted hops (the first untrusted address is
 * the client). Forwarded headers from anyone else are never believed.
 */
import { isIP, type BlockList } from 'node:net';

export function normaliseAddress(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/**
 * The unit a client is counted in (its share of the login slots, its window of failure events):
 * an IPv4 address as it is, an IPv6 address by its /64 (`2001:db8:1:2::/64`): one host is usually
 * given a whole /64 and could name a fresh address inside it for every request. Anything that is
 * not an IPv6 address comes back as it is.
 *
 * Request addresses reach this through normaliseAddress (requestFacts), but the IPv4-mapped form
 * (`::ffff:a.b.c.d`, any case) is still the IPv4 client here rather than the /64 shared by every
 * such client: the function is exported and also called with raw addresses.
 */
export function clientKey(ip: string): string {
  const bare = ip.split('%')[0] as string;
  if (isIP(bare) !== 6) return ip;
  if (/^::ffff:/i.test(bare) && isIP(bare.slice(7)) === 4) return bare.slice(7);
  const halves = bare.split('::');
  const head = halves[0] === '' ? [] : (halves[0] as string).split(':');
  const tail = halves.length > 1 && halves[1] !== '' ? (halves[1] as string).split(':') : [];
  // An embedded IPv4 tail (`64:ff9b::1.2.3.4`) is two groups.
  const last = tail.length > 0 ? tail : head;
  if (last.length > 0 && (last[last.length - 1] as string).includes('.')) last.splice(last.length - 1, 1, '0', '0');
  const groups = halves.length > 1 ? [...head, ...new Array<string>(8 - head.length - tail.length).fill('0'), ...tail] : head;
  return `${groups
    .slice(0, 4)
    .map((group) => (Number.parseInt(group, 16) || 0).toString(16))
    .join(':')}::/64`;
}

export function isTrusted(list: BlockList | undefined, address: string): boolean {
  if (!list || address === '') return false;
  const family = isIP(address);
  if (family === 0) return false;
  return list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export function clientAddress(peer: string, forwardedFor: string | string[] | undefined, trusted: BlockList | undefined): string {
  if (!isTrusted(trusted, peer) || forwardedFor === undefined) return peer;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor)
    .split(',')
    .map((hop) => normaliseAddress(hop.trim()))
    .filter((hop) => hop !== '');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i] as string;
    if (isIP(hop) === 0) return peer;
    if (!isTrusted(trusted, hop)) return hop;
  }
  return hops[0] ?? peer;
}
