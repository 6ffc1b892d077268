// The serve configuration: one zod schema, four sources. Precedence flags > env > file > defaults,
// and every value remembers where it came from (so errors and the startup line can say so).
// Secrets (admin password, session secret) come from the environment only, never from a flag.
import { z } from "zod";
import { parseDuration } from "../core/duration.ts";
import { parseMinFreeDisk, parseSize } from "../core/size.ts";
import { validHostPattern } from "../core/address.ts";
import { RuleSet } from "../core/rules.ts";
import { parseBlobStoreUrl } from "../core/blob-store-url.ts";
import { parseDatabaseUrl } from "../core/database-url.ts";

function isBlobStoreUrl(raw: string): boolean {
  try {
    parseBlobStoreUrl(raw);
    return true;
  } catch {
    return false;
  }
}

/** `--metrics`: on = unauthenticated (like /healthz), token = an API token is needed, off = 404. */
export const METRICS_MODES = ["on", "token", "off"] as const;
export type MetricsMode = (typeof METRICS_MODES)[number];

export const ServeConfigSchema = z.strictObject({
  dataDir: z.string().min(1),
  host: z.string().min(1),
  port: z.number().int().min(0).max(65535),
  workers: z.number().int().min(1).max(64),
  curate: z.boolean(),
  keepQuery: z.boolean(),
  allowPrivateOrigins: z.boolean(),
  allowHosts: z.array(z.string()),
  trustProxy: z.boolean(),
  /** Names the operator UI answers to without a password, besides IPs, localhost and the hostname. */
  uiHosts: z.array(z.string()),
  adminPassword: z.string().optional(),
  sessionSecret: z.string().optional(),
  /** Redirect hops a fill follows before failing. */
  maxRedirects: z.number().int().min(0).max(50),
  /** Attempts per fill for transient errors (connect failure, reset, 5xx, truncation). */
  fillAttempts: z.number().int().min(1).max(100),
  fillBackoffMs: z.number().int().min(0),
  fillBackoffMaxMs: z.number().int().min(0),
  /** A fill that receives no bytes for this long is treated as a reset. */
  originIdleTimeoutMs: z.number().int().min(1),
  /** SIGTERM: how long in-flight client downloads may run before they are cut. */
  drainTimeoutMs: z.number().int().min(0),
  /** Largest artifact a fill accepts; 0 = unlimited. */
  maxArtifactBytes: z.number().int().min(0),
  /** Free space a fill must leave on the data dir's filesystem: "auto", a size or "N%" (parse with parseMinFreeDisk). */
  minFreeDisk: z.string().refine((s) => parseMinFreeDisk(s).ok, { message: "expected auto, a size or a percentage" }),
  /** Total bytes of blobs kept; least recently used artifacts are evicted past it. 0 = unlimited. */
  maxCacheBytes: z.number().int().min(0),
  /** A URL the origin would not let us store (no-store, private, Set-Cookie, 4xx) is not fetched again for this long. */
  uncacheableRetryMs: z.number().int().min(0),
  /** Cap on the heuristic lifetime (10 % of the time since Last-Modified). */
  heuristicMaxMs: z.number().int().min(0),
  /** Lifetime of a response with neither freshness nor a validator. */
  defaultMaxAgeMs: z.number().int().min(0),
  /** How long a probe of a stale artifact waits for its revalidation before answering a miss. */
  revalidateWaitMs: z.number().int().min(0),
  /** How long a probe of an unknown key waits for its new fill's origin headers before answering a miss. */
  firstByteWaitMs: z.number().int().min(0),
  eventRetentionMs: z.number().int().min(0),
  /** How long past its lifetime a stale copy may be served while the origin is down; 0 = never. */
  maxStaleMs: z.number().int().min(0),
  /** Where blobs live: "" = <data-dir>/blobs, or s3://bucket/prefix (parse with parseBlobStoreUrl). */
  blobStore: z.string().refine((s) => isBlobStoreUrl(s), { message: "expected s3://bucket/prefix" }),
  database: z.string(),
  advertiseUrl: z.string(),
  jobLeaseMs: z.number().int().min(500),
  /** With an S3 blob store: bytes of local copies of hot blobs kept in the data dir. */
  localCacheBytes: z.number().int().min(0),
  /** Operator freshness rules, PATTERN=POLICY, first match wins (parse with RuleSet.parse). */
  rules: z.array(z.string()).refine((r) => RuleSet.parse(r).ok, { message: "invalid rule" }),
  /** /metrics: open like /healthz, behind an API token, or not served (404). */
  metrics: z.enum(METRICS_MODES),
});
export type ServeConfig = z.infer<typeof ServeConfigSchema>;
export type ConfigKey = keyof ServeConfig;
export type ConfigSource = "flag" | "env" | "file" | "default";

