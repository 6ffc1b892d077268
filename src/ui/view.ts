// The data the pages render: plain values, mapped from the stores by src/server/admin.ts.
// The UI never reads the stores itself.

export type JobState = "queued" | "running" | "completed" | "failed" | "cancelled";

export interface JobView {
  id: string;
  key: string;
  url: string;
  state: JobState;
  bytesDone: number;
  totalBytes: number | null;
  rateBytesPerSec: number;
  /** Clients streaming the fill as it arrives (absent: none). */
  streamers?: number;
  error: string | null;
  createdAtMs: number;
  startedAtMs: number | null;
  finishedAtMs: number | null;
}

export interface MissView {
  key: string;
  /** As shown: without the query unless --keep-query (signed URLs carry their secret there). */
  url: string;
  /** The URL as the client sent it, query included: what Download fetches. */
  fetchUrl: string;
  count: number;
  firstSeenMs: number;
  lastSeenMs: number;
  sizeBytes: number | null;
  /** The latest fill of this key, if any (auto mode fills misses by itself). */
  job: JobView | null;
  /** The origin would not let it be stored (no-store, Set-Cookie, 4xx, …): why, while that holds. */
  uncacheable: string | null;
}

/** An artifact's freshness as the operator sees it. */
export interface FreshnessView {
  state: "fresh" | "stale" | "superseded";
  /** Fresh until (null: never revalidated, an immutable rule). */
  freshUntilMs: number | null;
  /** The policy that applied: the matching rule, or "origin" with how the lifetime was found. */
  policy: string;
  lastCheck: { atMs: number; result: string; detail: string | null } | null;
}

export interface ArtifactView {
  key: string;
  url: string;
  sha256: string;
  sizeBytes: number;
  contentType: string | null;
  fetchedAtMs: number;
  lastHitMs: number | null;
  hits: number;
  misses: number;
  freshness: FreshnessView;
}

export type ArtifactSort = "size" | "hits" | "lastHit";

export interface HeaderView {
  mode: "auto" | "curate";
  version: string;
  usedBytes: number;
  freeBytes: number | null;
  artifactCount: number;
  missCount: number;
  activeJobCount: number;
  /** False when WITHCACHE_ADMIN_PASSWORD is unset: the UI is open to anyone who can reach it. */
  authEnabled: boolean;
}

/** What every page needs besides its own data. */
export interface PageContext {
  header: HeaderView;
  csrfToken: string;
  nowMs: number;
  /** A one-line outcome of the last action, chosen by the server from a fixed list. */
  notice: Notice | null;
}

export interface Notice {
  kind: "ok" | "error";
  text: string;
}

export type AddLineResult =
  | { ok: true; lineNumber: number; url: string; jobId: string }
  | { ok: false; lineNumber: number; line: string; reason: string };

/** An API token as the Tokens page lists it: never the token itself, only its hint. */
export interface TokenView {
  name: string;
  scope: "read" | "admin";
  /** The token's first characters (`wc_AbCd…`), to tell tokens apart. */
  hint: string;
  createdAtMs: number;
  lastUsedMs: number | null;
}
