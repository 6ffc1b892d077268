// Who is calling the JSON API, and may they. A Bearer token (scope read: GET only; admin: all)
// skips the browser protections, which exist for cookies. Without one, the UI's rules: with a
// password, a session cookie and, to change state, the CSRF token in X-CSRF-Token; without a
// password, the DNS-rebinding host guard, and state changes must be same-site and JSON (a page on
// another site cannot send `Content-Type: application/json` without a preflight we never grant).
import { parseBearer } from "../../core/api-token.ts";
import { HttpError } from "../../core/errors.ts";
import { hostname } from "node:os";
import { crossSiteReason, parseCookies, SESSION_COOKIE, uiHostRefused, verifyCsrfToken, verifySession } from "../auth.ts";
import { operatorAuth, uiHostMessage, type AdminDeps } from "../admin.ts";
import type { RequestContext } from "../context.ts";

export type Caller = {
  /** As the audit log names it: `token:<name>`, `session` or `open`. */
  actor: string;
  scope: "read" | "admin";
  via: "token" | "session" | "open";
};

/** Query parameters that look like a credential: refused wherever they appear. */
export const TOKEN_PARAMETERS = ["token", "access_token", "api_key", "apikey", "bearer"];

export function isWrite(method: string): boolean {
  return method !== "GET" && method !== "HEAD";
}

/** The caller, or an HttpError (401/403/400) with one line; refusals are logged and audited. */
export async function authenticate(req: Request, url: URL, ctx: RequestContext, deps: AdminDeps): Promise<Caller> {
  const path = url.pathname;
  const client = ctx.clientAddress;
  for (const name of url.searchParams.keys()) {
    if (TOKEN_PARAMETERS.includes(name.toLowerCase())) {
      ctx.audit.record({ kind: "token-refused", actor: "anonymous", client, outcome: "refused", detail: `${path}: token in the query string` });
      throw new HttpError(400, `${path}: tokens are accepted only in the Authorization header ("Authorization: Bearer wc_…"), never in the query string`);
    }
  }
  const bearer = parseBearer(req.headers.get("authorization"));
  if (bearer.kind === "invalid") {
    ctx.log.event("api.token-refused", { client, path, reason: bearer.message });
    ctx.audit.record({ kind: "token-refused", actor: "anonymous", client, outcome: "refused", detail: bearer.message });
    throw new HttpError(401, `${path}: ${bearer.message}`);
  }
  if (bearer.kind === "token") {
    const row = await ctx.tokens.verify(bearer.token);
    if (row === null) {
      ctx.log.event("api.token-refused", { client, path, reason: "unknown or revoked token" });
      ctx.audit.record({ kind: "token-refused", actor: "anonymous", client, outcome: "refused", detail: `${path}: unknown or revoked token` });
      throw new HttpError(401, `${path}: the bearer token is not valid (revoked, or never issued by this cache-host)`);
    }
    if (row.scope === "read" && isWrite(req.method)) throw new HttpError(403, `${path}: token "${row.name}" has scope read; ${req.method} needs a token with scope admin`);
    return { actor: `token:${row.name}`, scope: row.scope, via: "token" };
  }

  const auth = operatorAuth(deps);
  const trust = { trustProxy: ctx.config.trustProxy };
  if (isWrite(req.method)) {
    const reason = crossSiteReason(req, trust);
    if (reason !== null) {
      ctx.log.event("admin.cross-site-refused", { client, method: req.method, path, reason });
      ctx.audit.record({ kind: "cross-site-refused", actor: "anonymous", client, outcome: "refused", detail: `${path}: ${reason}` });
      throw new HttpError(403, `${path}: cross-site request refused (${reason})`);
    }
  }
  if (auth.password === null) {
    const refused = uiHostRefused(req, { ...trust, uiHosts: ctx.config.uiHosts, machineHostname: hostname() });
    if (refused !== null) {
      ctx.log.event("admin.host-refused", { client, method: req.method, path, host: refused.host.slice(0, 200) });
      ctx.audit.record({ kind: "host-refused", actor: "anonymous", client, outcome: "refused", detail: `host ${refused.host.slice(0, 200)}` });
      throw new HttpError(403, uiHostMessage(path, refused.host));
    }
    if (isWrite(req.method) && !isJsonRequest(req)) {
      throw new HttpError(415, `${path}: ${req.method} needs "Content-Type: application/json" (or a Bearer token)`);
    }
    return { actor: "open", scope: "admin", via: "open" };
  }
  const cookie = parseCookies(req.headers.get("cookie")).get(SESSION_COOKIE);
  const verified = cookie === undefined || cookie === "" ? null : verifySession(auth.keys, cookie, ctx.nowMs());
  if (verified === null || !verified.ok || auth.isRevoked(verified.session)) {
    if (verified !== null) ctx.log.event("admin.session-rejected", { client, reason: verified.ok ? "session was logged out" : verified.reason });
    throw new HttpError(401, `${path}: authentication required: send "Authorization: Bearer <token>" (create one with withcache token create) or log in`);
  }
  if (isWrite(req.method) && !verifyCsrfToken(auth.keys, `session\0${verified.session.id}`, req.headers.get("x-csrf-token") ?? "")) {
    ctx.log.event("admin.csrf-refused", { client, path });
    ctx.audit.record({ kind: "csrf-refused", actor: "session", client, outcome: "refused", detail: path });
    throw new HttpError(403, `${path}: csrf token is missing or wrong; send the page's token in X-CSRF-Token`);
  }
  return { actor: "session", scope: "admin", via: "session" };
}

export function isJsonRequest(req: Request): boolean {
  return (req.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase() === "application/json";
}

