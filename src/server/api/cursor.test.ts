import { describe, expect, test } from "bun:test";
import { signCursor, verifyCursor } from "./cursor.ts";

const secret = new Uint8Array(32).fill(9);

describe("page cursors", () => {
  test("round-trip a position for the same listing", () => {
    const c = signCursor(secret, { scope: "artifacts|size|desc|", value: 123, key: "https://h/a" });
    expect(verifyCursor(secret, c, "artifacts|size|desc|")).toEqual({ ok: true, state: { scope: "artifacts|size|desc|", value: 123, key: "https://h/a" } });
    const s = signCursor(secret, { scope: "x", value: "https://h/b", key: "k" });
    expect(verifyCursor(secret, s, "x")).toMatchObject({ ok: true, state: { value: "https://h/b" } });
  });

  test("a cursor of another listing, another key or altered is refused with one line", () => {
    const c = signCursor(secret, { scope: "artifacts|size|desc|", value: 123, key: "https://h/a" });
    expect(verifyCursor(secret, c, "artifacts|hits|desc|")).toEqual({ ok: false, message: "cursor belongs to another listing (sort, direction or filter changed); start again without a cursor" });
    expect(verifyCursor(new Uint8Array(32).fill(1), c, "artifacts|size|desc|").ok).toBe(false);
    const [body, mac] = c.split(".");
    const forged = Buffer.from(JSON.stringify(["artifacts|size|desc|", 0, "z"])).toString("base64url");
    expect(verifyCursor(secret, `${forged}.${mac}`, "artifacts|size|desc|")).toMatchObject({ ok: false, message: expect.stringContaining("altered") });
    expect(verifyCursor(secret, `${body}.${mac!.slice(1)}x`, "artifacts|size|desc|").ok).toBe(false);
    for (const junk of ["", ".", "abc", "a.b", "x".repeat(20_000)]) expect(verifyCursor(secret, junk, "s").ok).toBe(false);
  });
});
