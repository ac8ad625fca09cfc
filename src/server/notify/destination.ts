import { lookup as dnsLookup } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import type { LookupFunction } from 'node:net';
import { UsageError } from '../../core/errors.js';
import { NOTIFY } from '../../core/notifications.js';

/**
 * Where the service may send notifications. An admin of an account registers the URL; the operator decides which
 * networks the service may reach: by default only public addresses, over HTTPS. Loopback, private, link-local and
 * other addresses that are not public are refused unless the operator allows them (`serve --webhook-allow` or
 * TOKENCTL_WEBHOOK_ALLOW: `loopback`, `private`, `link-local`, or addresses and CIDR ranges); plain http:// only to
 * a loopback host. Names are resolved at every attempt and the connection goes to an address that was checked (a
 * name that changes its answer between check and use cannot send a request elsewhere).
 */

type Family = 'ipv4' | 'ipv6';
const RANGES: Record<'loopback' | 'private' | 'link-local' | 'reserved', [string, number, Family][]> = {
  loopback: [
    ['127.0.0.0', 8, 'ipv4'],
    ['::1', 128, 'ipv6'],
  ],
  private: [
    ['10.0.0.0', 8, 'ipv4'],
    ['172.16.0.0', 12, 'ipv4'],
    ['192.168.0.0', 16, 'ipv4'],
    ['100.64.0.0', 10, 'ipv4'],
    ['fc00::', 7, 'ipv6'],
  ],
  'link-local': [
    ['169.254.0.0', 16, 'ipv4'],
    ['fe80::', 10, 'ipv6'],
  ],
  // Never reachable for a notification: "this network", documentation, benchmarking, multicast, reserved, broadcast.
  reserved: [
    ['0.0.0.0', 8, 'ipv4'],
    ['192.0.0.0', 24, 'ipv4'],
    ['192.0.2.0', 24, 'ipv4'],
    ['198.18.0.0', 15, 'ipv4'],
    ['198.51.100.0', 24, 'ipv4'],
    ['203.0.113.0', 24, 'ipv4'],
    ['224.0.0.0', 4, 'ipv4'],
    ['240.0.0.0', 4, 'ipv4'],
    ['::', 128, 'ipv6'],
    ['100::', 64, 'ipv6'],
    ['2001:db8::', 32, 'ipv6'],
    ['ff00::', 8, 'ipv6'],
  ],
};

const listOf = (ranges: [string, number, Family][]) => {
  const list = new BlockList();
  for (const [address, prefix, family] of ranges) list.addSubnet(address, prefix, family);
  return list;
};
const CATEGORY = Object.fromEntries(Object.entries(RANGES).map(([name, ranges]) => [name, listOf(ranges)])) as Record<keyof typeof RANGES, BlockList>;

/** The operator's choice: which networks beyond the public internet notifications may reach. */
export interface DestinationPolicy {
  allowed: BlockList;
  /** As given, for messages. */
  allowedText: string;
}

export const PUBLIC_ONLY: DestinationPolicy = { allowed: new BlockList(), allowedText: '' };

/** `loopback,private,10.1.2.0/24,...` as a policy; a usage error names what is not understood. */
export function destinationPolicy(entries: readonly string[]): DestinationPolicy {
  const allowed = new BlockList();
  for (const raw of entries.map((e) => e.trim()).filter(Boolean)) {
    const keyword = raw.toLowerCase().replace('linklocal', 'link-local');
    if (keyword === 'loopback' || keyword === 'private' || keyword === 'link-local') {
      for (const [address, prefix, family] of RANGES[keyword]) allowed.addSubnet(address, prefix, family);
      continue;
    }
    const [address = '', prefixText] = raw.split('/');
    const version = isIP(address);
    const max = version === 6 ? 128 : 32;
    const prefix = prefixText === undefined ? max : Number(prefixText);
    if (version === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d+$/.test(prefixText))) {
      throw new UsageError(`--webhook-allow: '${raw.slice(0, 60)}' is not loopback, private, link-local, an address or a CIDR range (e.g. 10.1.0.0/16)`);
    }
    allowed.addSubnet(address, prefix, version === 6 ? 'ipv6' : 'ipv4');
  }
  return { allowed, allowedText: entries.join(',') };
}

const unbracket = (host: string) => (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host);