type Kind = "string" | "port" | "count" | "bool" | "hosts" | "duration" | "size" | "free" | "rules" | "blob-store" | "database" | "choice";
type Field = {
  key: ConfigKey;
  kind: Kind;
  flag: string | null;
  env: string;
  min?: number;
  /** The values a "choice" setting accepts (case-insensitive), as --help and errors list them. */
  choices?: readonly string[];
  /** What the setting does, for `serve --help` and the README reference; the env variable and
   *  the default are appended from this table and defaultServeConfig() (src/cli/serve.ts). */
  help: string;
};

/** The table of settings: flag name, env name, kind, help. Defaults are in defaultServeConfig(). */
export const FIELDS: readonly Field[] = [
  { key: "dataDir", kind: "string", flag: "--data-dir", env: "WITHCACHE_DATA_DIR", help: "where blobs, temp files and the database live" },
  { key: "host", kind: "string", flag: "--host", env: "WITHCACHE_HOST", help: "address to listen on" },
  { key: "port", kind: "port", flag: "--port", env: "WITHCACHE_PORT", help: "port to listen on, 0 = any free port" },
  { key: "workers", kind: "count", flag: "--workers", env: "WITHCACHE_WORKERS", min: 1, help: "concurrent background fills" },
  { key: "curate", kind: "bool", flag: "--curate", env: "WITHCACHE_CURATE", help: "never fetch on a miss; an operator approves downloads" },
  { key: "keepQuery", kind: "bool", flag: "--keep-query", env: "WITHCACHE_KEEP_QUERY", help: "keep the query string in cache keys" },
  {
    key: "allowPrivateOrigins",
    kind: "bool",
    flag: "--allow-private-origins",
    env: "WITHCACHE_ALLOW_PRIVATE_ORIGINS",
    help: "allow fills from loopback/private/link-local/unique-local origins",
  },
  {
    key: "allowHosts",
    kind: "hosts",
    flag: "--allow-host",
    env: "WITHCACHE_ALLOW_HOSTS",
    help: "auto-fetch only from hosts matching PATTERN (example.com, *.example.com); repeatable",
  },
  { key: "trustProxy", kind: "bool", flag: "--trust-proxy", env: "WITHCACHE_TRUST_PROXY", help: "trust X-Forwarded-For/-Proto/-Host from a reverse proxy" },
  {
    key: "uiHosts",
    kind: "hosts",
    flag: "--ui-host",
    env: "WITHCACHE_UI_HOSTS",
    help: "without a password the operator UI answers only by IP address, localhost or this machine's hostname: also answer as NAME (or *.example.com); repeatable",
  },
  { key: "adminPassword", kind: "string", flag: null, env: "WITHCACHE_ADMIN_PASSWORD", help: "operator login password" },
  { key: "sessionSecret", kind: "string", flag: null, env: "WITHCACHE_SESSION_SECRET", help: "key that signs operator session cookies" },
  { key: "maxRedirects", kind: "count", flag: "--max-redirects", env: "WITHCACHE_MAX_REDIRECTS", min: 0, help: "redirect hops a fill follows" },
  { key: "fillAttempts", kind: "count", flag: "--fill-attempts", env: "WITHCACHE_FILL_ATTEMPTS", min: 1, help: "attempts per fill for transient errors" },
  { key: "fillBackoffMs", kind: "duration", flag: "--fill-backoff", env: "WITHCACHE_FILL_BACKOFF", help: "first retry delay, doubling per attempt" },
  { key: "fillBackoffMaxMs", kind: "duration", flag: "--fill-backoff-max", env: "WITHCACHE_FILL_BACKOFF_MAX", help: "longest retry delay" },
  {
    key: "originIdleTimeoutMs",
    kind: "duration",
    flag: "--origin-idle-timeout",
    env: "WITHCACHE_ORIGIN_IDLE_TIMEOUT",
    help: "give up on an origin that sends nothing for this long",
  },
  { key: "drainTimeoutMs", kind: "duration", flag: "--drain-timeout", env: "WITHCACHE_DRAIN_TIMEOUT", help: "on SIGTERM, how long client downloads may finish" },
  { key: "maxArtifactBytes", kind: "size", flag: "--max-artifact-size", env: "WITHCACHE_MAX_ARTIFACT_SIZE", help: "refuse artifacts larger than this, e.g. 50GiB" },
  {
    key: "minFreeDisk",
    kind: "free",
    flag: "--min-free-disk",
    env: "WITHCACHE_MIN_FREE_DISK",
    help: "free space fills must leave on the data dir's filesystem: a size (2GiB), a percentage (5%), 0 = off, or auto = 5% but at most 1GiB",
  },
  {
    key: "maxCacheBytes",
    kind: "size",
    flag: "--max-cache-size",
    env: "WITHCACHE_MAX_CACHE_SIZE",
    help: "keep the blobs under this total, evicting least recently used artifacts at start and after each fill; bigger artifacts are refused, e.g. 500GiB",
  },
  {
    key: "blobStore",
    kind: "blob-store",
    flag: "--blob-store",
    env: "WITHCACHE_BLOB_STORE",
    help: "where blobs live: unset = <data-dir>/blobs; s3://bucket/prefix = an S3-compatible bucket, reached with AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION",
  },
  {
    key: "database",
    kind: "database",
    flag: "--database",
    env: "WITHCACHE_DATABASE",
    help: "where the rows live: unset = SQLite in the data dir; postgres://user:password@host:port/db = a PostgreSQL shared by several cache-hosts (prefer the environment variable: a flag shows in ps)",
  },
  {
    key: "advertiseUrl",
    kind: "string",
    flag: "--advertise-url",
    env: "WITHCACHE_ADVERTISE_URL",
    help: "with --database postgres://…: the http://host:port other cache-hosts reach this one at (to stream a fill it runs); default http://<host>:<port>, with the machine's host name for 0.0.0.0",
  },
  {
    key: "jobLeaseMs",
    kind: "duration",
    flag: "--job-lease",
    env: "WITHCACHE_JOB_LEASE",
    help: "with --database postgres://…: how long a fill stays claimed by a cache-host that stops renewing it (killed, cut off) before another one takes the job over",
  },
  {
    key: "localCacheBytes",
    kind: "size",
    flag: "--local-cache-bytes",
    env: "WITHCACHE_LOCAL_CACHE_BYTES",
    help: "with an S3 blob store: keep local copies of the most recently used blobs in the data dir up to this total (hits on them are served from disk)",
  },
  {
    key: "rules",
    kind: "rules",
    flag: "--rule",
    env: "WITHCACHE_RULES",
    help: "freshness rule PATTERN=POLICY (URL glob; POLICY origin, immutable, revalidate, never or max-age=DURATION); repeatable, first match wins",
  },
  { key: "maxStaleMs", kind: "duration", flag: "--max-stale", env: "WITHCACHE_MAX_STALE", help: "serve a stale copy this long past its lifetime while the origin is down; 0 = never" },
  {
    key: "revalidateWaitMs",
    kind: "duration",
    flag: "--revalidate-wait",
    env: "WITHCACHE_REVALIDATE_WAIT",
    help: "how long a probe of a stale artifact waits for the origin's answer before it answers a miss (the shim gives up after 1s)",
  },
  {
    key: "firstByteWaitMs",
    kind: "duration",
    flag: "--first-byte-wait",
    env: "WITHCACHE_FIRST_BYTE_WAIT",
    help: "how long a probe of a new URL waits for its fill's first answer from the origin; in time, the client streams the download through the cache (0 = never wait)",
  },
  {
    key: "eventRetentionMs",
    kind: "duration",
    flag: "--event-retention",
    env: "WITHCACHE_EVENT_RETENTION",
    help: "how long the audit log (operator actions, refused logins and hosts) keeps an event; 0 = keep none",
  },
  {
    key: "metrics",
    kind: "choice",
    choices: METRICS_MODES,
    flag: "--metrics",
    env: "WITHCACHE_METRICS",
    help: "Prometheus /metrics: on (no auth, like /healthz: it shows no URL or host), token (needs an API token, Authorization: Bearer) or off (404)",
  },
  { key: "defaultMaxAgeMs", kind: "duration", flag: "--default-max-age", env: "WITHCACHE_DEFAULT_MAX_AGE", help: "lifetime of a response with neither freshness headers nor a validator" },
  { key: "heuristicMaxMs", kind: "duration", flag: "--heuristic-max", env: "WITHCACHE_HEURISTIC_MAX", help: "cap on the heuristic lifetime (10% of the time since Last-Modified)" },
  {
    key: "uncacheableRetryMs",
    kind: "duration",
    flag: "--uncacheable-retry",
    env: "WITHCACHE_UNCACHEABLE_RETRY",
    help: "a URL the origin will not let us store (no-store, private, Set-Cookie, 4xx) is not fetched again for this long",
  },
];

