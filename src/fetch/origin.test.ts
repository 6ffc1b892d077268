import { describe, expect, test } from "bun:test";
import { addressRefusal, type Resolver } from "./origin.ts";

const fake = (answers: Record<string, string[]>): Resolver => async (host) => {
  const a = answers[host];
  if (!a) throw new Error("ENOTFOUND");
  return a;
};

describe("addressRefusal", () => {
  const resolve = fake({
    "public.example": ["93.184.216.34", "2606:2800:220:1::1"],
    "mixed.example": ["93.184.216.34", "10.0.0.5"],
    "metadata.example": ["169.254.169.254"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "ula.example": ["fd12::1"],
  });
  test("public names pass; unresolvable names are not a refusal (the fetch retries)", async () => {
    expect(await addressRefusal(new URL("https://public.example/x"), resolve)).toBeNull();
    expect(await addressRefusal(new URL("https://nowhere.example/x"), resolve)).toBeNull();
  });
  test("any private answer refuses, with the address named", async () => {
    expect(await addressRefusal(new URL("https://mixed.example/x"), resolve)).toBe(
      "origin host mixed.example resolves to 10.0.0.5, which is a private address; refused without --allow-private-origins",
    );
    expect(await addressRefusal(new URL("http://metadata.example/latest"), resolve)).toContain("link-local");
    expect(await addressRefusal(new URL("http://mapped.example/"), resolve)).toContain("loopback");
    expect(await addressRefusal(new URL("http://ula.example/"), resolve)).toContain("unique-local");
  });
  test("ip literals are checked without dns", async () => {
    expect(await addressRefusal(new URL("http://127.0.0.1:8080/x"), resolve)).toBe("origin host 127.0.0.1 is a loopback address; refused without --allow-private-origins");
    expect(await addressRefusal(new URL("http://[::1]/x"), resolve)).toContain("loopback");
    expect(await addressRefusal(new URL("http://169.254.169.254/"), resolve)).toContain("link-local");
    expect(await addressRefusal(new URL("http://[::ffff:a9fe:a9fe]/"), resolve)).toContain("link-local");
    expect(await addressRefusal(new URL("http://0x7f.1/"), resolve)).toContain("loopback"); // WHATWG normalises to 127.0.0.1
  });
});
