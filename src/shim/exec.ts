// Hand-over: the process becomes the real tool (execve), so PID, stdio, signals and exit status
// are the tool's own. Bun ignores SIGPIPE and SIGXFSZ, and an ignored signal stays ignored across
// execve; a *handled* one goes back to default. So the shim installs no-op listeners for both
// right before the hand-over (Bun then catches them instead of ignoring them) and execs the tool
// directly: no extra process (`env --default-signal` cost one exec and named the tool by its
// path, so wget's own messages said "/usr/bin/wget:"), no FFI.
// Where execve is impossible: spawn with inherited stdio, forward signals, exit like the child.

/** `WITHCACHE_SHIM_EXEC=spawn` forces the spawn fallback (tests; platforms where exec misbehaves). */
export const FORCE_SPAWN_ENV = "WITHCACHE_SHIM_EXEC";
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
    const libc = dlopen(process.platform === "darwin" ? "libc.dylib" : "libc.so.6", {
      signal: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.ptr },
    });
    libc.symbols.signal(SIGPIPE, null); // null is SIG_DFL
    libc.symbols.signal(SIGXFSZ, null);
    return true;
  } catch {
    return false;
  }
}

/** Become `path` with `argv` (argv[0] included). Returns only if neither execve nor spawn worked. */
export async function handOver(path: string, argv: string[], env: Record<string, string>): Promise<never> {
  const forceSpawn = env[FORCE_SPAWN_ENV] === "spawn";
  delete env[FORCE_SPAWN_ENV];
  catchIgnoredSignals();
  const execve = (process as unknown as { execve?: ExecveFn }).execve;
  if (typeof execve === "function" && !forceSpawn) {
    try {
      execve.call(process, path, argv, env);
    } catch {
      // fall through to spawn
    }
  }
  return spawnAndMirror(path, argv, env);
}

/**
 * Become `path` with arguments given as raw bytes (argv that is not UTF-8, read from
 * /proc/self/cmdline): JS strings cannot carry those bytes, so call libc execve over bun:ffi.
 * Returns only if that failed.
 */
export async function handOverRawBytes(path: string, argv: Uint8Array[], env: Record<string, string>): Promise<boolean> {
  try {
    const { dlopen, FFIType, ptr } = await import("bun:ffi");
    const libc = dlopen(process.platform === "darwin" ? "libc.dylib" : "libc.so.6", {
      signal: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.ptr },
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