/** A setting's default as `--help` spells it ("1s", "0 = no limit"), or null when there is none
 *  worth saying (an off switch, an empty list, an unset secret). */
export function defaultText(key: ConfigKey): string | null {
  const field = FIELDS.find((f) => f.key === key);
  const value = (defaultServeConfig() as Partial<ServeConfig>)[key];
  if (field === undefined || value === undefined) return null;
  if (typeof value === "boolean") return value ? "on" : null;
  if (value === "") return null;
  if (Array.isArray(value)) return value.length === 0 ? null : value.join(",");
  if (field.kind === "duration" && typeof value === "number") return durationText(value);
  if (field.kind === "size" && value === 0) return "0 = no limit";
  return String(value);
}

export function defaultServeConfig(): ServeConfig {
  return {
    dataDir: "./data",
    host: "0.0.0.0",
    port: 3000,
    workers: 2,
    curate: false,
    keepQuery: false,
    allowPrivateOrigins: false,
    allowHosts: [],
    trustProxy: false,
    uiHosts: [],
    blobStore: "",
    database: "",
    advertiseUrl: "",
    jobLeaseMs: 15_000,
    localCacheBytes: 10 * 1024 ** 3,
    maxRedirects: 10,
    fillAttempts: 5,
    fillBackoffMs: 1000,
    fillBackoffMaxMs: 60_000,
    originIdleTimeoutMs: 60_000,
    drainTimeoutMs: 30_000,
    maxArtifactBytes: 0,
    minFreeDisk: "auto",
    maxCacheBytes: 0,
    // Freshness defaults (README "Freshness" says why): an hour for what says nothing, a day at
    // most by heuristic, a week of outage bridged by stale copies, 600 ms of the shim's 1 s probe.
    uncacheableRetryMs: 3_600_000,
    heuristicMaxMs: 86_400_000,
    defaultMaxAgeMs: 3_600_000,
    revalidateWaitMs: 600,
    firstByteWaitMs: 500,
    eventRetentionMs: 30 * 24 * 60 * 60 * 1000,
    maxStaleMs: 7 * 86_400_000,
    rules: [],
    metrics: "on",
  };
}

