// The operator surface: `/`, `/login`, `/logout`, `/admin/*` and `/static/*`. Parses requests
// (zod), checks the session and cross-site protections, calls the stores and the fill manager,
// and renders src/ui fragments (HX-Request) or whole pages. Every action also works as a plain
// form post answered with 303 to the page, carrying its outcome as a signed notice.
import { z } from "zod";
import { createHmac } from "node:crypto";
import { hostname } from "node:os";
import { validHostPattern } from "../core/address.ts";
import { parseOriginUrl } from "../core/cache-key.ts";
import { quote } from "../core/errors.ts";
import { addPage, addSection } from "../ui/add.ts";
import { artifactsList, artifactsPage, artifactsSection } from "../ui/artifacts.ts";
import { dashboardPage, dashboardSection, type DashboardView } from "../ui/dashboard.ts";
import { downloadsPage, downloadsSection } from "../ui/downloads.ts";
import { eventsPage, eventsSection, type EventView } from "../ui/events.ts";
import { headerBar, loginPage, type PageName } from "../ui/layout.ts";
import { missesPage, missesSection } from "../ui/misses.ts";
import { emptyTokensForm, tokensPage, tokensSection, type TokensData } from "../ui/tokens.ts";
import { STATIC_ASSETS } from "../ui/assets.ts";
import { html, type Html } from "../ui/html.ts";
import type { AddLineResult, ArtifactSort, ArtifactView, FreshnessView, HeaderView, JobView, MissView, Notice, PageContext, TokenView } from "../ui/view.ts";
import {
  LoginRateLimiter,
  RevokedSessions,
  SESSION_COOKIE,
  SESSION_LIFETIME_MS,
  checkPassword,
  crossSiteReason,
  csrfToken,
  deriveKeys,
  isSecureRequest,
  newSessionId,
  parseCookies,
  sessionCookie,
  signSession,
  verifyCsrfToken,
  uiHostRefused,
  verifySession,
  type AuthKeys,
  type Session,
} from "./auth.ts";
import { loadSessionSecret } from "./auth-secret.ts";
import { displayUrl, type Logger } from "../core/log.ts";
import type { RequestContext } from "./context.ts";
import { computeStats } from "./stats.ts";
import type { AuditEntry } from "./audit.ts";
import type { ApiTokenRow, ArtifactRow, JobRow, MissRow } from "../store/types.ts";
import type { ApiTokenScope } from "../core/api-token.ts";
import { TokenName, TokenScope } from "./api/schemas.ts";
import { rowFreshness, type RowFreshness } from "../fetch/freshness-of-row.ts";

// ---------------------------------------------------------------------------------------------
// What admin needs from the rest of the server. The router builds this from its context.

/** The store's rows, narrowed to what admin reads (the router passes the rows themselves). */
export type AdminJob = Pick<JobRow, "id" | "key" | "url" | "state" | "bytesDone" | "totalBytes" | "rateBytesPerSec" | "error" | "createdAtMs" | "startedAtMs" | "finishedAtMs"> & {
  /** Clients streaming this fill as it arrives (stream-through). */
  streamers?: number;
};
export type AdminMiss = Pick<MissRow, "key" | "url" | "count" | "firstSeenMs" | "lastSeenMs" | "knownSizeBytes" | "refusal" | "uncacheableUntilMs">;
export type AdminArtifact = ArtifactRow;

export type ActionResult = { ok: true } | { ok: false; message: string };
export type EnqueueOutcome = { ok: true; jobId: number; existing: boolean } | { ok: false; message: string };

export interface AdminDeps {
  /** The audit log (ctx.audit.record); actor and client are filled in by `audit()` below. */
  audit: (entry: AuditEntry) => void;
  /** The dashboard numbers (computeStats). */
  stats: () => Promise<DashboardView>;
  /** Audit events, newest first (the buffer flushed first). */
  listEvents: (options: { limit: number; beforeId?: number; kind?: string }) => Promise<EventView[]>;
  config: {
    dataDir: string;
    curate: boolean;
    keepQuery: boolean;
    trustProxy: boolean;
    /** Host names (or *.patterns) the UI answers without a password, besides IPs, localhost and machineHostname(). */
    uiHosts: readonly string[];
    adminPassword?: string | undefined;
    sessionSecret?: string | undefined;
  };
  /** This machine's hostname (os.hostname()), for the rebinding guard. */
  machineHostname(): string;
  version: string;
  nowMs(): number;
  /** The client's address as the server resolved it (proxy-aware), for the login rate limit. */
  clientAddress: string;
  log: Logger;
  listMisses(limit: number): AdminMiss[];
  dismissMiss(key: string): Promise<boolean>;
  listArtifacts(options: { filter: string; sort: ArtifactSort; limit: number }): AdminArtifact[];
  /** Remove the artifact; its bytes are freed unless another key shares them. */
  deleteArtifact(key: string): Promise<boolean>;
  /** The artifact's freshness under the running rules and settings. */
  freshnessOf(a: AdminArtifact): FreshnessView;
  /** Ask the origin about a cached artifact now, fresh or not (a fill job, conditional when it can be). */
  revalidate(key: string): Promise<EnqueueOutcome>;
  totals(): { artifactCount: number; bytes: number; missCount: number };
  freeDiskBytes(): number | null;
  listJobs(limit: number): AdminJob[];
  /** Queued and running jobs, for the header's count. */
  countActiveJobs(): number;
  /** Queue a fill (existing: the key already had one queued or running). */
  enqueue(url: string): Promise<EnqueueOutcome>;
  cancelJob(id: number): Promise<ActionResult>;
  retryJob(id: number): Promise<ActionResult>;
  clearFinished(): Promise<number>;
  /** Persist a logout until the session would have expired (survives restarts); may throw. */
  revokeSession(id: string, expiresAtMs: number): Promise<void>;
  isSessionRevoked(id: string): boolean;
  /** API tokens, by name, with last-use times written first (never the tokens themselves). */
  listTokens(): Promise<ApiTokenRow[]>;
  /** A new token: `token` is shown once, by the page that created it. Errors are one line. */
  createToken(name: string, scope: ApiTokenScope): Promise<{ ok: true; token: string; row: ApiTokenRow } | { ok: false; message: string }>;
  /** False when there is no token of that name. */
  revokeToken(name: string): Promise<boolean>;
}

