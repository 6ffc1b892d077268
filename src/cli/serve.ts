// `withcache serve`: flags + env (+ --config FILE) → one validated config → the cache-host.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { type Command, Option } from "commander";
import { type ConfigSource, defaultText, FIELDS, loadServeConfig, type ConfigKey } from "../config/schema.ts";
import { errnoCode, fsReason } from "../core/errors.ts";
import { startServer } from "../server/server.ts";
import { VERSION } from "../version.ts";

/** An option's help: what it does (from the settings table), then the variable that sets it too
 *  and its default, generated so that `serve --help` can never leave one out. */
export function optionHelp(field: (typeof FIELDS)[number]): string {
  const notes = [`env ${field.env}${field.kind === "hosts" ? ", comma-separated" : field.kind === "rules" ? ", space-separated" : ""}`];
  const def = defaultText(field.key);
  if (def !== null) notes.push(`default ${def}`);
  return `${field.help} (${notes.join(", ")})`;
}

function camel(flag: string): string {
  return flag.replace(/^--/, "").replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

function valueName(key: ConfigKey): string {
  const field = FIELDS.find((f) => f.key === key)!;
  switch (field.kind) {
    case "bool":
      return "";
    case "duration":
      return " <duration>";
    case "size":
      return " <size>";
    case "free":
      return " <size-or-percent>";
    case "blob-store":
    case "database":
      return " <url>";
    case "hosts":
      return key === "uiHosts" ? " <name>" : " <pattern>";
    case "rules":
      return " <pattern=policy>";
    case "port":
      return " <port>";
    case "count":
      return " <n>";
    case "choice":
      // The help lists the choices; a "|" here would split the README's table cell.
      return key === "metrics" ? " <mode>" : " <choice>";
    case "string":
      return key === "dataDir" ? " <dir>" : key === "host" ? " <addr>" : " <value>";
  }
}

/** Why a file could not be read, in a few words (the config file's own errors come later). */
function readFailure(err: unknown): string {
  return errnoCode(err) === null ? "unreadable" : fsReason(err, { ENOENT: "no such file" });
}

/** `--config FILE` as text, or a one-line error naming the file and the reason. */
export function readConfigFile(path: string): { path: string; text: string } {
  try {
    return { path, text: readFileSync(path, "utf8") };
  } catch (err) {
    throw new Error(`--config: cannot read ${path}: ${readFailure(err)}`);
  }
}

/** Where a setting came from, as the operator spelled it: the flag, the variable or the file's key. */
function settingName(key: ConfigKey, sources: Record<ConfigKey, ConfigSource>, configPath: string | null): string {
  const field = FIELDS.find((f) => f.key === key)!;
  switch (sources[key]) {
    case "env":
      return field.env;
    case "file":
      return `${configPath ?? "--config"}: key ${JSON.stringify(key)}`;
    default:
      return field.flag ?? field.env;
  }
}

/**
 * A listen failure Bun reports as `EADDRNOTAVAIL: address not available, listen` → one line naming
 * the setting and the fix; null for anything else (EADDRINUSE is already worded by the server).
 */
export function listenFailure(err: unknown, at: { host: string; port: number; sources: Record<ConfigKey, ConfigSource>; configPath: string | null }): string | null {
  const code = (err as { code?: unknown }).code;
  if (code === "EADDRNOTAVAIL") {
    return `${settingName("host", at.sources, at.configPath)}: ${JSON.stringify(at.host)} is not an address of this machine; expected one of its addresses, 0.0.0.0 (all) or 127.0.0.1`;
  }
  if (code === "EACCES" || code === "EPERM") {
    return `${settingName("port", at.sources, at.configPath)}: port ${at.port} on ${at.host} needs privileges (permission denied); use a port from 1024 up, e.g. 3000`;
  }
  return null;
}

export function registerServe(program: Command): void {
  const cmd = program.command("serve").description("start the cache-host (blob store, fills, read path and operator UI)");
  for (const field of FIELDS) {
    if (field.flag === null) continue;
    const option = new Option(`${field.flag}${valueName(field.key)}`, optionHelp(field));
    if (field.kind === "hosts" || field.kind === "rules") option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
    cmd.addOption(option);
  }
  cmd.option("--config <file>", "read settings from a JSON file (flags and env win over it)");
  cmd.addHelpText(
    "after",
    `\nSecrets come from the environment only: ${FIELDS.filter((f) => f.flag === null)
      .map((f) => `${f.env} (${f.help})`)
      .join(", ")}.\nPrecedence: flags > environment > --config file > defaults.`,
  );
  cmd.action(async (opts: Record<string, unknown>) => {
    const flags: Record<string, unknown> = {};
    for (const field of FIELDS) {
      if (field.flag === null) continue;
      flags[field.key] = opts[camel(field.flag)];
    }
    const file = typeof opts.config === "string" ? readConfigFile(opts.config) : null;
    const loaded = loadServeConfig({ flags: flags as never, env: process.env, file });
    if (!loaded.ok) throw new Error(loaded.message);
    const config = loaded.config;
    let running: Awaited<ReturnType<typeof startServer>>;
    try {
      running = await startServer(config);
    } catch (err) {
      const message = listenFailure(err, { host: config.host, port: config.port, sources: loaded.sources, configPath: file?.path ?? null });
      if (message === null) throw err;
      throw new Error(message);
    }
    const mode = config.curate ? "curate" : "auto";
    const listen = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${running.port}`;
    process.stdout.write(
      `withcache ${VERSION} listening on ${listen} (data dir ${resolve(config.dataDir)}, ` +
        `${running.ctx.database ? `rows in ${running.ctx.database.shown} as replica ${running.ctx.replicaId}, ` : ""}` +
        `${config.blobStore === "" ? "" : `blobs in ${running.ctx.store.blobs.describe()}, `}mode ${mode}, workers ${config.workers}` +
        `${config.allowPrivateOrigins ? ", private origins allowed" : ""}${config.allowHosts.length > 0 ? `, auto-fetch only from ${config.allowHosts.join(" ")}` : ""})\n`,
    );
    if (config.adminPassword === undefined) {
      process.stdout.write("withcache: warning: WITHCACHE_ADMIN_PASSWORD is not set; the operator UI is open to anyone who can reach this port\n");
    }
    let signals = 0;
    const shutdown = (signal: "SIGTERM" | "SIGINT"): void => {
      signals += 1;
      // A second signal: give up draining; exit as a process killed by that signal would (128 + n).
      // Running fills stay `running` in the database and are resumed at the next start.
      if (signals > 1) {
        process.stdout.write(`withcache: ${signal} again: exiting without draining\n`);
        process.exit(signal === "SIGTERM" ? 143 : 130);
      }
      process.stdout.write(`withcache: ${signal}: draining (up to ${config.drainTimeoutMs} ms), parking fills\n`);
      running.stop().then(
        () => process.exit(0),
        (err: unknown) => {
          process.stderr.write(`withcache: error: shutdown: ${err instanceof Error ? err.message : String(err)}\n`);
          process.exit(1);
        },
      );
    };
    process.on("SIGTERM", () => shutdown("SIGTERM"));
    process.on("SIGINT", () => shutdown("SIGINT"));
    // Keep running until a signal arrives.
    await new Promise<never>(() => {});
  });
}
