// --blob-store: where blobs live. Unset: the data dir's blobs/ directory (the embedded default).
// `s3://bucket/prefix`: an S3-compatible bucket, reached with the usual AWS_* variables.

export type S3BlobStoreUrl = { kind: "s3"; bucket: string; /** "" or ending in "/". */ prefix: string };
export type BlobStoreUrl = { kind: "directory" } | S3BlobStoreUrl;

/** S3 bucket names: 3–63 of a-z 0-9 . -, starting and ending with a letter or digit. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_BYTES_MAX = 512;

/** Parse the flag's value; throws one line (without the flag's name) saying what was expected. */
export function parseBlobStoreUrl(raw: string): BlobStoreUrl {
  const value = raw.trim();
  if (value === "" || value === "directory") return { kind: "directory" };
  const m = /^s3:\/\/([^/?#]*)(?:\/([^?#]*))?$/i.exec(value);
  if (!m) throw new Error(`"${raw}" is not a blob store; expected s3://bucket/prefix (or unset for <data-dir>/blobs)`);
  const bucket = m[1]!;
  if (bucket.includes("@") || bucket.includes(":")) throw new Error(`"${raw}" carries credentials or a port in the bucket name; put them in AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_ENDPOINT_URL`);
  if (!BUCKET.test(bucket) || bucket.includes("..")) throw new Error(`bucket "${bucket}" is not a valid S3 bucket name; expected 3-63 of a-z, 0-9, "." and "-"`);
  let prefix = (m[2] ?? "").replace(/^\/+/, "");
  if (prefix.split("/").some((part) => part === "." || part === "..")) throw new Error(`prefix "${prefix}" may not contain "." or ".." segments`);
  if (prefix.length > PREFIX_BYTES_MAX) throw new Error(`prefix is longer than ${PREFIX_BYTES_MAX} bytes`);
  if (prefix !== "" && !prefix.endsWith("/")) prefix += "/";
  return { kind: "s3", bucket, prefix };
}
