// The "body plan" stage of a fill, between decide (origin-answer.ts: may this answer be stored?)
// and stream to disk: where in the temp file the body goes, how long it is, and what we resume
// under next time. Pure: status and headers in, a plan or a one-line reason out.
import { parseContentRange } from "./range.ts";

export type BodyPlanInput = {
  status: number;
  headers: Headers;
  /** The byte the request asked to resume from (0: a full request). */
  offsetBytes: number;
  /** The validator the temp file was fetched under (the job's). */
  validator: string | null;
  url: string;
  limits: { maxArtifactBytes: number; maxCacheBytes: number };
};

export type BodyPlan =
  /** Write the body at `offsetBytes`; `totalBytes` null = unknown length (read to the end). */
  | { kind: "write"; offsetBytes: number; totalBytes: number | null; validator: string | null }
  /** The temp file cannot be resumed (a 416, a range we did not ask for): start over, soon. */
  | { kind: "restart"; reason: string }
  /** This answer will never be stored: the job fails. */
  | { kind: "fail"; reason: string };

const CONTENT_LENGTH = /^\d{1,15}$/;

export function planBody(p: BodyPlanInput): BodyPlan {
  const { status, headers } = p;
  if (p.offsetBytes > 0 && status === 416) return { kind: "restart", reason: `origin refused to resume ${p.url} (416); restarting from zero` };
  let offsetBytes = p.offsetBytes;
  let totalBytes: number | null;
  let validator = p.validator;
  if (status === 206) {
    const range = parseContentRange(headers.get("content-range"));
    if (offsetBytes === 0 || !range || range.start !== offsetBytes || !sameRepresentation(headers, validator)) {
      return { kind: "restart", reason: `origin answered a range we did not ask for (${headers.get("content-range") ?? "no content-range"}); restarting from zero` };
    }
    totalBytes = range.sizeBytes;
  } else {
    offsetBytes = 0; // a 200 to a resume request means the origin changed or ignores ranges
    const cl = headers.get("content-length");
    if (cl !== null && !CONTENT_LENGTH.test(cl.trim())) return { kind: "fail", reason: `origin sent an invalid content-length ${JSON.stringify(cl)} for ${p.url}` };
    totalBytes = cl === null ? null : Number(cl.trim());
    validator = strongValidator(headers);
  }
  const tooBig = totalBytes === null ? null : sizeLimitExceeded(p.limits, totalBytes);
  if (tooBig !== null) return { kind: "fail", reason: `origin artifact is ${totalBytes} bytes, over ${tooBig.flag} ${tooBig.limitBytes}` };
  return { kind: "write", offsetBytes, totalBytes, validator };
}

/**
 * A 206 to a resume must be the representation the temp file came from: an origin that ignores
 * If-Range would otherwise splice two versions into one file. When the 206 names an ETag (or,
 * for a Last-Modified validator, a date) that differs from the one we resume under, refuse it.
 */
export function sameRepresentation(headers: Headers, validator: string | null): boolean {
  if (validator === null) return false;
  if (validator.startsWith('"')) {
    const etag = headers.get("etag");
    return etag === null || etag === validator;
  }
  const lastModified = headers.get("last-modified");
  return lastModified === null || Date.parse(lastModified) === Date.parse(validator);
}

/** The validator to resume under: a strong ETag, else Last-Modified, else none (no resume). */
export function strongValidator(headers: Headers): string | null {
  const etag = headers.get("etag");
  if (etag && etag.startsWith('"')) return etag;
  return headers.get("last-modified");
}

/** The first size limit (--max-artifact-size, then --max-cache-size; 0 = none) that `sizeBytes` is over, or null. */
export function sizeLimitExceeded(limits: { maxArtifactBytes: number; maxCacheBytes: number }, sizeBytes: number): { flag: string; limitBytes: number } | null {
  if (limits.maxArtifactBytes > 0 && sizeBytes > limits.maxArtifactBytes) return { flag: "--max-artifact-size", limitBytes: limits.maxArtifactBytes };
  if (limits.maxCacheBytes > 0 && sizeBytes > limits.maxCacheBytes) return { flag: "--max-cache-size", limitBytes: limits.maxCacheBytes };
  return null;
}
