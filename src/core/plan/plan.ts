// The shim planner: find URLs in a curl/wget argv exactly as the tool would, and decide the
// final argv from probe outcomes. Pure: no env, fs or network. The rules are specified in
// ./README.md; the Zig shim implements the same rules from the same tool-options.json.
import optionsJson from "../tool-options.json" with { type: "json" };
import { encodeToken } from "../token.ts";

export type Tool = "curl" | "wget";
/** `hit-redirected`: a hit whose fill followed a redirect (the cache-host sends X-Withcache-Redirected: 1). */
export type ProbeOutcome = "hit" | "hit-redirected" | "miss" | "unreachable";

/** One tool's table in tool-options.json (keys documented in ./README.md). */
type ToolTable = {
  short_with_value: string;
  short_flags: string;
  long_with_value: string[];
  long_flags: string[];
  long_abbreviations: boolean;
  long_equals_value: boolean;
  flags_accept_equals_value: boolean;
  no_prefix_negates_flags: boolean;
  url_long: string[];
  globoff_short: string;
  globoff_long: string[];
  glob_chars: string;
  credential_short: string;
  credential_long: string[];
  header_short: string;
  header_long: string[];
  credential_headers: string[];
  passthrough_headers: string[];
  method_short: string;
  method_long: string[];
  method_allowed: string[];
  passthrough_short: string;
  passthrough_long: string[];
  execute_short: string;
  execute_long: string[];
  execute_passthrough: string[];
  execute_credentials: string[];
  execute_header: string[];
  protocols_long: string[];
  redirects_followed_by_default: boolean;
  redirect_follow_short: string;
  redirect_follow_long: string[];
  redirect_max_long: string[];
  execute_redirect_max: string[];
};
const TABLES: Record<Tool, ToolTable> = { curl: optionsJson.curl, wget: optionsJson.wget };
export const PLAN_LIMITS = optionsJson.limits;

/** Where a URL sits in argv: the whole element, or the value after a `--url=` prefix. */
export type UrlOccurrence = { index: number; prefix: string; url: string };

/** One argv element's fate when credentials are dropped: remove it, or rewrite a short bundle. */
type CredentialEdit = { index: number; letters: number[] } | { index: number; whole: true };

export type Scan =
  | { kind: "passthrough"; reason: string }
  | {
      kind: "scan";
      urls: UrlOccurrence[];
      credentialEdits: CredentialEdit[];
      globoff: boolean;
      /** Cache schemes some curl `--proto` forbids: a cache URL there would be refused (exit 1). */
      protoDenies: { http: boolean; https: boolean };
      /** The tool follows redirects itself (curl -L, wget unless --max-redirect=0): a redirected hit may be used. */
      followsRedirects: boolean;
    };

const FALSE_VALUES = new Set(["off", "no", "0"]);

type Resolved =
  | { ok: true; name: string; takesValue: boolean; negated: boolean }
  | { ok: false; reason: string };

function resolveLong(table: ToolTable, name: string): Resolved {
  if (table.long_with_value.includes(name)) return { ok: true, name, takesValue: true, negated: false };
  if (table.long_flags.includes(name)) return { ok: true, name, takesValue: false, negated: false };
  if (table.no_prefix_negates_flags && name.startsWith("no-") && table.long_flags.includes(name.slice(3))) {
    return { ok: true, name: name.slice(3), takesValue: false, negated: true };
  }
  if (table.long_abbreviations && name.length > 0) {
    const hits = [...table.long_with_value, ...table.long_flags].filter((n) => n.startsWith(name));
    if (hits.length === 1) return resolveLong(table, hits[0]!);
    if (hits.length > 1) return { ok: false, reason: `option --${name} is ambiguous` };
  }
  return { ok: false, reason: `option --${name} is unknown` };
}

/**
 * What a request header does to the plan: a credential (dropped on an all-hit), one that selects
 * the representation or conditions the answer (`Accept`, `Host`, `If-None-Match`, …: the cache
 * keys by URL alone, so it could serve another representation) → pass-through, else nothing.
 */
function headerEffect(table: ToolTable, value: string): "none" | "passthrough" | "credential" {
  if (value.startsWith("@")) return "passthrough"; // curl reads headers from a file: contents unknown
  const end = value.search(/[:;]/);
  const name = (end < 0 ? value : value.slice(0, end)).trim().toLowerCase();
  if (table.passthrough_headers.includes(name)) return "passthrough";
  return table.credential_headers.includes(name) ? "credential" : "none";
}

