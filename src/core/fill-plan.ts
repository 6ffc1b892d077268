// The "plan" stage of a fill: from what is on disk and what is cached, which request to send.
// Pure. The stages of a fill, each with one job (src/fetch/fill-manager.ts carries them out):
//   plan (here) → open the origin → decide (origin-answer.ts) → stream to disk while hashing →
//   verify (length, sha256) → commit (rename, then the row).
// A revalidation is a fill whose plan is conditional: a 304 ends it at "decide", a 200 streams.
import { conditionalHeaders, type Freshness } from "./freshness.ts";

export type FillPlanInput = {
  /** Bytes in the job's temp file now (0: none). */
  tempBytes: number;
  /** The validator the temp file was fetched under (null: none, the prefix cannot be trusted). */
  validator: string | null;
  /** Bytes of the temp file known to be fsynced, and the boot they were written in. */
  syncedBytes: number;
  jobBootId: string | null;
  /** This machine's boot now (null: unknown). */
  bootId: string | null;
  /** The cached copy's validators, when the key has a copy we may keep (null: none or superseded). */
  cached: Pick<Freshness, "etag" | "lastModified"> | null;
  version: string;
};

export type FillPlan = {
  /** Resume from this byte (0: from the start). */
  offsetBytes: number;
  /** Cut the temp file to this many bytes first (a resume after a reboot trusts the synced prefix only). */
  truncateToBytes: number | null;
  headers: Record<string, string>;
  /** The validators sent for a revalidation (null when not sent). */
  sentEtag: string | null;
  sentLastModified: string | null;
};

export function planFill(p: FillPlanInput): FillPlan {
  let offsetBytes = p.validator === null ? 0 : p.tempBytes; // an unprovable prefix starts over
  let truncateToBytes: number | null = null;
  if (offsetBytes > p.syncedBytes && (p.bootId === null || p.jobBootId !== p.bootId)) {
    // Written in another boot (the machine went down): bytes past the last fsync may be zeros
    // or garbage on disk. Trust only the synced prefix.
    offsetBytes = p.syncedBytes;
    truncateToBytes = p.syncedBytes;
  }
  const headers: Record<string, string> = {
    "accept-encoding": "identity", // cache the representation itself, byte for byte
    "user-agent": `withcache/${p.version}`,
  };
  if (offsetBytes > 0 && p.validator !== null) {
    headers.range = `bytes=${offsetBytes}-`;
    headers["if-range"] = p.validator;
  }
  // A key with a copy we may keep is asked about conditionally (a 304 moves no body); a resume
  // is not (it continues a body the origin already chose to send).
  const sent = offsetBytes === 0 && p.cached !== null ? conditionalHeaders(p.cached) : {};
  Object.assign(headers, sent);
  return { offsetBytes, truncateToBytes, headers, sentEtag: sent["if-none-match"] ?? null, sentLastModified: sent["if-modified-since"] ?? null };
}
