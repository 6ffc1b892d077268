// The JSON API's shapes, one zod schema each: requests are parsed with them, responses are built
// to them, the CLI reads responses with them, and /api/v1/openapi.json is generated from them.
import { z } from "zod";
import { API_TOKEN_SCOPES, TOKEN_NAME_PATTERN } from "../../core/api-token.ts";
import { URL_BYTES_MAX } from "../../core/cache-key.ts";
import { JOB_STATES } from "../../core/jobs.ts";

/** Schemas that get a name in the OpenAPI document's components. */
export const apiRegistry = z.registry<{ id: string; description?: string }>();

export const PAGE_LIMIT_MAX = 500;
export const PAGE_LIMIT_DEFAULT = 100;
export const QUEUE_URLS_MAX = 100;
export const DISMISS_URLS_MAX = 1000;
export const API_BODY_BYTES_MAX = 1024 * 1024;

const isoTime = z.iso.datetime().describe("ISO-8601 time (UTC)");
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lower-case hex characters");
const originUrl = z.string().min(1).max(URL_BYTES_MAX);
const limit = z.coerce.number<string>().int().min(1).max(PAGE_LIMIT_MAX).default(PAGE_LIMIT_DEFAULT).describe(`page size, 1 to ${PAGE_LIMIT_MAX}`);
const cursor = z.string().min(1).max(12_000).optional().describe("nextCursor of the previous page");

export const ErrorBody = z.object({ error: z.string().describe("one line saying what was refused and why") }).register(apiRegistry, { id: "Error" });

export const Artifact = z
  .object({
    key: z.string().describe("cache key (the URL as cached: query dropped unless --keep-query)"),
    url: z.string().describe("the URL as the UI shows it (query elided unless --keep-query)"),
    sha256,
    sizeBytes: z.number().int(),
    contentType: z.string(),
    fetchedAt: isoTime,
    lastHitAt: isoTime.nullable(),
    hits: z.number().int(),
    bytesSaved: z.number().int().describe("hits × sizeBytes: each hit is a download the origin did not serve"),
    fresh: z.boolean().describe("served without asking the origin right now (false: stale or superseded)"),
    superseded: z.boolean(),
  })
  .register(apiRegistry, { id: "Artifact" });

export const ARTIFACT_SORTS = ["size", "hits", "lastHit", "fetchedAt", "url"] as const;
export const ArtifactsQuery = z.strictObject({
  filter: z.string().max(512).default("").describe("case-insensitive substring of the URL or key"),
  sort: z.enum(ARTIFACT_SORTS).default("lastHit"),
  direction: z.enum(["asc", "desc"]).optional().describe("default: desc, except asc for url"),
  limit,
  cursor,
});
export const ArtifactPage = z.object({ items: z.array(Artifact), nextCursor: z.string().nullable() }).register(apiRegistry, { id: "ArtifactPage" });
export const ArtifactList = z.object({ items: z.array(Artifact) }).register(apiRegistry, { id: "ArtifactList" });
export const UrlQuery = z.strictObject({ url: originUrl.describe("the origin URL") });
export const Deleted = z.object({ deleted: z.number().int().describe("artifacts removed"), freedBytes: z.number().int() }).register(apiRegistry, { id: "Deleted" });

export const Miss = z
  .object({
    key: z.string(),
    url: z.string(),
    count: z.number().int(),
    firstSeenAt: isoTime,
    lastSeenAt: isoTime,
    knownSizeBytes: z.number().int().nullable(),
    refusal: z.string().nullable().describe("why the last attempt to fetch it was refused, if it was"),
  })
  .register(apiRegistry, { id: "Miss" });
export const MissesQuery = z.strictObject({ limit, cursor });
export const MissPage = z.object({ items: z.array(Miss), nextCursor: z.string().nullable() }).register(apiRegistry, { id: "MissPage" });
export const DismissBody = z.strictObject({ urls: z.array(originUrl).min(1).max(DISMISS_URLS_MAX).describe("URLs or keys of misses to forget") }).register(apiRegistry, { id: "DismissRequest" });
export const Dismissed = z.object({ dismissed: z.number().int() }).register(apiRegistry, { id: "Dismissed" });

export const Fill = z
  .object({
    id: z.number().int(),
    url: z.string(),
    key: z.string(),
    state: z.enum(JOB_STATES),
    source: z.enum(["auto", "operator"]),
    bytesDone: z.number().int(),
    totalBytes: z.number().int().nullable(),
    rateBytesPerSec: z.number(),
    error: z.string().nullable(),
    attempts: z.number().int(),
    streamers: z.number().int().describe("clients streaming this fill as it arrives"),
    createdAt: isoTime,
    startedAt: isoTime.nullable(),
    finishedAt: isoTime.nullable(),
  })
  .register(apiRegistry, { id: "Fill" });