// ---------------------------------------------------------------------------------------------
// Limits

/** Form bodies: the Add page is the largest (1000 lines of 8 KiB URLs would be more than this;
 *  that many at once is not a UI use). */
const FORM_BODY_BYTES_MAX = 1024 * 1024;
const ADD_LINES_MAX = 1000;
const LIST_ROWS_MAX = 500;
const JOBS_ROWS_MAX = 500;
const DEFAULT_PAGE = "/admin";
const EVENTS_PAGE = 100;

// ---------------------------------------------------------------------------------------------
// Auth state: one per config object (one server), created on its first admin request.

interface AuthState {
  keys: AuthKeys;
  password: string | null;
  limiter: LoginRateLimiter;
  /** Logouts of this process, also when the database could not record them (full disk). The
   *  database (deps.isSessionRevoked) keeps them across restarts. */
  revoked: RevokedSessions;
}

const authStates = new WeakMap<object, AuthState>();

function authState(deps: AdminDeps): AuthState {
  const existing = authStates.get(deps.config);
  if (existing) return existing;
  const password = deps.config.adminPassword === undefined || deps.config.adminPassword === "" ? null : deps.config.adminPassword;
  const { secret, source, path } = loadSessionSecret({ envValue: deps.config.sessionSecret, dataDir: deps.config.dataDir });
  if (source === "generated") deps.log.event("admin.session-secret", { action: "generated", path });
  const state: AuthState = { keys: deriveKeys({ secret, password: password ?? "" }), password, limiter: new LoginRateLimiter(), revoked: new RevokedSessions() };
  authStates.set(deps.config, state);
  return state;
}

/** The operator auth the JSON API shares with the UI: the same keys, password and logouts. */
export function operatorAuth(deps: AdminDeps): { keys: AuthKeys; password: string | null; isRevoked(session: Session): boolean } {
  const state = authState(deps);
  return { keys: state.keys, password: state.password, isRevoked: (session) => state.revoked.isRevoked(session, deps.nowMs()) || deps.isSessionRevoked(session.id) };
}

// ---------------------------------------------------------------------------------------------
// Responses

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join("; ");

function securityHeaders(extra: Record<string, string> = {}): Headers {
  const h = new Headers({
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
    vary: "HX-Request, Cookie",
    ...extra,
  });
  return h;
}

function htmlResponse(body: Html, options: { status?: number; headers?: Record<string, string> } = {}): Response {
  const headers = securityHeaders({ "content-type": "text/html; charset=utf-8", ...options.headers });
  return new Response(body.text, { status: options.status ?? 200, headers });
}

function textResponse(status: number, message: string, extra: Record<string, string> = {}): Response {
  return new Response(`${message}\n`, { status, headers: securityHeaders({ "content-type": "text/plain; charset=utf-8", ...extra }) });
}

function redirect(location: string, extra: Record<string, string> = {}): Response {
  return new Response(null, { status: 303, headers: securityHeaders({ location, ...extra }) });
}

/** Only local absolute paths may be redirect targets (no //host, no /\host, no scheme): `/`,
 *  `/admin` (the overview) and `/admin/…`, each with an optional query. Anything else: null. */
export function acceptedNext(next: string | null | undefined): string | null {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\") || next.length > 2048) return null;
  if (!/^\/(admin(\/[A-Za-z0-9/_.?=&%+-]*|\?[A-Za-z0-9/_.?=&%+-]*)?|)$/.test(next)) return null;
  return next;
}

function safeNext(next: string | null | undefined): string {
  return acceptedNext(next) ?? DEFAULT_PAGE;
}

// Notices after a plain form post travel in the redirect's query, signed so nobody can make
// the UI show text of their choosing through a crafted link.
function signNotice(keys: AuthKeys, notice: Notice): string {
  const body = Buffer.from(JSON.stringify([notice.kind, notice.text.slice(0, 500)])).toString("base64url");
  const mac = createHmac("sha256", keys.csrf).update(`notice\0${body}`).digest("base64url").slice(0, 22);
  return `${body}.${mac}`;
}

function readNotice(keys: AuthKeys, value: string | null): Notice | null {
  if (value === null || value.length > 2000) return null;
  const [body, mac] = value.split(".");
  if (!body || !mac) return null;
  const expected = createHmac("sha256", keys.csrf).update(`notice\0${body}`).digest("base64url").slice(0, 22);
  if (!checkPassword(mac, expected)) return null;
  const parsed = z.tuple([z.enum(["ok", "error"]), z.string()]).safeParse(JSON.parse(Buffer.from(body, "base64url").toString("utf8")));
  return parsed.success ? { kind: parsed.data[0], text: parsed.data[1] } : null;
}

function withNotice(keys: AuthKeys, path: string, notice: Notice): string {
  const sep = path.includes("?") ? "&" : "?";
  return `${path}${sep}notice=${signNotice(keys, notice)}`;
}

// ---------------------------------------------------------------------------------------------
// Request parsing

const FormBase = z.object({ _csrf: z.string().max(200).default("") });
const LoginForm = FormBase.extend({ password: z.string().max(1024), next: z.string().max(2048).default(DEFAULT_PAGE) });
const UrlForm = FormBase.extend({ url: z.string().min(1).max(9000) });
const KeyForm = FormBase.extend({ key: z.string().min(1).max(9000) });
const DeleteForm = KeyForm.extend({ q: z.string().max(512).default(""), sort: z.enum(["size", "hits", "lastHit"]).catch("lastHit") });
const AddForm = FormBase.extend({ urls: z.string().max(FORM_BODY_BYTES_MAX) });
// The same name and scope rules as POST /api/v1/tokens (one schema for both).
const TokenForm = FormBase.extend({ name: TokenName, scope: TokenScope });
const RevokeTokenForm = FormBase.extend({ name: z.string().min(1).max(200), confirm: z.string().max(10).default("") });
const ArtifactsQuery = z.object({ q: z.string().max(512).catch(""), sort: z.enum(["size", "hits", "lastHit"]).catch("lastHit") });

