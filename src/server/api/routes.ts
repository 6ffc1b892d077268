// /api/v1: the route table (method, path, schemas, handler) that both serves requests and
// generates /api/v1/openapi.json. Handlers return data shaped by src/server/api/schemas.ts;
// every error is `{"error": "one line"}` with its status.
import { createHmac } from "node:crypto";
import type { z } from "zod";
import { cacheKey, parseOriginUrl } from "../../core/cache-key.ts";
import { verifyCursor, signCursor } from "./cursor.ts";
import { HttpError, quote } from "../../core/errors.ts";
import { displayUrl, loggableUrl } from "../../core/log.ts";
import type { ActionResult } from "../../fetch/fill-manager.ts";
import { rowFreshness } from "../../fetch/freshness-of-row.ts";
import type { ArtifactRow, ArtifactSort, EventRow, JobRow, MissRow } from "../../store/types.ts";
import { adminDeps, operatorAuth, type AdminDeps } from "../admin.ts";
import type { RequestContext } from "../context.ts";
import { computeStats } from "../stats.ts";
import { authenticate, isJsonRequest, type Caller } from "./auth.ts";
import * as S from "./schemas.ts";

/** A path's {sha256}: 64 hex digits (any case), else 400 saying so. */
function sha256Param(raw: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(raw)) throw new HttpError(400, `${quote(raw, 80)} is not a sha256; expected 64 hex digits`);
  return raw.toLowerCase();
}

export const API_PREFIX = "/api/v1";

type Call<Q, B> = { ctx: RequestContext; deps: AdminDeps; caller: Caller; params: string[]; query: Q; body: B; cursorKey: Buffer };
type Answer = { status?: number; body: unknown };

export type ApiRoute = {
  method: "GET" | "POST" | "DELETE";
  /** OpenAPI path template, e.g. /api/v1/fills/{id}. */
  path: string;
  summary: string;
  query: z.ZodType | null;
  body: z.ZodType | null;
  response: z.ZodType;
  status: number;
  handle(call: Call<any, any>): Promise<Answer> | Answer;
};

function route<Q extends z.ZodType | null, B extends z.ZodType | null>(r: {
  method: ApiRoute["method"];
  path: string;
  summary: string;
  query?: Q;
  body?: B;
  response: z.ZodType;
  status?: number;
  handle(call: Call<Q extends z.ZodType ? z.output<Q> : Record<string, never>, B extends z.ZodType ? z.output<B> : null>): Promise<Answer> | Answer;
}): ApiRoute {
  return { query: null, body: null, status: 200, ...r } as ApiRoute;
}

// ---------------------------------------------------------------------------------------------
// Rows as JSON

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

function artifactJson(a: ArtifactRow, ctx: RequestContext): S.ArtifactJson {
  const fresh = !a.superseded && rowFreshness(a, ctx.fills.rules, ctx.config).verdict(ctx.nowMs()).kind === "fresh";
  return {
    key: a.key,
    url: displayUrl(a.url, { keepQuery: ctx.config.keepQuery }),
    sha256: a.sha256,
    sizeBytes: a.sizeBytes,
    contentType: a.contentType,
    fetchedAt: iso(a.fetchedAtMs),
    lastHitAt: isoOrNull(a.lastHitMs),
    hits: a.hits,
    bytesSaved: a.hits * a.sizeBytes,
    fresh,
    superseded: a.superseded,
  };
}

function missJson(m: MissRow, ctx: RequestContext): S.MissJson {
  return { key: m.key, url: displayUrl(m.url, { keepQuery: ctx.config.keepQuery }), count: m.count, firstSeenAt: iso(m.firstSeenMs), lastSeenAt: iso(m.lastSeenMs), knownSizeBytes: m.knownSizeBytes, refusal: m.refusal };
}

function fillJson(j: JobRow, ctx: RequestContext, streamers: Map<number, number>): S.FillJson {
  return {
    id: j.id,
    url: displayUrl(j.url, { keepQuery: ctx.config.keepQuery }),
    key: j.key,
    state: j.state,
    source: j.source,
    bytesDone: j.bytesDone,
    totalBytes: j.totalBytes,
    rateBytesPerSec: j.rateBytesPerSec,
    error: j.error,
    attempts: j.attempts,
    streamers: streamers.get(j.id) ?? 0,
    createdAt: iso(j.createdAtMs),
    startedAt: isoOrNull(j.startedAtMs),
    finishedAt: isoOrNull(j.finishedAtMs),
  };
}

