import { describe, expect, test } from "bun:test";
import { apiTokenFromBytes, isApiTokenShape, parseBearer, tokenHint } from "./api-token.ts";

describe("api tokens", () => {
  const token = apiTokenFromBytes(new Uint8Array(32).fill(7));
  test("a token is wc_ and 43 url-safe characters", () => {
    expect(token).toMatch(/^wc_[A-Za-z0-9_-]{43}$/);
    expect(isApiTokenShape(token)).toBe(true);
    expect(isApiTokenShape(token + "x")).toBe(false);
    expect(isApiTokenShape("wc_short")).toBe(false);
    expect(() => apiTokenFromBytes(new Uint8Array(16))).toThrow("32 random bytes");
  });
  test("different bytes give different tokens", () => {
    expect(apiTokenFromBytes(new Uint8Array(32).fill(8))).not.toBe(token);
  });
  test("parseBearer reads one Bearer token strictly", () => {
    expect(parseBearer(null)).toEqual({ kind: "none" });
    expect(parseBearer("")).toEqual({ kind: "none" });
    expect(parseBearer(`Bearer ${token}`)).toEqual({ kind: "token", token });
    expect(parseBearer(`bearer ${token}`)).toEqual({ kind: "token", token });
    expect(parseBearer(`Basic abc`).kind).toBe("invalid");
    expect(parseBearer(`Bearer nope`)).toEqual({ kind: "invalid", message: expect.stringContaining("not a withcache token") });
    expect(parseBearer(`Bearer ${token} extra`).kind).toBe("invalid");
  });
  test("the hint never holds enough of the token to use", () => {
    expect(tokenHint(token)).toBe(token.slice(0, 7) + "…");
  });
});
