// The session signing secret: WITHCACHE_SESSION_SECRET when set and not blank, else a random
// secret generated once and kept in <data-dir>/session-secret (mode 0600) so sessions survive
// restarts. A blank or whitespace-only env value counts as unset, never as an empty key.
import { chmodSync, closeSync, fsyncSync, linkSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";

export const SESSION_SECRET_FILE = "session-secret";
/** 32 random bytes: as strong as the HMAC-SHA256 key it feeds. */
const GENERATED_SECRET_BYTES = 32;

export interface LoadedSecret {
  secret: string;
  source: "env" | "file" | "generated";
  path: string | null;
}

function readSecretFile(path: string): string | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new Error(`${path}: cannot read session secret: ${(err as Error).message}`);
  }
  const secret = text.trim();
  if (secret === "") return null;
  // Tighten permissions an operator may have loosened by copying the data dir around.
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  return secret;
}

export function loadSessionSecret(options: { envValue: string | undefined; dataDir: string }): LoadedSecret {
  const fromEnv = options.envValue?.trim() ?? "";
  if (fromEnv !== "") return { secret: fromEnv, source: "env", path: null };
  const path = join(options.dataDir, SESSION_SECRET_FILE);
  const existing = readSecretFile(path);
  if (existing !== null) return { secret: existing, source: "file", path };
  const secret = randomBytes(GENERATED_SECRET_BYTES).toString("hex");
  // Write a private temp file, then link it into place: a crash never leaves a half-written
  // secret, and when two processes start at once the second link fails and both use the first.
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  const fd = openSync(tmp, "wx", 0o600);
  try {
    writeSync(fd, `${secret}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    const winner = readSecretFile(path);
    if (winner === null) throw new Error(`${path}: session secret file is empty; delete it to regenerate`);
    return { secret: winner, source: "file", path };
  } finally {
    unlinkSync(tmp);
  }
  return { secret, source: "generated", path };
}