function eventJson(e: EventRow): S.EventJson {
  return { id: e.id, at: iso(e.atMs), kind: e.kind, actor: e.actor, client: e.client, outcome: e.outcome, detail: e.detail };
}

const SORT_VALUE: Record<ArtifactSort, (a: ArtifactRow) => number | string> = {
  size: (a) => a.sizeBytes,
  hits: (a) => a.hits,
  lastHit: (a) => a.lastHitMs ?? 0,
  fetchedAt: (a) => a.fetchedAtMs,
  url: (a) => a.url,
};

// ---------------------------------------------------------------------------------------------
// Helpers

/** The cache key of a URL as the read path computes it; a string that is no URL is taken as a key. */
function keyOf(ctx: RequestContext, raw: string): string {
  const parsed = parseOriginUrl(raw);
  return parsed.ok ? cacheKey(parsed.url, { keepQuery: ctx.config.keepQuery }) : raw;
}

function position(call: Call<{ cursor?: string | undefined }, unknown>, scope: string): { value: number | string | null; key: string } | null {
  if (call.query.cursor === undefined) return null;
  const checked = verifyCursor(call.cursorKey, call.query.cursor, scope);
  if (!checked.ok) throw new HttpError(400, `${API_PREFIX}: query parameter "cursor": ${checked.message}`);
  return checked.state;
}

function audit(call: Call<unknown, unknown>, kind: string, outcome: "ok" | "refused" | "failed", detail: string): void {
  call.ctx.audit.record({ kind, actor: call.caller.actor, client: call.ctx.clientAddress, outcome, detail });
}

function fillOr404(call: Call<unknown, unknown>): JobRow {
  const id = Number(call.params[0]);
  const job = Number.isSafeInteger(id) ? call.ctx.fills.getJob(id) : null;
  if (job === null) throw new HttpError(404, `fill ${quote(call.params[0] ?? "", 40)} does not exist`);
  return job;
}

/** Cancel or retry: audited either way; the fill as it is afterwards, or the refusal's status and line. */
async function fillAction(call: Call<unknown, unknown>, kind: "cancel" | "retry", act: (id: number) => Promise<ActionResult>): Promise<Answer> {
  const job = fillOr404(call);
  const result = await act(job.id);
  audit(call, kind, result.ok ? "ok" : "refused", `fill ${job.id} ${loggableUrl(job.key)}`);
  if (!result.ok) throw new HttpError(result.status, result.message);
  // The job as the action left it: a worker may already have claimed a retried job since.
  return { body: fillJson(result.job, call.ctx, call.ctx.fills.streamersByJob()) };
}

// ---------------------------------------------------------------------------------------------
// The routes