/** An IPv4-mapped IPv6 address is judged as the IPv4 address it is. */
function normalise(address: string): { address: string; family: Family } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1]!, family: 'ipv4' };
  return { address, family: isIP(address) === 6 ? 'ipv6' : 'ipv4' };
}

/** Why the service may not connect to `address`, or null when it may. */
export function addressRefusal(rawAddress: string, policy: DestinationPolicy): string | null {
  const { address, family } = normalise(rawAddress);
  if (CATEGORY.reserved.check(address, family)) return `${rawAddress} is a reserved address, never a notification's destination`;
  for (const category of ['loopback', 'private', 'link-local'] as const) {
    if (CATEGORY[category].check(address, family) && !policy.allowed.check(address, family)) {
      return `${rawAddress} is a ${category} address; the service's operator has not allowed it (serve --webhook-allow ${category})`;
    }
  }
  return null;
}

const isLoopbackHost = (host: string) => host === 'localhost' || (isIP(host) !== 0 && CATEGORY.loopback.check(normalise(host).address, normalise(host).family));

/**
 * A URL an admin may register, checked by its text: https:// (http:// only to a loopback host), no credentials, no
 * fragment, at most 2,048 characters. Its addresses are checked when resolved (checkResolves, checkedLookup).
 */
export function checkWebhookUrl(text: string): URL {
  const trimmed = text.trim();
  if (trimmed.length > NOTIFY.maxUrlLength) throw new UsageError(`the URL is longer than ${NOTIFY.maxUrlLength} characters`);
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw new UsageError(`'${trimmed.slice(0, 100)}' is not a URL; give the receiver's https:// URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError('a webhook URL must start with https://');
  if (url.protocol === 'http:' && !isLoopbackHost(unbracket(url.hostname))) {
    throw new UsageError('a webhook URL must use https:// (plain http:// only to this machine, for testing): notifications cross the network');
  }
  if (url.username || url.password) throw new UsageError('put no credentials in a webhook URL: the receiver verifies the signature instead');
  if (url.hash) throw new UsageError('a webhook URL takes no #fragment');
  return url;
}

/** Resolves the URL's host now and checks every address (a refusal or a name that does not resolve is a usage error). */
export async function checkResolves(url: URL, policy: DestinationPolicy): Promise<void> {
  const host = unbracket(url.hostname);
  const addresses = isIP(host) !== 0 ? [host] : await resolveAll(host).catch(() => null);
  if (addresses === null || addresses.length === 0) throw new UsageError(`the host ${host} does not resolve; check the URL`);
  for (const a of addresses) {
    const refusal = addressRefusal(a, policy);
    if (refusal) throw new UsageError(`cannot send notifications to ${host}: ${refusal}`);
  }
  if (url.protocol === 'http:' && addresses.some((a) => !CATEGORY.loopback.check(normalise(a).address, normalise(a).family))) {
    throw new UsageError('plain http:// is only for this machine; use https://');
  }
}

function resolveAll(host: string): Promise<string[]> {
  return new Promise((resolve, reject) => dnsLookup(host, { all: true, verbatim: true }, (error, addresses) => (error ? reject(error) : resolve(addresses.map((a) => a.address)))));
}

/** A refused destination, as the delivery log says it. */
export class RefusedDestinationError extends Error {
  readonly code = 'EREFUSEDDESTINATION';
}

/**
 * node:http's `lookup` for an attempt: resolves the name, refuses it when any of its addresses is not allowed (or is not
 * loopback for plain http), and hands back only checked addresses, so the connection goes where the check looked.
 */
export function checkedLookup(policy: DestinationPolicy, loopbackOnly: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => {
      if (error) return callback(error, '');
      const list = addresses.filter((a) => options.family === undefined || options.family === 0 || a.family === options.family);
      for (const a of list) {
        const refusal =
          addressRefusal(a.address, policy) ??
          (loopbackOnly && !CATEGORY.loopback.check(normalise(a.address).address, normalise(a.address).family) ? `${a.address} is not this machine (plain http:// is for loopback only)` : null);
        if (refusal) return callback(new RefusedDestinationError(refusal), '');
      }
      if (list.length === 0) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '');
      if (options.all) return callback(null, list);
      return callback(null, list[0]!.address, list[0]!.family);
    });
  };
}
