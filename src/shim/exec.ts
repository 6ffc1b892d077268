// Hand-over: the process becomes the real tool (execve), so PID, stdio, signals and exit status
// are the tool's own. Bun ignores SIGPIPE and SIGXFSZ, and an ignored signal stays ignored across
// execve; a *handled* one goes back to default. So the shim installs no-op listeners for both
// right before the hand-over (Bun then catches them instead of ignoring them) and execs the tool
// directly: no extra process (`env --default-signal` cost one exec and named the tool by its
// path, so wget's own messages said "/usr/bin/wget:").
// Bun also marks every inherited descriptor above 2 close-on-exec at start-up, so `curl -o
// >(sha256sum)` (bash passes /dev/fd/63) or a make jobserver fd would be gone in the tool. The
// shim notes those descriptors first thing (inheritedDescriptors); when there are any it clears
// the flag and execs through libc over bun:ffi (~1-2 ms more), since process.execve closes every
// descriptor above 2 itself.
// Where execve is impossible: spawn with inherited stdio, forward signals, exit like the child.
import { readdirSync, readlinkSync } from "node:fs";

/** `WITHCACHE_SHIM_EXEC=spawn` forces the spawn fallback (tests; platforms where exec misbehaves). */
const FORCE_SPAWN_ENV = "WITHCACHE_SHIM_EXEC";
const SIGPIPE = 13;
const SIGXFSZ = 25;

type ExecveFn = (path: string, argv: string[], env: Record<string, string>) => never;

const noop = (): void => {};

/** Catch (not ignore) SIGPIPE and SIGXFSZ, so the exec'd tool starts with both at default. */
function catchIgnoredSignals(): void {
  process.on("SIGPIPE", noop);
  process.on("SIGXFSZ", noop);
}

async function resetSignalsViaFfi(): Promise<boolean> {
  try {
    const { dlopen, FFIType } = await import("bun:ffi");
    const libc = dlopen(LIBC, { signal: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.ptr } });
    libc.symbols.signal(SIGPIPE, null); // null is SIG_DFL
    libc.symbols.signal(SIGXFSZ, null);
    return true;
  } catch {
    return false;
  }
}

const F_SETFD = 2;
const LIBC = process.platform === "darwin" ? "libc.dylib" : "libc.so.6";

/** An inherited descriptor above 2 and what it pointed to when the shim started. */
export type Inherited = ReadonlyMap<number, string>;

/**
 * The descriptors above 2 this process holds, with their /proc link targets, minus Bun's own
 * (its event loop's anonymous inodes) and the listing's directory. Called first thing, that is
 * what the shim inherited. Empty where there is no /proc.
 */
export function inheritedDescriptors(): Inherited {
  const found = new Map<number, string>();
  const listing = `/proc/${process.pid}/fd`;
  let names: string[];
  try {
    names = readdirSync("/proc/self/fd");
  } catch {
    return found;
  }
  for (const name of names) {
    const fd = Number(name);
    if (!Number.isInteger(fd) || fd <= 2) continue;
    try {
      const target = readlinkSync(`/proc/self/fd/${name}`);
      if (!target.startsWith("anon_inode:") && target !== listing) found.set(fd, target);
    } catch {
      // closed while listing (the listing's own descriptor)
    }
  }
  return found;
}

/** The inherited descriptors still open now (same link target as at start). */
function stillInherited(inherited: Inherited): number[] {
  if (inherited.size === 0) return [];
  const now = inheritedDescriptors();
  return [...inherited].filter(([fd, target]) => now.get(fd) === target).map(([fd]) => fd);
}

/**
 * Become `path` with `argv` (argv[0] included), keeping the descriptors the shim inherited.
 * Returns only if neither execve nor spawn worked.
 */