export const ROUTES: readonly ApiRoute[] = [
  route({
    method: "GET",
    path: "/api/v1/artifacts",
    summary: "List cached artifacts: filter, sort, keyset pages",
    query: S.ArtifactsQuery,
    response: S.ArtifactPage,
    handle(call) {
      const { filter, sort, limit } = call.query;
      const direction = call.query.direction ?? (sort === "url" ? "asc" : "desc");
      const scope = `artifacts|${sort}|${direction}|${filter}`;
      const after = position(call, scope);
      const rows = call.ctx.store.metadata.listArtifacts({ filter, sort, direction, limit: limit + 1, ...(after === null || after.value === null ? {} : { after: { value: after.value, key: after.key } }) });
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      const nextCursor = rows.length > limit && last ? signCursor(call.cursorKey, { scope, value: SORT_VALUE[sort](last), key: last.key }) : null;
      return { body: { items: page.map((a) => artifactJson(a, call.ctx)), nextCursor } };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/artifacts/{sha256}",
    summary: "Every artifact whose bytes are this blob",
    response: S.ArtifactList,
    handle(call) {
      const sha = sha256Param(call.params[0]!);
      const rows = call.ctx.store.metadata.artifactsWithSha(sha);
      if (rows.length === 0) throw new HttpError(404, `no artifact has sha256 ${sha}`);
      return { body: { items: rows.map((a) => artifactJson(a, call.ctx)) } };
    },
  }),
  route({
    method: "DELETE",
    path: "/api/v1/artifacts/{sha256}",
    summary: "Delete every artifact whose bytes are this blob",
    response: S.Deleted,
    async handle(call) {
      const sha = sha256Param(call.params[0]!);
      const rows = call.ctx.store.metadata.artifactsWithSha(sha);
      if (rows.length === 0) throw new HttpError(404, `no artifact has sha256 ${sha}`);
      let deleted = 0;
      let freedBytes = 0;
      for (const row of rows) {
        const gone = await call.ctx.store.deleteArtifact(row.key);
        if (gone.deleted) deleted += 1;
        freedBytes += gone.freedBytes;
        audit(call, "delete", "ok", loggableUrl(row.key));
      }
      return { body: { deleted, freedBytes } };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/artifact",
    summary: "One artifact by its origin URL",
    query: S.UrlQuery,
    response: S.Artifact,
    handle(call) {
      const row = call.ctx.store.metadata.getArtifact(keyOf(call.ctx, call.query.url));
      if (row === null) throw new HttpError(404, `no artifact for ${loggableUrl(call.query.url)}`);
      return { body: artifactJson(row, call.ctx) };
    },
  }),
  route({
    method: "DELETE",
    path: "/api/v1/artifact",
    summary: "Delete one artifact by its origin URL",
    query: S.UrlQuery,
    response: S.Deleted,
    async handle(call) {
      const key = keyOf(call.ctx, call.query.url);
      const gone = await call.ctx.store.deleteArtifact(key);
      if (!gone.deleted) throw new HttpError(404, `no artifact for ${loggableUrl(call.query.url)}`);
      audit(call, "delete", "ok", loggableUrl(key));
      return { body: { deleted: 1, freedBytes: gone.freedBytes } };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/misses",
    summary: "Recorded misses, most recently seen first",
    query: S.MissesQuery,
    response: S.MissPage,
    handle(call) {
      const after = position(call, "misses");
      const rows = call.ctx.store.metadata.listMisses({ limit: call.query.limit + 1, ...(after === null ? {} : { after: { lastSeenMs: Number(after.value), key: after.key } }) });
      const page = rows.slice(0, call.query.limit);
      const last = page.at(-1);
      const nextCursor = rows.length > call.query.limit && last ? signCursor(call.cursorKey, { scope: "misses", value: last.lastSeenMs, key: last.key }) : null;
      return { body: { items: page.map((m) => missJson(m, call.ctx)), nextCursor } };
    },
  }),
  route({
    method: "POST",
    path: "/api/v1/misses/dismiss",
    summary: "Forget misses (by URL or key)",
    body: S.DismissBody,
    response: S.Dismissed,
    async handle(call) {
      let dismissed = 0;
      for (const raw of call.body.urls) {
        const key = keyOf(call.ctx, raw);
        if (await call.ctx.store.metadata.dismissMiss(key)) {
          dismissed += 1;
          audit(call, "dismiss", "ok", loggableUrl(key));
        }
      }
      return { body: { dismissed } };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/fills",
    summary: "Fills (downloads into the cache), newest first",
    query: S.FillsQuery,
    response: S.FillList,
    handle(call) {
      const streamers = call.ctx.fills.streamersByJob();
      const rows = call.ctx.fills.listJobs({ limit: call.query.limit, ...(call.query.state.length > 0 ? { states: call.query.state } : {}) });
      return { body: { items: rows.map((j) => fillJson(j, call.ctx, streamers)) } };
    },
  }),
  route({
    method: "POST",
    path: "/api/v1/fills",
    summary: "Queue fills of one or many URLs",
    body: S.QueueBody,
    response: S.QueueResult,
    async handle(call) {
      const streamers = call.ctx.fills.streamersByJob();
      const items: z.infer<typeof S.QueueResult>["items"] = [];
      for (const url of call.body.urls) {
        const parsed = parseOriginUrl(url);
        if (!parsed.ok) {
          items.push({ url, ok: false, status: parsed.status, error: parsed.message });
          continue;
        }
        const result = await call.ctx.fills.enqueue(url, { source: "operator", requestId: call.ctx.requestId });
        audit(call, "add", result.ok ? "ok" : "refused", result.ok ? loggableUrl(url) : `${loggableUrl(url)}: ${result.message}`);
        items.push(result.ok ? { url, ok: true, existing: result.existing, fill: fillJson(result.job, call.ctx, streamers) } : { url, ok: false, status: result.status, error: result.message });
      }
      return { body: { items } };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/fills/{id}",
    summary: "One fill",
    response: S.Fill,
    handle(call) {
      return { body: fillJson(fillOr404(call), call.ctx, call.ctx.fills.streamersByJob()) };
    },
  }),
  route({
    method: "POST",
    path: "/api/v1/fills/{id}/cancel",
    summary: "Cancel a queued or running fill",
    response: S.Fill,
    handle(call) {
      return fillAction(call, "cancel", (id) => call.ctx.fills.cancel(id));
    },
  }),
  route({
    method: "POST",
    path: "/api/v1/fills/{id}/retry",
    summary: "Queue a failed or cancelled fill again",
    response: S.Fill,
    handle(call) {
      return fillAction(call, "retry", (id) => call.ctx.fills.retry(id));
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/stats",
    summary: "Hit ratio, bytes saved, stored bytes, cap, fills: the dashboard's numbers",
    response: S.Stats,
    async handle(call) {
      return { body: await computeStats(call.ctx, { displayUrl: (u) => displayUrl(u, { keepQuery: call.ctx.config.keepQuery }) }) };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/events",
    summary: "The audit log, newest first",
    query: S.EventsQuery,
    response: S.EventPage,
    async handle(call) {
      const kind = call.query.kind;
      const scope = `events|${kind ?? ""}`;
      const after = position(call, scope);
      await call.ctx.audit.flush();
      const rows = await call.ctx.store.ops.listEvents({ limit: call.query.limit + 1, ...(after === null ? {} : { beforeId: Number(after.key) }), ...(kind === undefined ? {} : { kind }) });
      const page = rows.slice(0, call.query.limit);
      const last = page.at(-1);
      const nextCursor = rows.length > call.query.limit && last ? signCursor(call.cursorKey, { scope, value: null, key: String(last.id) }) : null;
      return { body: { items: page.map(eventJson), nextCursor } };
    },
  }),
  route({
    method: "GET",
    path: "/api/v1/tokens",
    summary: "API tokens (never the tokens themselves)",
    response: S.TokenList,
    async handle(call) {
      if (call.caller.scope !== "admin") throw new HttpError(403, `/api/v1/tokens: listing tokens needs scope admin`);
      const rows = await call.ctx.tokens.list();
      return { body: { items: rows.map((t) => ({ name: t.name, scope: t.scope, hint: t.hint, createdAt: iso(t.createdAtMs), lastUsedAt: isoOrNull(t.lastUsedMs) })) } };
    },
  }),
  route({
    method: "POST",
    path: "/api/v1/tokens",
    summary: "Create a token; the answer is the only time it is shown",
    body: S.TokenBody,
    response: S.CreatedToken,
    status: 201,
    async handle(call) {
      const made = await call.ctx.tokens.create(call.body.name, call.body.scope);
      audit(call, "token-create", made.ok ? "ok" : "refused", `${call.body.name} (${call.body.scope})`);
      if (!made.ok) throw new HttpError(409, made.message);
      const row = made.created.row;
      return { status: 201, body: { token: made.created.token, name: row.name, scope: row.scope, hint: row.hint, createdAt: iso(row.createdAtMs) } };
    },
  }),
  route({
    method: "DELETE",
    path: "/api/v1/tokens/{name}",
    summary: "Revoke a token (it stops working at once)",
    response: S.Revoked,
    async handle(call) {
      const name = call.params[0]!;
      const gone = await call.ctx.tokens.revoke(name);
      audit(call, "token-revoke", gone ? "ok" : "refused", name.slice(0, 64));
      if (!gone) throw new HttpError(404, `no token named ${quote(name, 64)}`);
      return { body: { revoked: true } };
    },
  }),
];

// ---------------------------------------------------------------------------------------------
// Matching and parsing

const COMPILED = ROUTES.map((r) => ({ route: r, pattern: new RegExp(`^${r.path.replace(/\{[^}]+\}/g, "([^/]+)")}$`) }));

function issueLine(where: "query parameter" | "field", error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return `${where}s are invalid`;
  if (issue.code === "unrecognized_keys") {
    const keys = issue.keys.map((k) => JSON.stringify(k.slice(0, 64))).join(", ");
    const at = issue.path.length > 0 ? ` in ${JSON.stringify(issue.path.join("."))}` : "";
    return `unknown ${where}${issue.keys.length > 1 ? "s" : ""} ${keys}${at}`;
  }
  const name = issue.path.length > 0 ? issue.path.join(".") : "body";
  return `${where} ${JSON.stringify(name)}: ${issue.message.charAt(0).toLowerCase()}${issue.message.slice(1)}`;
}

function parseQuery(schema: z.ZodType | null, url: URL, path: string): unknown {
  const fields: Record<string, string> = {};
  for (const [name, value] of url.searchParams) {
    if (Object.hasOwn(fields, name)) throw new HttpError(400, `${path}: query parameter ${JSON.stringify(name.slice(0, 64))} is given more than once`);
    fields[name] = value;
  }
  const parsed = (schema ?? S.Empty).safeParse(fields);
  if (!parsed.success) throw new HttpError(400, `${path}: ${issueLine("query parameter", parsed.error)}`);
  return parsed.data;
}

async function readJson(req: Request, path: string): Promise<unknown> {
  if (!isJsonRequest(req)) throw new HttpError(415, `${path}: the body must be JSON ("Content-Type: application/json")`);
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > S.API_BODY_BYTES_MAX) throw new HttpError(413, `${path}: body is larger than ${S.API_BODY_BYTES_MAX} bytes`);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = req.body?.getReader();
  for (;;) {
    if (reader === undefined) break;
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > S.API_BODY_BYTES_MAX) {
      await reader.cancel().catch(() => {});
      throw new HttpError(413, `${path}: body is larger than ${S.API_BODY_BYTES_MAX} bytes`);
    }
    chunks.push(value);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, `${path}: the body is not valid JSON`);
  }
}

function json(status: number, body: unknown): Response {
  return Response.json(body, { status, headers: { "cache-control": "no-store", "x-content-type-options": "nosniff" } });
}

export function apiError(status: number, message: string, headers: Record<string, string> = {}): Response {
  const r = json(status, { error: message });
  for (const [k, v] of Object.entries(headers)) r.headers.set(k, v);
  return r;
}

/** The cursor signing key: derived from the operator auth keys, so cursors die with a new secret. */
function cursorKey(deps: AdminDeps): Buffer {
  return createHmac("sha256", operatorAuth(deps).keys.csrf).update("withcache api cursors").digest();
}

export async function handleApi(req: Request, ctx: RequestContext, openapi: () => unknown): Promise<Response> {
  const url = new URL(req.url);
  const path = url.pathname;
  try {
    if (path === `${API_PREFIX}/openapi.json`) {
      if (req.method !== "GET") return apiError(405, `${path}: method ${req.method} is not allowed; expected GET`, { allow: "GET" });
      return json(200, openapi());
    }
    const matches = COMPILED.filter((c) => c.pattern.test(path));
    if (matches.length === 0) throw new HttpError(404, `no api endpoint ${quote(path, 100)}; see ${API_PREFIX}/openapi.json`);
    const hit = matches.find((c) => c.route.method === req.method);
    if (hit === undefined) {
      const allow = matches.map((c) => c.route.method).join(", ");
      return apiError(405, `${path}: method ${req.method} is not allowed; expected ${allow}`, { allow });
    }
    const deps = adminDeps(ctx);
    const caller = await authenticate(req, url, ctx, deps);
    const params = hit.pattern.exec(path)!.slice(1).map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        throw new HttpError(400, `${path}: path is not valid percent-encoding`);
      }
    });
    const query = parseQuery(hit.route.query, url, path);
    let body: unknown = null;
    if (hit.route.body !== null) {
      const parsed = hit.route.body.safeParse(await readJson(req, path));
      if (!parsed.success) throw new HttpError(400, `${path}: ${issueLine("field", parsed.error)}`);
      body = parsed.data;
    }
    const answer = await hit.route.handle({ ctx, deps, caller, params, query, body, cursorKey: cursorKey(deps) });
    return json(answer.status ?? hit.route.status, answer.body);
  } catch (err) {
    if (err instanceof HttpError) return apiError(err.status, err.message);
    ctx.log.event("internal-error", { request: ctx.requestId, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    return apiError(500, `internal error (request ${ctx.requestId}); see the server log`);
  }
}
