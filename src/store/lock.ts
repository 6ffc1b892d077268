// One cache-host per data dir: a second one would requeue the first one's running fills and write
// the same temp files. Exclusion is a kernel lock that dies with its process: an EXCLUSIVE SQLite
// lock (POSIX fcntl underneath) on `<data-dir>/lock.db`, held for the life of the store. kill -9
// and a reboot drop it, so there is no staleness to judge and no take-over to race: the old
// pid-file scheme let two starters both find a dead owner's file, both remove it, and the second
// remove delete the first one's fresh lock. `<data-dir>/lock` still names the holder
// ("<pid> <boot id>"), only so a refused start can say which process holds the dir.
//
// POSIX caveat: closing ANY fd on lock.db drops every fcntl lock this process holds on it. So
// nothing else in the process opens lock.db (verify without --repair reads withcache.db only),
// lock.db is never unlinked, and `heldDirs` refuses a second store on the same dir before SQLite
// is asked (SQLite itself keeps the fd of a connection it closes while another connection of
// the process holds locks on the same file).
import { Database, constants as sqliteConstants } from "bun:sqlite";
import { accessSync, constants, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fsReason } from "../core/errors.ts";
import { currentBootId } from "./boot-id.ts";

/** sqlite3.h's SQLITE_LOCK_EXCLUSIVE (bun:sqlite's `constants` does not carry the lock levels). */
const SQLITE_LOCK_EXCLUSIVE = 4;

/** Data dirs held by stores open in this process. */
const heldDirs = new Set<string>();

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function sqliteCode(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_") ? code : null;
}

/** The refusal when another process holds lock.db: its pid from `lock` when that names a live
 *  process of this boot (the file may be a crashed owner's until the holder rewrites it). */
function inUseError(dir: string): Error {
  const path = join(dir, "lock");
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return new Error(`--data-dir: ${dir} is in use by another withcache (${path} is unreadable, so its pid is unknown)`);
  }
  const [pidText, bootText] = text.trim().split(/\s+/);
  const pid = Number(pidText);
  const boot = currentBootId();
  const sameBoot = bootText === undefined || boot === null || bootText === boot;
  if (Number.isInteger(pid) && pid > 0 && sameBoot && processAlive(pid)) {
    if (pid === process.pid) return new Error(`--data-dir: ${dir} is already in use by this process`);
    return new Error(`--data-dir: ${dir} is in use by another withcache (pid ${pid})`);
  }
  return new Error(`--data-dir: ${dir} is in use by another withcache (${path} names no live process, so its pid is unknown)`);
}

/** Why SQLite could not open or lock lock.db in a line: the file system's word when it has one
 *  (the dir's as an errno error, for the caller's `--data-dir: cannot write in <dir>: …`). */
function openError(dir: string, lockDbPath: string, why: string): Error {
  try {
    accessSync(dir, constants.W_OK);
  } catch (accessErr) {
    return accessErr as Error;
  }
  try {
    if (existsSync(lockDbPath)) accessSync(lockDbPath, constants.R_OK | constants.W_OK);
  } catch (accessErr) {
    return new Error(`--data-dir: cannot write ${lockDbPath}: ${fsReason(accessErr)}`);
  }
  return new Error(`--data-dir: cannot lock ${lockDbPath}: ${why}`);
}

/** The connection's lock level on lock.db (SQLITE_FCNTL_LOCKSTATE; bun wants at least 8 bytes). */
function lockLevel(db: Database): number {
  const level = new Int32Array(2);
  db.fileControl(sqliteConstants.SQLITE_FCNTL_LOCKSTATE, level);
  return level[0]!;
}

/** Take `<data-dir>/lock.db` or throw a one-line reason; the returned function releases it. */
export function acquireDataDirLock(dataDir: string): () => void {
  const dir = resolve(dataDir);
  if (heldDirs.has(dir)) throw new Error(`--data-dir: ${dir} is already in use by this process`);
  const lockDbPath = join(dir, "lock.db");
  let db: Database | null = null;
  try {
    db = new Database(lockDbPath, { create: true, strict: true });
    db.run("PRAGMA busy_timeout = 0"); // a held lock refuses at once
    db.run("PRAGMA locking_mode = EXCLUSIVE"); // the connection keeps its locks until closed
    // A write transaction takes the EXCLUSIVE lock; in exclusive locking mode COMMIT keeps it.
    db.run("BEGIN EXCLUSIVE");
    db.run("COMMIT");
  } catch (err) {
    db?.close();
    if (sqliteCode(err) === "SQLITE_BUSY") throw inUseError(dir);
    throw openError(dir, lockDbPath, (err as Error).message);
  }
  // SQLite opens a lock.db it may not write (another user's file) read-only without a word, and
  // BEGIN EXCLUSIVE then holds only a SHARED lock, which every other starter gets too.
  if (lockLevel(db) !== SQLITE_LOCK_EXCLUSIVE) {
    db.close();
    throw openError(dir, lockDbPath, "sqlite opened it read-only, so the lock would be shared");
  }
  const held = db;
  heldDirs.add(dir);
  const infoPath = join(dir, "lock");
  try {
    // Written whole then renamed, so a refused start never reads half a line.
    const boot = currentBootId();
    writeFileSync(`${infoPath}.new`, `${process.pid}${boot ? ` ${boot}` : ""}\n`, { mode: 0o644 });
    renameSync(`${infoPath}.new`, infoPath);
  } catch (err) {
    heldDirs.delete(dir);
    held.close();
    throw err;
  }
  return () => {
    // `lock` goes while lock.db is still held, so it never removes a successor's.
    try {
      rmSync(infoPath, { force: true });
    } finally {
      held.close();
      heldDirs.delete(dir);
    }
  };
}