/**
 * Would curl's `--proto LIST` allow `scheme`? Each token is `[=+-]*name` (the last modifier wins;
 * none means `+`), applied left to right to the set of all protocols: `=x` only x, `+x` add,
 * `-x` remove, `all` every protocol. Anything else (empty tokens, spaces, upper case) counts as
 * forbidding it, so the command passes through and curl judges the list itself.
 */
export function protoAllows(list: string, scheme: "http" | "https"): boolean {
  let allowed = true;
  for (const token of list.split(",")) {
    const match = /^([=+-]*)([a-z0-9]+)$/.exec(token);
    if (match === null) return false;
    const action = match[1]!.slice(-1) || "+";
    const name = match[2]!;
    if (name === "all") allowed = action !== "-";
    else if (action === "=") allowed = name === scheme;
    else if (name === scheme) allowed = action === "+";
  }
  return allowed;
}

/**
 * Does a redirect limit (curl `--max-redirs N`, wget `--max-redirect=N`) let the tool follow one?
 * Only a plain integer other than zero does (`-1` is curl's "no limit"); anything else counts as
 * no, so an odd value makes a redirected hit pass through rather than be served.
 */
export function redirectLimitAllows(value: string): boolean {
  return /^-?[0-9]+$/.test(value) && /[1-9]/.test(value);
}

/** A wget `-e COMMAND` split as wgetrc reads it: name trimmed, lower-cased, `-`/`_` removed; value trimmed. */
function executeParts(command: string): { name: string; value: string } {
  const eq = command.indexOf("=");
  const name = (eq < 0 ? command : command.slice(0, eq)).trim().toLowerCase().replace(/[-_]/g, "");
  const value = eq < 0 ? "" : command.slice(eq + 1).trim();
  return { name, value };
}

/** What a wget `-e COMMAND` does to the plan: nothing, force pass-through, or carry credentials. */
function executeEffect(table: ToolTable, { name, value }: { name: string; value: string }): "none" | "passthrough" | "credential" {
  if (table.execute_header.includes(name)) return headerEffect(table, value);
  if (FALSE_VALUES.has(value.toLowerCase())) return "none";
  if (table.execute_passthrough.includes(name)) return "passthrough";
  if (table.execute_credentials.includes(name)) return "credential";
  return "none";
}

type OptionUse = {
  short?: string; // the letter when used as a short option
  long?: string; // the resolved long name
  on: boolean; // flag is set (not negated, not =off); always true for value options
  value: string | undefined; // the option's value, if it takes one
};

function isListed(table: ToolTable, use: OptionUse, shortKey: keyof ToolTable, longKey: keyof ToolTable): boolean {
  if (use.short !== undefined) return (table[shortKey] as string).includes(use.short);
  return (table[longKey] as string[]).includes(use.long!);
}