type FormResult = { ok: true; fields: Record<string, string> } | { ok: false; response: Response };

/** The body, or null once it grows past maxBytes (then the rest is never read). */
async function readBodyCapped(req: Request, maxBytes: number): Promise<Uint8Array | null> {
  if (req.body === null) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

async function readForm(req: Request): Promise<FormResult> {
  const path = new URL(req.url).pathname;
  const contentType = req.headers.get("content-type") ?? "";
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  // Refused before reading; "connection: close" so the rest of the body is never read either.
  const tooLarge = (): FormResult => ({ ok: false, response: textResponse(413, `${path}: form body is larger than ${FORM_BODY_BYTES_MAX} bytes`, { connection: "close" }) });
  const length = Number(req.headers.get("content-length") ?? "0");
  if (length > FORM_BODY_BYTES_MAX) return tooLarge();
  if (type !== "application/x-www-form-urlencoded" && type !== "multipart/form-data") {
    return { ok: false, response: textResponse(415, `${path}: content-type ${JSON.stringify(type)} is not a form; expected application/x-www-form-urlencoded`) };
  }
  // Read with our own cap: a chunked body has no Content-Length to refuse it by.
  const body = await readBodyCapped(req, FORM_BODY_BYTES_MAX);
  if (body === null) return tooLarge();
  let form: FormData;
  try {
    form = await new Response(body as Uint8Array<ArrayBuffer>, { headers: { "content-type": contentType } }).formData();
  } catch {
    return { ok: false, response: textResponse(400, `${path}: form body does not parse as ${type}`) };
  }
  const fields = Object.create(null) as Record<string, string>;
  let total = 0;
  form.forEach((value, name) => {
    if (typeof value !== "string") return;
    total += name.length + value.length;
    if (!Object.hasOwn(fields, name)) fields[name] = value;
  });
  if (total > FORM_BODY_BYTES_MAX) return tooLarge();
  return { ok: true, fields };
}

function parseFields<T extends z.ZodType>(schema: T, fields: Record<string, string>, path: string): { ok: true; data: z.infer<T> } | { ok: false; response: Response } {
  const parsed = schema.safeParse(fields);
  if (parsed.success) return { ok: true, data: parsed.data };
  const issue = parsed.error.issues[0];
  const field = issue?.path.join(".") || "form";
  return { ok: false, response: textResponse(400, `${path}: form field ${JSON.stringify(field)} ${(issue?.message ?? "is invalid").toLowerCase()}`) };
}

// ---------------------------------------------------------------------------------------------
// Mapping store rows to view values

function jobView(job: AdminJob, options: { keepQuery: boolean }): JobView {
  return { ...job, id: String(job.id), url: displayUrl(job.url, options), streamers: job.streamers ?? 0 };
}

function sortJobs(jobs: AdminJob[]): AdminJob[] {
  const rank = (j: AdminJob) => (j.state === "running" ? 0 : j.state === "queued" ? 1 : 2);
  return [...jobs].sort((a, b) => rank(a) - rank(b) || (b.finishedAtMs ?? b.createdAtMs) - (a.finishedAtMs ?? a.createdAtMs) || b.id - a.id);
}

function latestJobByKey(jobs: AdminJob[]): Map<string, AdminJob> {
  const out = new Map<string, AdminJob>();
  for (const job of jobs) {
    const seen = out.get(job.key);
    if (!seen || job.id > seen.id) out.set(job.key, job);
  }
  return out;
}

function missViews(deps: AdminDeps): MissView[] {
  const options = { keepQuery: deps.config.keepQuery };
  const jobs = latestJobByKey(deps.listJobs(JOBS_ROWS_MAX));
  return deps.listMisses(LIST_ROWS_MAX).map((m) => {
    const job = jobs.get(m.key);
    const uncacheable = m.uncacheableUntilMs !== null && m.uncacheableUntilMs > deps.nowMs() ? m.refusal : null;
    return { key: m.key, url: displayUrl(m.url, options), fetchUrl: m.url, count: m.count, firstSeenMs: m.firstSeenMs, lastSeenMs: m.lastSeenMs, sizeBytes: m.knownSizeBytes, job: job ? jobView(job, options) : null, uncacheable };
  });
}

function artifactView(a: AdminArtifact, deps: AdminDeps): ArtifactView {
  const options = { keepQuery: deps.config.keepQuery };
  return { key: a.key, url: displayUrl(a.url, options), sha256: a.sha256, sizeBytes: a.sizeBytes, contentType: a.contentType === "" ? null : a.contentType, fetchedAtMs: a.fetchedAtMs, lastHitMs: a.lastHitMs, hits: a.hits, misses: a.misses, freshness: deps.freshnessOf(a) };
}

function headerView(deps: AdminDeps, auth: AuthState): HeaderView {
  const totals = deps.totals();
  const active = deps.countActiveJobs();
  return {
    mode: deps.config.curate ? "curate" : "auto",
    version: deps.version,
    usedBytes: totals.bytes,
    freeBytes: deps.freeDiskBytes(),
    artifactCount: totals.artifactCount,
    missCount: totals.missCount,
    activeJobCount: active,
    authEnabled: auth.password !== null,
  };
}

// ---------------------------------------------------------------------------------------------
// The handler

interface RequestState {
  deps: AdminDeps;
  auth: AuthState;
  req: Request;
  url: URL;
  /** HTMX asked for a fragment (not a boosted navigation, not a history restore). */
  fragment: boolean;
  session: Session | null;
  csrf: string;
}

function serveStatic(req: Request, name: string): Response {
  const asset = Object.hasOwn(STATIC_ASSETS, name) ? STATIC_ASSETS[name] : undefined;
  if (!asset) return textResponse(404, `/static/: no such file ${quote(name, 100)}`);
  if (req.method !== "GET" && req.method !== "HEAD") return textResponse(405, `/static/${name}: method ${req.method} is not allowed; expected GET or HEAD`, { allow: "GET, HEAD" });
  return new Response(req.method === "HEAD" ? null : Bun.file(asset.path), {
    headers: {
      "content-type": asset.contentType,
      "content-length": String(Bun.file(asset.path).size),
      // Asset URLs carry ?v=<version>, so a day of caching never serves a stale file.
      "cache-control": "public, max-age=86400",
      "x-content-type-options": "nosniff",
    },
  });
}

/** The 403 of the rebinding guard: what was refused, and the three ways to get in. */
export function uiHostMessage(path: string, host: string): string {
  const name = validHostPattern(host) && !host.startsWith("*") ? host : "<name>";
  return (
    `${path}: host ${quote(host, 100)} refused: without a password the operator ui answers only by ip address, localhost, ` +
    `this machine's hostname or a --ui-host name (dns rebinding guard); open it by address, add the name with --ui-host ${name} ` +
    `(env WITHCACHE_UI_HOSTS), or set WITHCACHE_ADMIN_PASSWORD`
  );
}

export async function handleAdminRequest(req: Request, deps: AdminDeps): Promise<Response> {
  const url = new URL(req.url);
  // /static/ is the same public bytes for every host (htmx, Pico, our css/js): no guard needed.
  if (url.pathname.startsWith("/static/")) return serveStatic(req, url.pathname.slice("/static/".length));
  const auth = authState(deps);
  const trust = { trustProxy: deps.config.trustProxy };
  const addr = deps.clientAddress;

  // Without a password, answer only host names a DNS-rebinding page cannot have (auth.ts).
  // With one, a rebinding page never holds the session cookie (bound to the real name).
  if (auth.password === null) {
    const refused = uiHostRefused(req, { ...trust, uiHosts: deps.config.uiHosts, machineHostname: deps.machineHostname() });
    if (refused !== null) {
      deps.log.event("admin.host-refused", { client: addr, method: req.method, path: url.pathname, host: refused.host.slice(0, 200) });
      audit(deps, "host-refused", "refused", `${req.method} ${url.pathname.slice(0, 200)} host ${refused.host.slice(0, 200)}`);
      return textResponse(403, uiHostMessage(url.pathname, refused.host));
    }
  }
  const nowMs = deps.nowMs();
  const secure = isSecureRequest(req, trust);

  // Session: present, valid, not logged out. A bad cookie is logged (never its value) and cleared.
  let session: Session | null = null;
  let clearCookie = false;
  const cookie = parseCookies(req.headers.get("cookie")).get(SESSION_COOKIE);
  if (auth.password !== null && cookie !== undefined && cookie !== "") {
    const verified = verifySession(auth.keys, cookie, nowMs);
    if (!verified.ok) {
      deps.log.event("admin.session-rejected", { client: addr, reason: verified.reason });
      audit(deps, "session-rejected", "refused", verified.reason);
      clearCookie = true;
    } else if (auth.revoked.isRevoked(verified.session, nowMs) || deps.isSessionRevoked(verified.session.id)) {
      deps.log.event("admin.session-rejected", { client: addr, reason: "session was logged out" });
      audit(deps, "session-rejected", "refused", "session was logged out");
      clearCookie = true;
    } else {
      session = verified.session;
    }
  }
  const csrfBinding = auth.password === null ? "open" : session === null ? "login" : `session\0${session.id}`;
  const hx = req.headers.get("hx-request") === "true";
  const st: RequestState = {
    deps,
    auth,
    req,
    url,
    fragment: hx && req.headers.get("hx-boosted") !== "true" && req.headers.get("hx-history-restore-request") !== "true",
    session,
    csrf: csrfToken(auth.keys, csrfBinding),
  };

  // State-changing requests: same-site only, and with the token of this session.
  if (req.method === "POST") {
    const reason = crossSiteReason(req, trust);
    if (reason !== null) {
      deps.log.event("admin.cross-site-refused", { client: addr, method: req.method, path: url.pathname, reason });
      audit(deps, "cross-site-refused", "refused", `${url.pathname.slice(0, 200)}: ${reason}`);
      return textResponse(403, `${url.pathname}: cross-site request refused (${reason})`);
    }
  }

  if (url.pathname === "/login") return login(st, { addr, nowMs, secure });
  if (url.pathname === "/logout") return logout(st, { secure });

  const clear: Record<string, string> = clearCookie ? { "set-cookie": sessionCookie(null, { secure }) } : {};
  if (auth.password !== null && session === null) {
    const next = req.method === "GET" ? safeNext(url.pathname + url.search) : DEFAULT_PAGE;
    const loginUrl = `/login?next=${encodeURIComponent(next)}`;
    // HTMX follows HX-Redirect with a full navigation; plain browsers follow the 303.
    if (hx) return textResponse(401, `${url.pathname}: login required`, { "hx-redirect": loginUrl, ...clear });
    if (req.method !== "GET" && req.method !== "HEAD" && req.method !== "POST") return textResponse(401, `${url.pathname}: login required`, clear);
    return redirect(loginUrl, clear);
  }

  if (req.method === "POST") {
    const form = await readForm(req);
    if (!form.ok) return form.response;
    const token = form.fields["_csrf"] ?? req.headers.get("x-csrf-token") ?? "";
    if (!verifyCsrfToken(auth.keys, csrfBinding, token)) {
      deps.log.event("admin.csrf-refused", { client: addr, path: url.pathname });
      audit(deps, "csrf-refused", "refused", url.pathname.slice(0, 200));
      return textResponse(403, `${url.pathname}: csrf token is missing or wrong; reload the page and try again`);
    }
    return post(st, url.pathname, form.fields);
  }
  if (req.method !== "GET" && req.method !== "HEAD") return textResponse(405, `${url.pathname}: method ${req.method} is not allowed`, { allow: "GET, HEAD, POST" });
  return get(st, url.pathname);
}

/** One audit event for this request: actor `session` (password set) or `open`, the client address. */
function audit(deps: AdminDeps, kind: string, outcome: "ok" | "refused" | "failed", detail?: string, actor?: string): void {
  const open = deps.config.adminPassword === undefined || deps.config.adminPassword === "";
  deps.audit({ kind, actor: actor ?? (open ? "open" : "session"), client: deps.clientAddress, outcome, ...(detail === undefined ? {} : { detail }) });
}

function pageContext(st: RequestState): PageContext {
  return {
    header: headerView(st.deps, st.auth),
    csrfToken: st.csrf,
    nowMs: st.deps.nowMs(),
    notice: readNotice(st.auth.keys, st.url.searchParams.get("notice")),
  };
}

// ---------------------------------------------------------------------------------------------
// Login and logout

async function login(st: RequestState, env: { addr: string; nowMs: number; secure: boolean }): Promise<Response> {
  const { deps, auth, req, url } = st;
  if (auth.password === null) return redirect(DEFAULT_PAGE);
  const next = safeNext(url.searchParams.get("next"));
  const loginCsrf = csrfToken(auth.keys, "login");
  const render = (status: number, error: string | null, nextPath: string, extra: Record<string, string> = {}) =>
    htmlResponse(loginPage({ version: deps.version, error, csrfToken: loginCsrf, next: nextPath }), { status, headers: extra });
  if (req.method === "GET" || req.method === "HEAD") {
    if (st.session !== null) return redirect(next);
    return render(200, null, next);
  }
  if (req.method !== "POST") return textResponse(405, `/login: method ${req.method} is not allowed; expected GET or POST`, { allow: "GET, POST" });

  const rateLimited = (nextPath: string): Response | null => {
    const wait = auth.limiter.retryAfterMs(env.addr, env.nowMs);
    if (wait === null) return null;
    deps.log.event("admin.login-rate-limited", { client: env.addr });
    const seconds = Math.ceil(wait / 1000);
    return render(429, `too many failed attempts; try again in ${seconds}s`, nextPath, { "retry-after": String(seconds) });
  };
  // At the door (a locked-out client's body is not even read) …
  const locked = rateLimited(next);
  if (locked) return locked;
  const form = await readForm(req);
  if (!form.ok) return form.response;
  const parsed = parseFields(LoginForm, form.fields, "/login");
  if (!parsed.ok) return parsed.response;
  const nextPath = safeNext(parsed.data.next);
  if (!verifyCsrfToken(auth.keys, "login", parsed.data._csrf)) {
    deps.log.event("admin.csrf-refused", { client: env.addr, path: "/login" });
    audit(deps, "csrf-refused", "refused", "/login");
    return render(403, "the login form expired; try again", nextPath);
  }
  // … and again with no await between this check and recording a failure: guesses whose bodies
  // arrive together all passed the door while the count was still low.
  const lockedNow = rateLimited(nextPath);
  if (lockedNow) return lockedNow;
  if (!checkPassword(parsed.data.password, auth.password)) {
    auth.limiter.recordFailure(env.addr, env.nowMs);
    deps.log.event("admin.login-failed", { client: env.addr, reason: "wrong password" });
    audit(deps, "login-refused", "refused", "wrong password", "anonymous");
    return render(401, "wrong password", nextPath);
  }
  auth.limiter.recordSuccess(env.addr);
  const session = { id: newSessionId(), issuedAtMs: env.nowMs };
  deps.log.event("admin.login", { client: env.addr });
  audit(deps, "login", "ok");
  return redirect(nextPath, { "set-cookie": sessionCookie(signSession(auth.keys, session), { secure: env.secure }) });
}

async function logout(st: RequestState, env: { secure: boolean }): Promise<Response> {
  const { auth, req, deps } = st;
  if (req.method !== "POST") return textResponse(405, `/logout: method ${req.method} is not allowed; expected POST`, { allow: "POST" });
  if (auth.password === null) return redirect(DEFAULT_PAGE);
  const clear = { "set-cookie": sessionCookie(null, { secure: env.secure }) };
  if (st.session === null) return redirect("/login", clear);
  const form = await readForm(req);
  if (!form.ok) return form.response;
  if (!verifyCsrfToken(auth.keys, `session\0${st.session.id}`, form.fields["_csrf"] ?? "")) {
    return textResponse(403, "/logout: csrf token is missing or wrong; reload the page and try again");
  }
  auth.revoked.revoke(st.session);
  audit(deps, "logout", "ok");
  try {
    await deps.revokeSession(st.session.id, st.session.issuedAtMs + SESSION_LIFETIME_MS);
    deps.log.event("admin.logout", {});
  } catch (err) {
    // Still refused by this process; only a restart would forget it.
    deps.log.event("admin.logout", { persisted: false, error: (err instanceof Error ? err.message : String(err)).split("\n")[0] });
  }
  return redirect("/login", clear);
}

// ---------------------------------------------------------------------------------------------
// Pages

function missesFragment(st: RequestState, notice: Notice | null): Html {
  return missesSection({ misses: missViews(st.deps), mode: st.deps.config.curate ? "curate" : "auto", csrfToken: st.csrf, nowMs: st.deps.nowMs(), notice });
}

function downloadsFragment(st: RequestState, notice: Notice | null): Html {
  return downloadsSection({ jobs: sortJobs(st.deps.listJobs(JOBS_ROWS_MAX)).map((j) => jobView(j, { keepQuery: st.deps.config.keepQuery })), csrfToken: st.csrf, nowMs: st.deps.nowMs(), notice });
}

function artifactsData(st: RequestState, query: { q: string; sort: ArtifactSort }) {
  const totals = st.deps.totals();
  return {
    artifacts: st.deps.listArtifacts({ filter: query.q, sort: query.sort, limit: LIST_ROWS_MAX }).map((a) => artifactView(a, st.deps)),
    filter: query.q,
    sort: query.sort,
    totals: { artifactCount: totals.artifactCount, bytes: totals.bytes, freeBytes: st.deps.freeDiskBytes() },
  };
}

function get(st: RequestState, path: string): Response | Promise<Response> {
  switch (path) {
    case "/":
    case "/admin":
    case "/admin/":
      return (async () => {
        const view = await st.deps.stats();
        if (st.fragment) return fragmentResponse(st, "dashboard", dashboardSection(view));
        return htmlResponse(dashboardPage(pageContext(st), view));
      })();
    case "/admin/events":
      return (async () => {
        const kind = (st.url.searchParams.get("kind") ?? "").trim().slice(0, 100);
        const before = Number(st.url.searchParams.get("before") ?? "");
        const rows = await st.deps.listEvents({ limit: EVENTS_PAGE + 1, ...(kind === "" ? {} : { kind }), ...(Number.isSafeInteger(before) && before > 0 ? { beforeId: before } : {}) });
        const shown = rows.slice(0, EVENTS_PAGE);
        const data = { events: shown, kind, olderThanId: rows.length > EVENTS_PAGE ? shown[shown.length - 1]!.id : null, nowMs: st.deps.nowMs() };
        if (st.fragment) return fragmentResponse(st, "events", eventsSection(data));
        return htmlResponse(eventsPage(pageContext(st), data));
      })();
    case "/admin/misses":
      if (st.fragment) return fragmentResponse(st, "misses", missesFragment(st, null));
      return htmlResponse(missesPage(pageContext(st), missViews(st.deps)));
    case "/admin/downloads":
      if (st.fragment) return fragmentResponse(st, "downloads", downloadsFragment(st, null));
      return htmlResponse(downloadsPage(pageContext(st), sortJobs(st.deps.listJobs(JOBS_ROWS_MAX)).map((j) => jobView(j, { keepQuery: st.deps.config.keepQuery }))));
    case "/admin/artifacts": {
      const query = ArtifactsQuery.parse({ q: st.url.searchParams.get("q") ?? "", sort: st.url.searchParams.get("sort") ?? "lastHit" });
      const data = { ...artifactsData(st, query), csrfToken: st.csrf, nowMs: st.deps.nowMs(), notice: null };
      // The filter box swaps only the list under it (keeping focus in the box while typing).
      if (st.fragment && st.req.headers.get("hx-target") === "artifacts-list") return htmlResponse(artifactsList(data));
      if (st.fragment) return fragmentResponse(st, "artifacts", artifactsSection(data));
      return htmlResponse(artifactsPage(pageContext(st), data));
    }
    case "/admin/tokens":
      return (async () => {
        const data = { tokens: await tokenViews(st.deps), ...emptyTokensForm() };
        if (st.fragment) return fragmentResponse(st, "tokens", tokensSection({ ...data, csrfToken: st.csrf, nowMs: st.deps.nowMs(), notice: null }));
        return htmlResponse(tokensPage(pageContext(st), data));
      })();
    case "/admin/add":
      if (st.fragment) return fragmentResponse(st, "add", addSection({ text: "", results: [], csrfToken: st.csrf, notice: null }));
      return htmlResponse(addPage(pageContext(st), { text: "", results: [] }));
    default:
      return textResponse(404, `no such page ${quote(path, 100)}`);
  }
}

/** An HTMX answer: the section, plus the header bar out of band so its counts stay current. */
function fragmentResponse(st: RequestState, page: PageName, body: Html, options: { status?: number } = {}): Response {
  const header = headerBar(page, headerView(st.deps, st.auth), st.csrf, { oob: true });
  return htmlResponse(html`${body}\n${header}`, options);
}

const PAGE_OF: Record<string, PageName> = { "/admin/misses": "misses", "/admin/downloads": "downloads", "/admin/artifacts": "artifacts", "/admin/add": "add", "/admin/tokens": "tokens" };

/** After an action: the fresh fragment for HTMX, or 303 back to the page for a plain post. */
function answer(st: RequestState, options: { page: string; notice: Notice; fragment: (notice: Notice) => Html; kind?: string }): Response {
  if (options.kind !== undefined) audit(st.deps, options.kind, options.notice.kind === "error" ? "failed" : "ok", options.notice.text);
  if (st.fragment) return fragmentResponse(st, PAGE_OF[options.page.split("?")[0]!] ?? "misses", options.fragment(options.notice));
  return redirect(withNotice(st.auth.keys, options.page, options.notice));
}

const JOB_ACTION = /^\/admin\/downloads\/(\d{1,15})\/(cancel|retry)$/;

async function post(st: RequestState, path: string, fields: Record<string, string>): Promise<Response> {
  const { deps } = st;
  const job = JOB_ACTION.exec(path);
  if (job) {
    const id = Number(job[1]);
    const action = job[2] as "cancel" | "retry";
    const result = action === "cancel" ? await deps.cancelJob(id) : await deps.retryJob(id);
    const notice: Notice = result.ok ? { kind: "ok", text: action === "cancel" ? `cancelled download ${id}` : `download ${id} queued again` } : { kind: "error", text: result.message };
    return answer(st, { page: "/admin/downloads", notice, fragment: (n) => downloadsFragment(st, n), kind: action });
  }
  switch (path) {
    case "/admin/misses/download": {
      const form = parseFields(UrlForm, fields, path);
      if (!form.ok) return form.response;
      const parsed = parseOriginUrl(form.data.url);
      const result: EnqueueOutcome = parsed.ok ? await deps.enqueue(form.data.url) : { ok: false, message: parsed.message };
      const notice: Notice = !result.ok
        ? { kind: "error", text: result.message }
        : { kind: "ok", text: `${result.existing ? "already downloading" : "queued"} ${displayUrl(form.data.url, { keepQuery: st.deps.config.keepQuery })}` };
      return answer(st, { page: "/admin/misses", notice, fragment: (n) => missesFragment(st, n), kind: "download-from-misses" });
    }
    case "/admin/misses/dismiss": {
      const form = parseFields(KeyForm, fields, path);
      if (!form.ok) return form.response;
      const done = await deps.dismissMiss(form.data.key);
      const notice: Notice = done ? { kind: "ok", text: `dismissed ${form.data.key}` } : { kind: "error", text: `no miss recorded for ${form.data.key}` };
      return answer(st, { page: "/admin/misses", notice, fragment: (n) => missesFragment(st, n), kind: "dismiss" });
    }
    case "/admin/downloads/clear": {
      const form = parseFields(FormBase, fields, path);
      if (!form.ok) return form.response;
      const n = await deps.clearFinished();
      const notice: Notice = { kind: "ok", text: `cleared ${n} finished download${n === 1 ? "" : "s"}` };
      return answer(st, { page: "/admin/downloads", notice, fragment: (x) => downloadsFragment(st, x), kind: "clear-downloads" });
    }
    case "/admin/artifacts/delete": {
      const form = parseFields(DeleteForm, fields, path);
      if (!form.ok) return form.response;
      const done = await deps.deleteArtifact(form.data.key);
      const notice: Notice = done ? { kind: "ok", text: `deleted ${form.data.key}` } : { kind: "error", text: `${form.data.key} is not cached` };
      audit(deps, "delete", done ? "ok" : "failed", notice.text);
      return backToArtifacts(st, form.data, notice);
    }
    case "/admin/artifacts/revalidate": {
      const form = parseFields(DeleteForm, fields, path);
      if (!form.ok) return form.response;
      const result = await deps.revalidate(form.data.key);
      const notice: Notice = result.ok
        ? { kind: "ok", text: `${result.existing ? "already revalidating" : "revalidating"} ${form.data.key} (see Downloads)` }
        : { kind: "error", text: result.message };
      audit(deps, "revalidate", result.ok ? "ok" : "failed", notice.text);
      return backToArtifacts(st, form.data, notice);
    }
    case "/admin/add":
      return add(st, fields);
    case "/admin/tokens/create":
      return createToken(st, fields);
    case "/admin/tokens/revoke":
      return revokeToken(st, fields);
    default:
      return textResponse(404, `no such action ${quote(path, 100)}`);
  }
}

/** After an Artifacts action: the list as it was filtered and sorted, with the outcome. */
function backToArtifacts(st: RequestState, form: { q: string; sort: ArtifactSort }, notice: Notice): Response {
  const query = { q: form.q, sort: form.sort };
  const back = `/admin/artifacts?${new URLSearchParams(query.q === "" ? { sort: query.sort } : query)}`;
  return answer(st, { page: back, notice, fragment: (n) => artifactsSection({ ...artifactsData(st, query), csrfToken: st.csrf, nowMs: st.deps.nowMs(), notice: n }) });
}

async function add(st: RequestState, fields: Record<string, string>): Promise<Response> {
  const form = parseFields(AddForm, fields, "/admin/add");
  if (!form.ok) return form.response;
  const lines = form.data.urls.split(/\r?\n/);
  if (lines.length > ADD_LINES_MAX) return textResponse(413, `/admin/add: ${lines.length} lines is more than ${ADD_LINES_MAX}; add them in batches`);
  const results: AddLineResult[] = [];
  for (const [index, rawLine] of lines.entries()) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    const lineNumber = index + 1;
    const parsed = parseOriginUrl(line);
    if (!parsed.ok) {
      results.push({ ok: false, lineNumber, line, reason: parsed.message });
      continue;
    }
    const queued = await st.deps.enqueue(line);
    results.push(queued.ok ? { ok: true, lineNumber, url: line, jobId: String(queued.jobId) } : { ok: false, lineNumber, line, reason: queued.message });
  }
  const bad = results.filter((r) => !r.ok);
  const good = results.length - bad.length;
  for (const r of results) audit(st.deps, "add", r.ok ? "ok" : "failed", r.ok ? displayUrl(r.url, { keepQuery: st.deps.config.keepQuery }) : `line ${r.lineNumber}: ${r.reason}`);
  const badText = bad.map((r) => (r.ok ? "" : r.line)).join("\n");
  if (results.length === 0) {
    const notice: Notice = { kind: "error", text: "no urls given; paste one http or https url per line" };
    if (st.fragment) return fragmentResponse(st, "add", addSection({ text: "", results: [], csrfToken: st.csrf, notice }));
    return redirect(withNotice(st.auth.keys, "/admin/add", notice));
  }
  if (st.fragment) return fragmentResponse(st, "add", addSection({ text: badText, results, csrfToken: st.csrf, notice: null }));
  // Plain post: all good → back to Downloads; any bad → show the page with the bad lines named.
  if (bad.length === 0) return redirect(withNotice(st.auth.keys, "/admin/downloads", { kind: "ok", text: `queued ${good} download${good === 1 ? "" : "s"}` }));
  return htmlResponse(addPage({ ...pageContext(st), notice: null }, { text: badText, results }), { status: good === 0 ? 400 : 200 });
}