const fillStates = z
  .string()
  .default("")
  .transform((text, ctx) => {
    const states = text === "" ? [] : text.split(",").map((s) => s.trim());
    for (const s of states) {
      if (!(JOB_STATES as readonly string[]).includes(s)) {
        ctx.addIssue({ code: "custom", message: `${JSON.stringify(s.slice(0, 40))} is not a fill state; expected some of ${JOB_STATES.join(",")}` });
        return z.NEVER;
      }
    }
    return states as Array<(typeof JOB_STATES)[number]>;
  })
  .describe(`comma-separated states (${JOB_STATES.join(",")}); default all`);
export const FillsQuery = z.strictObject({ state: fillStates, limit });
export const FillList = z.object({ items: z.array(Fill) }).register(apiRegistry, { id: "FillList" });
export const QueueBody = z.strictObject({ urls: z.array(originUrl).min(1).max(QUEUE_URLS_MAX) }).register(apiRegistry, { id: "QueueRequest" });
export const QueueResult = z
  .object({
    items: z.array(
      z.union([
        z.object({ url: z.string(), ok: z.literal(true), existing: z.boolean().describe("a fill of this key was already queued or running"), fill: Fill }),
        z.object({ url: z.string(), ok: z.literal(false), status: z.number().int().describe("409: already cached and fresh; 400: not a URL; 403: refused; 429/503: try later"), error: z.string() }),
      ]),
    ),
  })
  .register(apiRegistry, { id: "QueueResult" });

const Traffic = z.object({ hits: z.number().int(), misses: z.number().int(), bytesFromCache: z.number().int(), bytesFromOrigin: z.number().int() });
const TrafficWindow = Traffic.extend({ hitRatio: z.number().nullable(), bytesSaved: z.number().int().describe("bytesFromCache − bytesFromOrigin, at least 0") });
export const Stats = z
  .object({
    generatedAtMs: z.number().int(),
    windows: z.object({ "24h": TrafficWindow, "7d": TrafficWindow, all: TrafficWindow }),
    hourly: z.array(Traffic.extend({ hourMs: z.number().int() })).describe("the last 24 hours, oldest first"),
    stored: z.object({ artifacts: z.number().int(), bytes: z.number().int(), misses: z.number().int() }),
    capBytes: z.number().int().nullable(),
    disk: z.object({ freeBytes: z.number().int(), totalBytes: z.number().int() }),
    fills: z.object({ queued: z.number().int(), running: z.number().int() }),
    topArtifacts: z.array(z.object({ url: z.string(), sizeBytes: z.number().int(), hits: z.number().int(), bytesSaved: z.number().int() })),
    uptimeMs: z.number().int(),
  })
  .register(apiRegistry, { id: "Stats" });

export const Event = z
  .object({
    id: z.number().int(),
    at: isoTime,
    kind: z.string(),
    actor: z.string().describe("session, token:<name>, open, anonymous or system"),
    client: z.string(),
    outcome: z.enum(["ok", "refused", "failed"]),
    detail: z.string(),
  })
  .register(apiRegistry, { id: "Event" });
export const EventsQuery = z.strictObject({ limit, cursor, kind: z.string().max(64).optional() });
export const EventPage = z.object({ items: z.array(Event), nextCursor: z.string().nullable() }).register(apiRegistry, { id: "EventPage" });

export const Token = z
  .object({ name: z.string(), scope: z.enum(API_TOKEN_SCOPES), hint: z.string(), createdAt: isoTime, lastUsedAt: isoTime.nullable() })
  .register(apiRegistry, { id: "Token" });
export const TokenList = z.object({ items: z.array(Token) }).register(apiRegistry, { id: "TokenList" });
/** A token's name and scope, as the API and the UI's Tokens form both parse them. */
export const TokenName = z.string().regex(TOKEN_NAME_PATTERN, "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit");
export const TokenScope = z.enum(API_TOKEN_SCOPES);
export const TokenBody = z
  .strictObject({
    name: TokenName,
    scope: TokenScope,
  })
  .register(apiRegistry, { id: "TokenRequest" });
export const CreatedToken = Token.omit({ lastUsedAt: true })
  .extend({ token: z.string().describe("the token itself: shown here once, never again") })
  .register(apiRegistry, { id: "CreatedToken" });
export const Revoked = z.object({ revoked: z.literal(true) }).register(apiRegistry, { id: "Revoked" });
export const Empty = z.strictObject({});

export type ArtifactJson = z.infer<typeof Artifact>;
export type MissJson = z.infer<typeof Miss>;
export type FillJson = z.infer<typeof Fill>;
export type EventJson = z.infer<typeof Event>;
export type TokenJson = z.infer<typeof Token>;
export type StatsJson = z.infer<typeof Stats>;