/** Walk argv as the tool does and collect URL occurrences, credential edits and pass-through reasons. */
export function scanArgv(tool: Tool, argv: readonly string[]): Scan {
  const table = TABLES[tool];
  if (argv.length > PLAN_LIMITS.argv_count_max) return { kind: "passthrough", reason: "too many arguments" };
  for (const arg of argv) {
    if (Buffer.byteLength(arg, "utf8") > PLAN_LIMITS.arg_bytes_max) return { kind: "passthrough", reason: "argument too long" };
  }
  const urls: UrlOccurrence[] = [];
  const credentialEdits: CredentialEdit[] = [];
  let globoff = false;
  let endOfOptions = false;
  const protoDenies = { http: false, https: false };
  // The last option that turns following on/off wins, and so does the last redirect limit.
  let followOption = table.redirects_followed_by_default;
  let limitAllows = true;

  // Apply one option's meaning. Returns a pass-through reason, or undefined to continue.
  const apply = (use: OptionUse, credentialEdit: () => void): string | undefined => {
    if (isListed(table, use, "passthrough_short", "passthrough_long") && use.on) {
      return `option ${use.short !== undefined ? "-" + use.short : "--" + use.long} passes through`;
    }
    if (isListed(table, use, "method_short", "method_long")) {
      if (!table.method_allowed.includes(use.value!)) return `method ${use.value} passes through`;
    }
    if (isListed(table, use, "globoff_short", "globoff_long")) globoff = use.on;
    if (use.long !== undefined && table.protocols_long.includes(use.long)) {
      if (!protoAllows(use.value!, "http")) protoDenies.http = true;
      if (!protoAllows(use.value!, "https")) protoDenies.https = true;
    }
    if (isListed(table, use, "redirect_follow_short", "redirect_follow_long")) followOption = use.on;
    if (use.long !== undefined && table.redirect_max_long.includes(use.long)) limitAllows = redirectLimitAllows(use.value!);
    if (use.long !== undefined && table.url_long.includes(use.long)) return undefined;
    if (isListed(table, use, "execute_short", "execute_long")) {
      const command = executeParts(use.value!);
      if (table.execute_redirect_max.includes(command.name)) limitAllows = redirectLimitAllows(command.value);
      const effect = executeEffect(table, command);
      if (effect === "passthrough") return `-e ${use.value} passes through`;
      if (effect === "credential") credentialEdit();
      return undefined;
    }
    if (isListed(table, use, "header_short", "header_long")) {
      const effect = headerEffect(table, use.value!);
      if (effect === "passthrough") return `header ${use.value} passes through`;
      if (effect === "credential") credentialEdit();
      return undefined;
    }
    if (isListed(table, use, "credential_short", "credential_long") && use.on) credentialEdit();
    return undefined;
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const isOption = !endOfOptions && arg.startsWith("-") && (arg !== "-" || tool === "curl");
    if (!isOption) {
      urls.push({ index: i, prefix: "", url: arg });
      continue;
    }
    if (arg === "--") {
      endOfOptions = true;
      continue;
    }
    if (arg === "-") return { kind: "passthrough", reason: "option - is unknown" }; // curl only; wget reads it as an operand
    if (arg.startsWith("--")) {
      let name = arg.slice(2);
      let attached: string | undefined;
      const eq = name.indexOf("=");
      if (table.long_equals_value && eq >= 0) {
        attached = name.slice(eq + 1);
        name = name.slice(0, eq);
      }
      const resolved = resolveLong(table, name);
      if (!resolved.ok) return { kind: "passthrough", reason: resolved.reason };
      let value: string | undefined;
      let valueIndex: number | undefined;
      if (resolved.takesValue) {
        if (attached !== undefined) value = attached;
        else {
          if (i + 1 >= argv.length) return { kind: "passthrough", reason: `option --${name} needs a value` };
          valueIndex = ++i;
          value = argv[valueIndex]!;
        }
      } else if (attached !== undefined && !table.flags_accept_equals_value) {
        return { kind: "passthrough", reason: `option --${name} takes no value` };
      }
      const on = resolved.takesValue || (!resolved.negated && !resolved.name.startsWith("no-") && !(attached !== undefined && FALSE_VALUES.has(attached.toLowerCase())));
      const use: OptionUse = { long: resolved.name, on, value };
      const elementIndex = valueIndex === undefined ? i : i - 1;
      if (table.url_long.includes(resolved.name)) {
        if (valueIndex === undefined) urls.push({ index: i, prefix: arg.slice(0, arg.length - value!.length), url: value! });
        else urls.push({ index: valueIndex, prefix: "", url: value! });
      }
      const reason = apply(use, () => {
        credentialEdits.push({ index: elementIndex, whole: true });
        if (valueIndex !== undefined) credentialEdits.push({ index: valueIndex, whole: true });
      });
      if (reason !== undefined) return { kind: "passthrough", reason };
      continue;
    }
    // A bundle of short options: -sSfLo out, -oout, -H'X: y'.
    const bundleIndex = i;
    for (let j = 1; j < arg.length; j++) {
      const letter = arg[j]!;
      if (table.short_with_value.includes(letter)) {
        let value: string;
        let valueIndex: number | undefined;
        if (j + 1 < arg.length) value = arg.slice(j + 1);
        else {
          if (i + 1 >= argv.length) return { kind: "passthrough", reason: `option -${letter} needs a value` };
          valueIndex = ++i;
          value = argv[valueIndex]!;
        }
        const letterAt = j;
        const reason = apply({ short: letter, on: true, value }, () => {
          // Drop the letter and everything after it in the bundle (its attached value).
          const letters: number[] = [];
          for (let k = letterAt; k < arg.length; k++) letters.push(k);
          credentialEdits.push({ index: bundleIndex, letters });
          if (valueIndex !== undefined) credentialEdits.push({ index: valueIndex, whole: true });
        });
        if (reason !== undefined) return { kind: "passthrough", reason };
        break;
      }
      if (table.short_flags.includes(letter)) {
        const letterAt = j;
        const reason = apply({ short: letter, on: true, value: undefined }, () => {
          credentialEdits.push({ index: bundleIndex, letters: [letterAt] });
        });
        if (reason !== undefined) return { kind: "passthrough", reason };
        continue;
      }
      return { kind: "passthrough", reason: `option -${letter} is unknown` };
    }
  }
  return { kind: "scan", urls, credentialEdits, globoff, protoDenies, followsRedirects: followOption && limitAllows };
}

