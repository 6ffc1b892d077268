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
