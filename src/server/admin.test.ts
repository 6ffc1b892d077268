import { describe, expect, test } from "bun:test";
import { acceptedNext } from "./admin.ts";

describe("acceptedNext (the login redirect target)", () => {
  test("accepts /, /admin itself, /admin/… and their queries", () => {
    for (const next of ["/", "/admin", "/admin?kind=login", "/admin/", "/admin/tokens", "/admin/artifacts?sort=size&q=tool"]) expect([next, acceptedNext(next)]).toEqual([next, next]);
  });
  test("refuses other hosts, schemes and paths outside the UI", () => {
    for (const next of [null, undefined, "", "admin", "//evil.example/admin", "/\\evil.example", "https://evil.example/", "/administrator", "/admin.evil", "/b/x", "/admin/<x>", "/admin\\x", `/admin/${"x".repeat(2050)}`]) {
      expect([next, acceptedNext(next)]).toEqual([next, null]);
    }
  });
});