export type UrlParts = { tokenUrl: string; basename: string; query: string };

/** Split a candidate URL for the cache URL, or say why it must pass through. Raw-string rules (see README). */
export function candidateParts(tool: Tool, url: string, options: { globoff: boolean }): UrlParts | undefined {
  const table = TABLES[tool];
  if (Buffer.byteLength(url, "utf8") > PLAN_LIMITS.url_bytes_max) return undefined;
  const lower = url.slice(0, 8).toLowerCase();
  const schemeLength = lower.startsWith("http://") ? 7 : lower.startsWith("https://") ? 8 : 0;
  if (schemeLength === 0) return undefined;
  for (let k = 0; k < url.length; k++) {
    const code = url.charCodeAt(k);
    if (code <= 0x20 || code === 0x7f || code === 0x5c) return undefined; // space, controls, backslash
  }
  if (!options.globoff) {
    const globbed = url.slice(ipv6HostEnd(url, schemeLength));
    for (const c of table.glob_chars) if (globbed.includes(c)) return undefined;
  }
  const hash = url.indexOf("#");
  const tokenUrl = hash < 0 ? url : url.slice(0, hash);
  const questionMark = tokenUrl.indexOf("?");
  const beforeQuery = questionMark < 0 ? tokenUrl : tokenUrl.slice(0, questionMark);
  const query = questionMark < 0 ? "" : tokenUrl.slice(questionMark);
  const afterScheme = beforeQuery.slice(schemeLength);
  const slash = afterScheme.indexOf("/");
  const authority = slash < 0 ? afterScheme : afterScheme.slice(0, slash);
  if (authority === "" || authority.includes("@")) return undefined; // no host, or credentials in the URL
  const path = slash < 0 ? "" : afterScheme.slice(slash);
  const basename = path.slice(path.lastIndexOf("/") + 1);
  if (basename === "." || basename === "..") return undefined;
  return { tokenUrl, basename, query };
}

/**
 * Index just past the host when it is a bracketed IPv6 address (`http://[::1]:8080/x`), else 0.
 * curl does not glob such a host (it checks each `[…]` for an IPv6 address first), so its
 * brackets are not glob characters; any other `[` `]` `{` `}` in the URL still are.
 */
function ipv6HostEnd(url: string, schemeLength: number): number {
  if (url[schemeLength] !== "[") return 0;
  const close = url.indexOf("]", schemeLength);
  if (close < 0 || !isIpv6Address(url.slice(schemeLength + 1, close))) return 0;
  return close + 1;
}

/**
 * RFC 4291 text form: eight groups of 1–4 hex digits, or fewer around one `::`; the last 32 bits
 * may be a dotted IPv4 address (no leading zeros). No zone id. A subset of what inet_pton (and so
 * curl) accepts, so anything accepted here curl takes as an address too.
 */
export function isIpv6Address(text: string): boolean {
  const halves = text.split("::");
  if (halves.length === 1) return ipv6Groups(text, { ipv4Tail: true }) === 8;
  if (halves.length !== 2) return false;
  const head = ipv6Groups(halves[0]!, { ipv4Tail: false });
  const tail = ipv6Groups(halves[1]!, { ipv4Tail: true });
  return head !== undefined && tail !== undefined && head + tail <= 7;
}

/** 16-bit groups in a `:`-separated run (a dotted IPv4 tail counts 2); undefined if malformed. */
function ipv6Groups(run: string, options: { ipv4Tail: boolean }): number | undefined {
  if (run === "") return 0;
  const groups = run.split(":");
  let count = 0;
  for (let k = 0; k < groups.length; k++) {
    const group = groups[k]!;
    if (options.ipv4Tail && k === groups.length - 1 && group.includes(".")) {
      const octets = group.split(".");
      if (octets.length !== 4 || !octets.every((o) => /^(0|[1-9][0-9]{0,2})$/.test(o) && Number(o) <= 255)) return undefined;
      count += 2;
    } else if (/^[0-9a-fA-F]{1,4}$/.test(group)) count += 1;
    else return undefined;
  }
  return count;
}

