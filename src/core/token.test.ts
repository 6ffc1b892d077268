import { describe, expect, test } from "bun:test";
import { decodeToken, encodeToken } from "./token.ts";

describe("token", () => {
  test("round-trips and uses the url-safe alphabet without padding", () => {
    const url = "https://developer.download.nvidia.com/compute/cuda/12.4.0/local_installers/cuda_12.4.0_550.54.14_linux.run?a=b~c";
    const token = encodeToken(url);
    expect(token).not.toMatch(/[+/=]/);
    expect(decodeToken(token)).toEqual({ ok: true, url });
  });
  test("matches python's urlsafe_b64encode with padding stripped", () => {
    // base64.urlsafe_b64encode(b"https://h/x?>>>").rstrip(b"=") == b"aHR0cHM6Ly9oL3g_Pj4-"
    expect(encodeToken("https://h/x?>>>")).toBe("aHR0cHM6Ly9oL3g_Pj4-");
  });
  test("accepts padded input", () => {
    expect(decodeToken(encodeToken("http://a/b") + "==")).toEqual({ ok: true, url: "http://a/b" });
  });
  test("rejects bad alphabet, impossible length, empty, non-utf8", () => {
    expect(decodeToken("abc+def")).toMatchObject({ ok: false, message: "token is not url-safe base64" });
    expect(decodeToken("abcde")).toMatchObject({ ok: false });
    expect(decodeToken("")).toMatchObject({ ok: false, message: "token is empty" });
    expect(decodeToken(Buffer.from([0xff, 0xfe]).toString("base64url"))).toMatchObject({ ok: false });
  });
});
