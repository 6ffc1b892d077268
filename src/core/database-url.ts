// --database: where the rows live. Unset: SQLite in the data dir (the embedded default).
// `postgres://user:password@host:port/db`: a PostgreSQL shared by several cache-hosts. The
// password never leaves this module in a message: `shown` replaces it with "***".

export type DatabaseUrl = { kind: "sqlite" } | { kind: "postgres"; url: string; /** For logs, the UI and /healthz: no password. */ shown: string; host: string; database: string };

/** Parse the flag's value; throws one line (without the flag's name and without the password). */
export function parseDatabaseUrl(raw: string): DatabaseUrl {
  const value = raw.trim();
  if (value === "" || value === "sqlite") return { kind: "sqlite" };
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1]?.toLowerCase();
  if (scheme !== "postgres" && scheme !== "postgresql") {
    throw new Error(`expected postgres://user:password@host:port/database (or unset for SQLite in the data dir), not ${scheme === undefined ? "a value without a scheme" : `a ${scheme}:// URL`}`);
  }
  // URL.parse refuses a port past 65535 outright: say that, not "no host".
  const port = /^[^:]+:\/\/(?:[^@/]*@)?(?:\[[^\]]*\]|[^:/@]+):(\d+)(?:[/?#]|$)/.exec(value)?.[1];
  if (port !== undefined && !(Number(port) >= 1 && Number(port) <= 65535)) throw new Error(`port ${port} is not a port; expected 1-65535`);
  const parsed = URL.parse(value);
  if (parsed === null || parsed.hostname === "") throw new Error("postgres:// URL has no host; expected postgres://user:password@host:port/database");
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
  if (database === "" || database.includes("/")) throw new Error(`postgres:// URL names no database; expected postgres://user:password@${parsed.host}/database`);
  if (parsed.port !== "" && !(Number(parsed.port) >= 1 && Number(parsed.port) <= 65535)) throw new Error(`port ${parsed.port} is not a port; expected 1-65535`);
  const shownUser = parsed.username === "" ? "" : `${decodeURIComponent(parsed.username)}${parsed.password === "" ? "" : ":***"}@`;
  return { kind: "postgres", url: value, shown: `postgres://${shownUser}${parsed.host}/${database}`, host: parsed.host, database };
}

/** Replace every occurrence of the URL's password in `text` (a driver message may echo it). */
export function hidePassword(text: string, raw: string): string {
  const parsed = URL.parse(raw.trim());
  const password = parsed?.password ? decodeURIComponent(parsed.password) : "";
  if (password === "") return text;
  return text.split(password).join("***").split(parsed!.password).join("***");
}