/** The server setting (host, host:port or full URL) as a base URL without a trailing slash. */
export function serverBaseUrl(server: string): string {
  let base: string;
  if (/^https?:\/\//i.test(server)) base = server;
  else {
    const slash = server.indexOf("/");
    const hostPort = slash < 0 ? server : server.slice(0, slash);
    const rest = slash < 0 ? "" : server.slice(slash);
    const hasPort = hostPort.startsWith("[") ? hostPort.includes("]:") : hostPort.includes(":");
    base = `http://${hostPort}${hasPort ? "" : `:${DEFAULT_SERVER_PORT}`}${rest}`;
  }
  return base.replace(/\/+$/, "");
}

/** `withcache serve` listens here by default, so a bare host means that port. */
export const DEFAULT_SERVER_PORT = 3000;

export function cacheUrlFor(serverBase: string, parts: UrlParts): string {
  return `${serverBase}/b/${encodeToken(parts.tokenUrl)}/${parts.basename}${parts.query}`;
}

/** A plan before probing: the distinct cache URLs to probe, keyed by the origin URL as typed. */
export type Plan = {
  tool: Tool;
  argv: readonly string[];
  scan: Scan;
  /** origin URL (raw) → cache URL; only candidates. Empty means: exec at once, no probes. */
  probes: Map<string, string>;
};

export function preparePlan(tool: Tool, argv: readonly string[], serverBase: string): Plan {
  const scan = scanArgv(tool, argv);
  const probes = new Map<string, string>();
  const cacheScheme = /^https:/i.test(serverBase) ? "https" : "http";
  if (scan.kind === "scan" && !scan.protoDenies[cacheScheme]) {
    for (const occurrence of scan.urls) {
      if (probes.has(occurrence.url)) continue;
      const parts = candidateParts(tool, occurrence.url, { globoff: scan.globoff });
      if (parts === undefined) continue;
      const cacheUrl = cacheUrlFor(serverBase, parts);
      // A longer cache URL would not fit the cache-host's request head: it could never hit.
      if (Buffer.byteLength(cacheUrl, "utf8") > PLAN_LIMITS.cache_url_bytes_max) continue;
      probes.set(occurrence.url, cacheUrl);
    }
    if (probes.size > PLAN_LIMITS.candidates_max) probes.clear();
  }
  return { tool, argv, scan, probes };
}

/** The final argv (without argv[0]) given each probed URL's outcome. Unprobed URLs count as misses. */
export function finishPlan(plan: Plan, outcomes: ReadonlyMap<string, ProbeOutcome>): string[] {
  const { scan, argv, probes } = plan;
  if (scan.kind !== "scan" || probes.size === 0) return [...argv];
  // A redirected hit serves the final file: only right when the tool would follow the redirect.
  const isHit = (url: string): boolean => {
    const outcome = probes.has(url) ? outcomes.get(url) : undefined;
    return outcome === "hit" || (outcome === "hit-redirected" && scan.followsRedirects);
  };
  if (!scan.urls.some((u) => isHit(u.url))) return [...argv];
  if (scan.credentialEdits.length > 0 && !scan.urls.every((u) => isHit(u.url))) return [...argv];
  const out: (string | undefined)[] = [...argv];
  for (const occurrence of scan.urls) {
    if (isHit(occurrence.url)) out[occurrence.index] = occurrence.prefix + probes.get(occurrence.url)!;
  }
  const lettersToDrop = new Map<number, Set<number>>();
  for (const edit of scan.credentialEdits) {
    if ("whole" in edit) out[edit.index] = undefined;
    else {
      const set = lettersToDrop.get(edit.index) ?? new Set<number>();
      for (const k of edit.letters) set.add(k);
      lettersToDrop.set(edit.index, set);
    }
  }
  for (const [index, letters] of lettersToDrop) {
    const arg = argv[index]!;
    let kept = "-";
    for (let k = 1; k < arg.length; k++) if (!letters.has(k)) kept += arg[k];
    out[index] = out[index] === undefined || kept === "-" ? undefined : kept;
  }
  return out.filter((a): a is string => a !== undefined);
}

/** Convenience for tests and the corpus: plan with every candidate given the same outcome. */
export function planAll(tool: Tool, argv: readonly string[], serverBase: string, outcome: ProbeOutcome): string[] {
  const plan = preparePlan(tool, argv, serverBase);
  const outcomes = new Map<string, ProbeOutcome>();
  for (const url of plan.probes.keys()) outcomes.set(url, outcome);
  return finishPlan(plan, outcomes);
}