/** A duration as a person writes it: the largest unit that divides it (3600000 → "1h"). */
function durationText(ms: number): string {
  if (ms === 0) return "0";
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** The spellings a boolean setting accepts (case-insensitive), as the README lists them. */
const BOOL_TRUE = ["1", "true", "yes", "on"];
const BOOL_FALSE = ["0", "false", "no", "off"];

/** A raw value: strings from flags and env, JSON values from the file. */
type Raw = string | number | boolean | string[];

type Converted = { ok: true; value: unknown } | { ok: false; message: string };

function convert(field: Field, raw: Raw): Converted {
  const text = Array.isArray(raw) ? raw.join(",") : String(raw);
  const shown = JSON.stringify(text);
  switch (field.kind) {
    case "string":
      return typeof raw === "string" ? { ok: true, value: raw } : { ok: false, message: `${shown} is not a string` };
    case "port": {
      const n = typeof raw === "number" ? raw : /^\d+$/.test(text) ? Number(text) : NaN;
      return Number.isInteger(n) && n >= 0 && n <= 65535 ? { ok: true, value: n } : { ok: false, message: `${shown} is not a port; expected 0-65535` };
    }
    case "count": {
      const n = typeof raw === "number" ? raw : /^\d+$/.test(text) ? Number(text) : NaN;
      const min = field.min ?? 0;
      const what = min >= 1 ? "a positive integer" : "a non-negative integer";
      return Number.isSafeInteger(n) && n >= min ? { ok: true, value: n } : { ok: false, message: `${shown} is not ${what}` };
    }
    case "bool": {
      if (typeof raw === "boolean") return { ok: true, value: raw };
      const t = text.trim().toLowerCase();
      if (BOOL_TRUE.includes(t)) return { ok: true, value: true };
      if (BOOL_FALSE.includes(t) || t === "") return { ok: true, value: false };
      return { ok: false, message: `${shown} is not a boolean; expected ${BOOL_TRUE.join("/")} or ${BOOL_FALSE.join("/")}` };
    }
    case "hosts": {
      const list = (Array.isArray(raw) ? raw : text.split(",")).map((s) => s.trim()).filter((s) => s !== "");
      const bad = list.find((p) => !validHostPattern(p));
      return bad === undefined ? { ok: true, value: list } : { ok: false, message: `${JSON.stringify(bad)} is not a host pattern; expected e.g. example.com or *.example.com` };
    }
    case "duration": {
      if (typeof raw === "number") return { ok: true, value: raw };
      const d = parseDuration(text);
      return d.ok ? { ok: true, value: d.ms } : { ok: false, message: d.message };
    }
    case "size": {
      if (typeof raw === "number") return { ok: true, value: raw };
      const s = parseSize(text);
      return s.ok ? { ok: true, value: s.bytes } : { ok: false, message: s.message };
    }
    case "rules": {
      // Repeated flags and JSON arrays are lists; an env value is split on white space (rules hold none).
      const list = (Array.isArray(raw) ? raw : text.split(/\s+/)).map((r) => r.trim()).filter((r) => r !== "");
      const parsed = RuleSet.parse(list);
      return parsed.ok ? { ok: true, value: list } : { ok: false, message: parsed.message };
    }
    case "blob-store": {
      try {
        parseBlobStoreUrl(text);
        return { ok: true, value: text.trim() };
      } catch (err) {
        return { ok: false, message: (err as Error).message };
      }
    }
    case "database": {
      try {
        parseDatabaseUrl(text);
        return { ok: true, value: text.trim() };
      } catch (err) {
        return { ok: false, message: (err as Error).message };
      }
    }
    case "choice": {
      const choices = field.choices ?? [];
      const t = text.trim().toLowerCase();
      return choices.includes(t) ? { ok: true, value: t } : { ok: false, message: `${shown} is not one of ${choices.join(", ")}` };
    }
    case "free": {
      // A bare number (from a JSON file) is bytes.
      const t = typeof raw === "number" ? String(raw) : text.trim();
      const f = parseMinFreeDisk(t);
      return f.ok ? { ok: true, value: t } : { ok: false, message: f.message };
    }
  }
}

const FileSchema = z.strictObject(
  Object.fromEntries(
    FIELDS.filter((f) => f.flag !== null).map((f) => [f.key, z.union([z.string(), z.number(), z.boolean(), z.array(z.string())]).optional()]),
  ),
);

export type ConfigInput = {
  /** Parsed flags keyed by config key (commander's camelCase names map onto them). */
  flags: Partial<Record<ConfigKey, Raw | undefined>>;
  env: Record<string, string | undefined>;
  /** Contents of --config FILE (JSON), with its path for messages. */
  file?: { path: string; text: string } | null;
};

export type LoadedConfig =
  | { ok: true; config: ServeConfig; sources: Record<ConfigKey, ConfigSource> }
  | { ok: false; message: string };

export function loadServeConfig(input: ConfigInput): LoadedConfig {
  let fileValues: Record<string, unknown> = {};
  if (input.file) {
    let json: unknown;
    try {
      json = JSON.parse(input.file.text);
    } catch {
      return { ok: false, message: `--config: ${input.file.path} is not valid json` };
    }
    const parsed = FileSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue && issue.path.length > 0 ? `key ${JSON.stringify(issue.path.join("."))}` : "top level";
      const what = issue?.code === "unrecognized_keys" ? `unknown key ${JSON.stringify(issue.keys[0])}` : (issue?.message ?? "invalid").toLowerCase();
      return { ok: false, message: `--config: ${input.file.path}: ${where === "top level" ? what : `${where}: ${what}`}` };
    }
    fileValues = parsed.data;
  }
  const config: Record<string, unknown> = { ...defaultServeConfig() };
  const sources = {} as Record<ConfigKey, ConfigSource>;
  for (const field of FIELDS) {
    sources[field.key] = "default";
    const candidates: Array<[ConfigSource, string, Raw | undefined]> = [
      ["flag", field.flag ?? "", field.flag === null ? undefined : input.flags[field.key]],
      ["env", field.env, input.env[field.env]],
      ["file", `${input.file?.path ?? ""}: key ${JSON.stringify(field.key)}`, fileValues[field.key] as Raw | undefined],
    ];
    for (const [source, name, raw] of candidates) {
      if (raw === undefined) continue;
      if (source === "flag" && Array.isArray(raw) && raw.length === 0) continue;
      if (source === "env" && raw === "" && field.kind !== "string") continue;
      const converted = convert(field, raw);
      if (!converted.ok) return { ok: false, message: `${name}: ${converted.message}` };
      config[field.key] = converted.value;
      sources[field.key] = source;
      break;
    }
  }
  // A blank secret must not weaken anything: treat it as unset.
  if (config.adminPassword === "") delete config.adminPassword;
  if (config.sessionSecret === "") delete config.sessionSecret;
  const final = ServeConfigSchema.safeParse(config);
  if (!final.success) {
    const issue = final.error.issues[0];
    const field = FIELDS.find((f) => f.key === issue?.path[0]);
    return { ok: false, message: `${field?.flag ?? field?.env ?? "config"}: ${(issue?.message ?? "invalid").toLowerCase()}` };
  }
  return { ok: true, config: final.data, sources };
}
