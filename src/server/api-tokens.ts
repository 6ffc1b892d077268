// API tokens: created with 32 random bytes, shown once, stored as sha256; a request's Bearer
// token is hashed and looked up (the database compares hashes, and the found row's hash is
// compared again in constant time). Last-use times are remembered in memory and written once a
// minute. Lookups are cached briefly so a busy script costs no query per request; a revoke
// through this process drops the cache at once (other replicas see it within TOKEN_CACHE_MS).
import { randomBytes, timingSafeEqual } from "node:crypto";
import { API_TOKEN_RANDOM_BYTES, apiTokenFromBytes, tokenHint, tokenNameTaken, type ApiTokenScope } from "../core/api-token.ts";
import type { ApiTokenRow, OpsStore } from "../store/types.ts";

export const TOKEN_TOUCH_FLUSH_MS = 60_000;
export const TOKEN_CACHE_MS = 5_000;
export const TOKENS_MAX = 1000;

export function sha256Hex(text: string): string {
  return new Bun.CryptoHasher("sha256").update(text).digest("hex");
}

export type CreatedToken = { token: string; row: ApiTokenRow };

export class ApiTokens {
  private readonly uses = new Map<number, number>();
  private readonly cache = new Map<string, { row: ApiTokenRow | null; atMs: number; sha: string }>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly ops: OpsStore,
    private readonly nowMs: () => number,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), TOKEN_TOUCH_FLUSH_MS);
    this.timer.unref?.();
  }

  /** A new token; the caller shows `token` once and never again. Errors are one line. */
  async create(name: string, scope: ApiTokenScope): Promise<{ ok: true; created: CreatedToken } | { ok: false; message: string }> {
    const existing = await this.ops.listTokens();
    if (existing.some((t) => t.name === name)) return { ok: false, message: tokenNameTaken(name) };
    if (existing.length >= TOKENS_MAX) return { ok: false, message: `there are already ${TOKENS_MAX} tokens; revoke some first` };
    const token = apiTokenFromBytes(randomBytes(API_TOKEN_RANDOM_BYTES));
    let row: ApiTokenRow;
    try {
      row = await this.ops.createToken({ name, scope, tokenSha256: sha256Hex(token), hint: tokenHint(token), nowMs: this.nowMs() });
    } catch (err) {
      // Another replica created the same name between the check above and this insert, or the
      // database is away: an answer, not a thrown error.
      return { ok: false, message: err instanceof Error ? err.message : String(err) };
    }
    return { ok: true, created: { token, row } };
  }

  async revoke(name: string): Promise<boolean> {
    const gone = await this.ops.revokeToken(name);
    this.cache.clear();
    return gone;
  }

  list(): Promise<ApiTokenRow[]> {
    return this.ops.listTokens();
  }

  /** The live token row for a presented token, or null; records the use. */
  async verify(token: string): Promise<ApiTokenRow | null> {
    const sha = sha256Hex(token);
    const now = this.nowMs();
    let entry = this.cache.get(sha);
    if (entry === undefined || now - entry.atMs > TOKEN_CACHE_MS || now < entry.atMs) {
      const row = await this.ops.tokenBySha256(sha);
      entry = { row, atMs: now, sha };
      if (this.cache.size >= TOKENS_MAX * 2) this.cache.clear();
      this.cache.set(sha, entry);
    }
    if (entry.row === null) return null;
    if (!timingSafeEqual(Buffer.from(entry.sha), Buffer.from(sha))) return null;
    this.uses.set(entry.row.id, now);
    return entry.row;
  }

  /** Write remembered last-use times. */
  async flush(): Promise<void> {
    if (this.uses.size === 0) return;
    const batch = new Map(this.uses);
    this.uses.clear();
    await this.ops.touchTokens(batch).catch(() => {
      for (const [id, at] of batch) if (!this.uses.has(id)) this.uses.set(id, at);
    });
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    await this.flush();
  }
}