// ---------------------------------------------------------------------------------------------
// Tokens

async function tokenViews(deps: AdminDeps): Promise<TokenView[]> {
  return (await deps.listTokens()).map((t) => ({ name: t.name, scope: t.scope, hint: t.hint, createdAtMs: t.createdAtMs, lastUsedMs: t.lastUsedMs }));
}

/** The Tokens section or page in a given state: HTMX gets the section, a plain post the page. */
async function tokensAnswer(st: RequestState, state: Partial<Omit<TokensData, "tokens" | "csrfToken" | "nowMs">>, options: { status?: number } = {}): Promise<Response> {
  const data = { ...emptyTokensForm(), ...state, tokens: await tokenViews(st.deps) };
  if (st.fragment) return fragmentResponse(st, "tokens", tokensSection({ notice: null, ...data, csrfToken: st.csrf, nowMs: st.deps.nowMs() }), options);
  return htmlResponse(tokensPage({ ...pageContext(st), notice: data.notice ?? null }, data), options);
}

/** Create a token and show it once. Answered with the page itself, never a redirect: the token
 *  must not travel in a URL (history, logs). A refused create is one line under the form (400
 *  for a plain post; 200 for HTMX, which swaps only 2xx answers). */
async function createToken(st: RequestState, fields: Record<string, string>): Promise<Response> {
  const name = fields["name"] ?? "";
  const scope = fields["scope"] ?? "";
  const form = { name, scope: scope === "admin" ? "admin" : "read" };
  const parsed = TokenForm.safeParse({ ...fields, name, scope });
  if (!parsed.success) {
    const field = parsed.error.issues[0]?.path[0];
    const formError = field === "scope" ? `scope ${quote(scope, 40)} is not read or admin` : `token name ${quote(name, 70)} ${(parsed.error.issues[0]?.message ?? "is invalid").toLowerCase()}`;
    return tokensAnswer(st, { formError, form }, { status: st.fragment ? 200 : 400 });
  }
  const made = await st.deps.createToken(parsed.data.name, parsed.data.scope);
  // Like POST /api/v1/tokens: the name and scope, never the token.
  audit(st.deps, "token-create", made.ok ? "ok" : "refused", `${parsed.data.name} (${parsed.data.scope})`);
  if (!made.ok) return tokensAnswer(st, { formError: made.message, form }, { status: st.fragment ? 200 : 400 });
  st.deps.log.event("admin.token-create", { name: made.row.name, scope: made.row.scope, hint: made.row.hint });
  return tokensAnswer(st, { created: { name: made.row.name, scope: made.row.scope, token: made.token } });
}