export async function handOver(path: string, argv: string[], env: Record<string, string>, inherited: Inherited = new Map()): Promise<never> {
  const forceSpawn = env[FORCE_SPAWN_ENV] === "spawn";
  delete env[FORCE_SPAWN_ENV];
  catchIgnoredSignals();
  const execve = (process as unknown as { execve?: ExecveFn }).execve;
  if (!forceSpawn) {
    // process.execve closes every descriptor above 2; with some to keep, go through libc.
    const keep = stillInherited(inherited);
    if (keep.length > 0) await execveViaLibc(path, argv.map((a) => Buffer.from(a)), env, keep);
    if (typeof execve === "function") {
      try {
        execve.call(process, path, argv, env);
      } catch {
        // fall through to spawn
      }
    }
  }
  return spawnAndMirror(path, argv, env);
}

/**
 * Become `path` with arguments given as raw bytes (argv that is not UTF-8, read from
 * /proc/self/cmdline): JS strings cannot carry those bytes. Returns only if that failed.
 */
export async function handOverRawBytes(path: string, argv: Uint8Array[], env: Record<string, string>, inherited: Inherited = new Map()): Promise<boolean> {
  catchIgnoredSignals();
  return execveViaLibc(path, argv, env, stillInherited(inherited));
}

/**
 * libc execve over bun:ffi, after clearing close-on-exec on `keepFds` and resetting SIGPIPE and
 * SIGXFSZ. Returns false (only) if it failed.
 */
async function execveViaLibc(path: string, argv: Uint8Array[], env: Record<string, string>, keepFds: number[]): Promise<boolean> {
  try {
    const { dlopen, FFIType, ptr } = await import("bun:ffi");
    const libc = dlopen(LIBC, {
      signal: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.ptr },
      fcntl: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
      execve: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
    });
    const cString = (bytes: Uint8Array): Buffer => Buffer.concat([Buffer.from(bytes), Buffer.from([0])]);
    const keep: Buffer[] = []; // keep every buffer reachable until execve returns (it only returns on failure)
    const pointerArray = (items: Buffer[]): BigUint64Array => {
      const array = new BigUint64Array(items.length + 1);
      items.forEach((item, k) => {
        keep.push(item);
        array[k] = BigInt(ptr(item));
      });
      return array;
    };
    const pathBytes = cString(Buffer.from(path));
    const argvArray = pointerArray(argv.map(cString));
    const envArray = pointerArray(Object.entries(env).map(([k, v]) => cString(Buffer.from(`${k}=${v}`))));
    libc.symbols.signal(SIGPIPE, null);
    libc.symbols.signal(SIGXFSZ, null);
    for (const fd of keepFds) libc.symbols.fcntl(fd, F_SETFD, 0);
    libc.symbols.execve(ptr(pathBytes), ptr(argvArray), ptr(envArray));
    void keep;
    return false;
  } catch {
    return false;
  }
}

const FORWARDED_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH"] as const;

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGXFSZ: 25 };

async function spawnAndMirror(path: string, argv: string[], env: Record<string, string>): Promise<never> {
  // SIGPIPE/SIGXFSZ are caught by now (catchIgnoredSignals), so the child starts with both at default.
  let child: ReturnType<typeof Bun.spawn>;
  try {
    child = Bun.spawn({ cmd: [path, ...argv.slice(1)], argv0: argv[0], env, stdio: ["inherit", "inherit", "inherit"] });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`${argv[0]}: withcache: cannot run ${path}: ${message}\n`);
    process.exit(126);
  }
  for (const signal of FORWARDED_SIGNALS) process.on(signal, () => child.kill(signal));
  const code = await child.exited;
  const signal = child.signalCode;
  if (signal) {
    // Die of the same signal, so our parent sees what it would have seen from the tool.
    for (const name of FORWARDED_SIGNALS) process.removeAllListeners(name);
    await resetSignalsViaFfi();
    process.kill(process.pid, signal);
    process.exit(128 + (SIGNAL_NUMBERS[signal] ?? 0));
  }
  process.exit(code);
}
