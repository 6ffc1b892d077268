import { expect, test } from "bun:test";
import { hidePassword, parseDatabaseUrl } from "./database-url.ts";

test("unset and sqlite are the embedded default", () => {
  expect(parseDatabaseUrl("")).toEqual({ kind: "sqlite" });
  expect(parseDatabaseUrl("  sqlite ")).toEqual({ kind: "sqlite" });
});

test("a postgres URL is kept whole; its shown form has no password", () => {
  const d = parseDatabaseUrl("postgres://wc:s3cr%40t@db.lab:5433/withcache");
  expect(d).toEqual({ kind: "postgres", url: "postgres://wc:s3cr%40t@db.lab:5433/withcache", shown: "postgres://wc:***@db.lab:5433/withcache", host: "db.lab:5433", database: "withcache" });
  expect(parseDatabaseUrl("postgresql://db/x")).toMatchObject({ kind: "postgres", shown: "postgres://db/x" });
});

test("bad URLs are refused in one line that never holds the password", () => {
  const cases: Array<[string, string]> = [
    ["mysql://u:pw@h/db", "expected postgres://user:password@host:port/database (or unset for SQLite in the data dir), not a mysql:// URL"],
    ["db.lab/withcache", "expected postgres://user:password@host:port/database (or unset for SQLite in the data dir), not a value without a scheme"],
    ["postgres://u:pw@db.lab", "postgres:// URL names no database; expected postgres://user:password@db.lab/database"],
    ["postgres://u:pw@db.lab:99999/x", "port 99999 is not a port; expected 1-65535"],
    ["postgres://u:pw@db.lab:0/x", "port 0 is not a port; expected 1-65535"],
    ["postgres://u:pw@/x", "postgres:// URL has no host; expected postgres://user:password@host:port/database"],
  ];
  for (const [raw, message] of cases) {
    let error = "";
    try {
      parseDatabaseUrl(raw);
    } catch (err) {
      error = (err as Error).message;
    }
    expect(error).toBe(message);
    expect(error).not.toContain("pw");
  }
});

test("hidePassword removes the password, raw or percent-encoded", () => {
  expect(hidePassword("auth failed for s3cr@t and s3cr%40t", "postgres://wc:s3cr%40t@h/db")).toBe("auth failed for *** and ***");
  expect(hidePassword("nothing", "postgres://h/db")).toBe("nothing");
});