/** Revoke a token. HTMX sends confirm=yes once the operator accepted hx-confirm; a plain post
 *  without it (no JS) is answered with a confirmation step that posts it. */
async function revokeToken(st: RequestState, fields: Record<string, string>): Promise<Response> {
  const form = parseFields(RevokeTokenForm, fields, "/admin/tokens/revoke");
  if (!form.ok) return form.response;
  const { name, confirm } = form.data;
  if (confirm !== "yes" && (await st.deps.listTokens()).some((t) => t.name === name)) return tokensAnswer(st, { confirmRevoke: name });
  const gone = await st.deps.revokeToken(name);
  audit(st.deps, "token-revoke", gone ? "ok" : "refused", name.slice(0, 64));
  if (gone) st.deps.log.event("admin.token-revoke", { name });
  const notice: Notice = gone ? { kind: "ok", text: `revoked token ${name}; requests with it are refused from now on` } : { kind: "error", text: `no token named ${quote(name, 64)}` };
  if (st.fragment) return tokensAnswer(st, { notice });
  return redirect(withNotice(st.auth.keys, "/admin/tokens", notice));
}

// ---------------------------------------------------------------------------------------------
// The router's entry point: adapt the server context to what admin needs.

export function adminDeps(ctx: RequestContext): AdminDeps {
  const { store, fills } = ctx;
  const meta = store.metadata;
  return {
    config: ctx.config,
    audit: (entry) => ctx.audit.record(entry),
    listEvents: async (options) => {
      await ctx.audit.flush();
      return ctx.store.ops.listEvents(options);
    },
    stats: () => computeStats(ctx, { displayUrl: (u) => displayUrl(u, { keepQuery: ctx.config.keepQuery }) }),
    machineHostname: () => hostname(),
    version: ctx.version,
    nowMs: ctx.nowMs,
    clientAddress: ctx.clientAddress,
    log: ctx.log,
    listMisses: (limit) => meta.listMisses({ limit }),
    dismissMiss: (key) => meta.dismissMiss(key),
    listArtifacts: ({ filter, sort, limit }) => meta.listArtifacts({ filter, sort, limit }),
    deleteArtifact: async (key) => (await store.deleteArtifact(key)).deleted,
    freshnessOf: (a) => freshnessView(a, rowFreshness(a, fills.rules, ctx.config), ctx.nowMs()),
    revalidate: async (key) => {
      const row = meta.getArtifact(key);
      if (row === null) return { ok: false, message: `${key} is not cached` };
      const result = await fills.enqueue(row.url, { source: "operator", revalidate: true });
      return result.ok ? { ok: true, jobId: result.job.id, existing: result.existing } : { ok: false, message: result.message };
    },
    totals: () => meta.totals(),
    freeDiskBytes: () => {
      try {
        return store.diskSpace().freeBytes;
      } catch {
        return null;
      }
    },
    listJobs: (limit) => {
      const streaming = fills.streamersByJob();
      return meta.listJobs({ limit }).map((j) => (streaming.has(j.id) ? { ...j, streamers: streaming.get(j.id)! } : j));
    },
    countActiveJobs: () => meta.countJobs(["queued", "running"]),
    enqueue: async (url) => {
      const result = await fills.enqueue(url, { source: "operator" });
      return result.ok ? { ok: true, jobId: result.job.id, existing: result.existing } : { ok: false, message: result.message };
    },
    cancelJob: (id) => fills.cancel(id),
    retryJob: (id) => fills.retry(id),
    clearFinished: () => fills.clearFinished(),
    revokeSession: (id, expiresAtMs) => meta.revokeSession({ id, expiresAtMs, nowMs: ctx.nowMs() }),
    isSessionRevoked: (id) => meta.isSessionRevoked(id, ctx.nowMs()),
    listTokens: async () => {
      // Last-use times are batched (a write a minute); the page shows them as of now.
      await ctx.tokens.flush();
      return ctx.tokens.list();
    },
    createToken: async (name, scope) => {
      const made = await ctx.tokens.create(name, scope);
      return made.ok ? { ok: true, token: made.created.token, row: made.created.row } : made;
    },
    revokeToken: (name) => ctx.tokens.revoke(name),
  };
}

/** What the Artifacts page shows of a row's freshness. */
function freshnessView(a: ArtifactRow, f: RowFreshness, nowMs: number): FreshnessView {
  const state = a.superseded ? "superseded" : f.verdict(nowMs).kind;
  const until = f.freshness.freshUntilMs;
  const policy = f.rule !== null ? `rule ${f.rule.text}` : `origin: ${f.freshness.reason}`;
  const lastCheck = a.revalidatedAtMs === null || a.revalidation === null ? null : { atMs: a.revalidatedAtMs, result: a.revalidation, detail: a.revalidationDetail };
  return { state, freshUntilMs: Number.isFinite(until) ? until : null, policy, lastCheck };
}

export async function handleAdmin(req: Request, ctx: RequestContext): Promise<Response> {
  return handleAdminRequest(req, adminDeps(ctx));
}
