// Expected failures as values: an HTTP status plus a one-line, lowercase message.
// Bugs are assertions (assert() below), never HttpErrors.

export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
    this.name = "HttpError";
  }
}

/** Thrown by assert(): a broken invariant, i.e. a bug in withcache. */
export class AssertionError extends Error {
  constructor(message: string) {
    super(`assertion failed: ${message}`);
    this.name = "AssertionError";
  }
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** Quote a client-supplied value for a one-line message: JSON-escaped, bounded. */
export function quote(value: string, maxChars = 200): string {
  const cut = value.length > maxChars ? value.slice(0, maxChars) + "…" : value;
  return JSON.stringify(cut);
}

/** File-system errno codes in a few plain words, for one-line messages. */
const FS_REASONS: Readonly<Record<string, string>> = {
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOTDIR: "a path component is not a directory",
  EISDIR: "it is a directory",
  ENOENT: "no such file or directory",
  EEXIST: "it already exists",
  ENOSPC: "no space left on device",
};

/** The errno code of a thrown value, if it carries one. */
export function errnoCode(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : null;
}

/** Why a file-system call failed, in a few words; `overrides` words a code for its context
 *  (e.g. "permission denied (run as root?)"). Unknown codes are shown lowercased; a value with no
 *  code is shown by its first line. */
export function fsReason(err: unknown, overrides: Readonly<Record<string, string>> = {}): string {
  const code = errnoCode(err);
  if (code === null) return (err instanceof Error ? err.message : String(err)).split("\n")[0]!;
  return overrides[code] ?? FS_REASONS[code] ?? code.toLowerCase();
}
