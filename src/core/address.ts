// Which addresses an unauthenticated auto-fetch may reach, and which hosts --allow-host admits.
// Pure: the fetcher resolves DNS itself and asks here about every resolved address on every hop.

export type AddressClass = "public" | "loopback" | "private" | "link-local" | "unique-local" | "unspecified" | "multicast" | "reserved" | "invalid";

function parseIPv4(text: string): number[] | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const bytes = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : NaN));
  return bytes.every((b) => Number.isInteger(b) && b >= 0 && b <= 255) ? bytes : null;
}

/** Eight 16-bit groups, or null. Accepts `::`, a trailing dotted IPv4 and a zone id (dropped). */
function parseIPv6(text: string): number[] | null {
  let t = text.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  let tail: number[] = [];
  const lastColon = t.lastIndexOf(":");
  if (t.slice(lastColon + 1).includes(".")) {
    const v4 = parseIPv4(t.slice(lastColon + 1));
    if (!v4) return null;
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    t = t.slice(0, lastColon + 1) + "x"; // placeholder group for the two v4 groups, expanded below
  }
  const halves = t.split("::");
  if (halves.length > 2) return null;
  const toGroups = (s: string): string[] => (s === "" ? [] : s.split(":"));
  const head = toGroups(halves[0]!);
  const rest = halves.length === 2 ? toGroups(halves[1]!) : [];
  const expand = (g: string[]): number[] | null => {
    const out: number[] = [];
    for (const group of g) {
      if (group === "x") {
        out.push(...tail);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return null;
      out.push(parseInt(group, 16));
    }
    return out;
  };
  const a = expand(head);
  const b = expand(rest);
  if (!a || !b) return null;
  if (halves.length === 1) return a.length === 8 ? a : null;
  const missing = 8 - a.length - b.length;
  if (missing < 1) return null;
  return [...a, ...new Array<number>(missing).fill(0), ...b];
}

function classifyIPv4(b: number[]): AddressClass {
  const [a, b2] = [b[0]!, b[1]!];
  if (a === 0) return "unspecified";
  if (a === 127) return "loopback";
  if (a === 10) return "private";
  if (a === 172 && b2 >= 16 && b2 <= 31) return "private";
  if (a === 192 && b2 === 168) return "private";
  if (a === 100 && b2 >= 64 && b2 <= 127) return "private"; // carrier-grade NAT, inside someone's network
  if (a === 169 && b2 === 254) return "link-local"; // includes the 169.254.169.254 metadata service
  if (a === 192 && b2 === 0 && b[2] === 0) return "reserved";
  if (a === 198 && (b2 === 18 || b2 === 19)) return "reserved";
  // Documentation (TEST-NET-1/2/3) and the retired 6to4 relay anycast: never a real origin.
  if ((a === 192 && b2 === 0 && b[2] === 2) || (a === 198 && b2 === 51 && b[2] === 100) || (a === 203 && b2 === 0 && b[2] === 113)) return "reserved";
  if (a === 192 && b2 === 88 && b[2] === 99) return "reserved";
  if (a >= 224 && a <= 239) return "multicast";
  if (a >= 240) return "reserved";
  return "public";
}

export function classifyAddress(ip: string): AddressClass {
  const v4 = parseIPv4(ip);
  if (v4) return classifyIPv4(v4);
  const g = parseIPv6(ip);
  if (!g) return "invalid";
  const embeddedV4 = (): number[] => [g[6]! >> 8, g[6]! & 255, g[7]! >> 8, g[7]! & 255];
  const allZero = (from: number, to: number): boolean => g.slice(from, to).every((x) => x === 0);
  if (allZero(0, 8)) return "unspecified";
  if (allZero(0, 7) && g[7] === 1) return "loopback";
  if (allZero(0, 5) && g[5] === 0xffff) return classifyIPv4(embeddedV4()); // IPv4-mapped
  if (allZero(0, 4) && g[4] === 0xffff && g[5] === 0) return classifyIPv4(embeddedV4()); // IPv4-translated (SIIT, ::ffff:0:0/96)
  if (allZero(0, 6)) return classifyIPv4(embeddedV4()); // IPv4-compatible (deprecated)
  if (g[0] === 0x64 && g[1] === 0xff9b && allZero(2, 6)) return classifyIPv4(embeddedV4()); // NAT64
  // Local-use NAT64 (RFC 8215): translates into a network of the operator's choosing, with the
  // IPv4 address at a prefix-dependent position; whatever it embeds may be inside the lab.
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) return "private";
  if (g[0] === 0x2002) return classifyIPv4([g[1]! >> 8, g[1]! & 255, g[2]! >> 8, g[2]! & 255]); // 6to4
  if ((g[0]! & 0xffc0) === 0xfe80) return "link-local";
  if ((g[0]! & 0xfe00) === 0xfc00) return "unique-local";
  if ((g[0]! & 0xffc0) === 0xfec0) return "private"; // deprecated site-local
  if ((g[0]! & 0xff00) === 0xff00) return "multicast";
  if (g[0] === 0x100 && allZero(1, 4)) return "reserved"; // discard-only 100::/64
  if (g[0] === 0x2001 && g[1]! < 0x200) return "reserved"; // IETF protocol assignments 2001::/23 (Teredo, benchmarking, ORCHID)
  if (g[0] === 0x2001 && g[1] === 0xdb8) return "reserved"; // documentation 2001:db8::/32
  if ((g[0]! & 0xfff0) === 0x3ff0) return "reserved"; // documentation 3fff::/20
  return "public";
}

export function isPublicAddress(ip: string): boolean {
  return classifyAddress(ip) === "public";
}

/**
 * The network a client address speaks for, for per-client limits: an IPv4 address itself (also
 * when written IPv4-mapped), an IPv6 address's /64 (one host commonly holds a whole /64 and can
 * pick any address in it). Anything else is returned as is.
 */
export function clientNetwork(address: string): string {
  if (parseIPv4(address)) return address;
  const g = parseIPv6(address);
  if (!g) return address;
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return [g[6]! >> 8, g[6]! & 255, g[7]! >> 8, g[7]! & 255].join(".");
  return `${g.slice(0, 4).map((x) => x.toString(16)).join(":")}::/64`;
}

/** Is the literal host an IP address (v4, or v6 with or without brackets)? */
export function isIpLiteral(host: string): boolean {
  return parseIPv4(host) !== null || parseIPv6(host) !== null;
}

/**
 * --allow-host patterns: `example.com` matches that host exactly; `*.example.com` matches any
 * subdomain (not the apex); `*` matches everything. Case-insensitive, no ports.
 */
export function hostAllowed(host: string, patterns: readonly string[]): boolean {
  if (patterns.length === 0) return true;
  // IPv6 literals compare without brackets (callers pass the URL's hostname either way).
  const h = host.toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "");
  return patterns.some((raw) => {
    const p = raw.toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "");
    if (p === "*") return true;
    if (p.startsWith("*.")) return h.endsWith(p.slice(1)) && h.length > p.length - 1;
    return h === p;
  });
}

export function validHostPattern(pattern: string): boolean {
  return /^(\*|(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])$/i.test(pattern);
}
