import { describe, expect, test } from "bun:test";
import { splitExtensionForDisplay, splitUrlForDisplay, URL_TAIL_CHARS_MAX } from "./url-display.ts";

describe("splitUrlForDisplay", () => {
  test("host and directories in the head, the file name in the tail; together the whole URL", () => {
    const url = "https://very-long-subdomain.downloads.vendor.example.com/releases/2026/stable/tool-1.2.3.tar.gz";
    const parts = splitUrlForDisplay(url);
    expect(parts).toEqual({ head: "https://very-long-subdomain.downloads.vendor.example.com/releases/2026/stable", tail: "/tool-1.2.3.tar.gz" });
    expect(parts.head + parts.tail).toBe(url);
  });

  test("a query stays with the file name; a slash inside the query is not a path separator", () => {
    expect(splitUrlForDisplay("https://h/dir/f.tgz?sig=a/b")).toEqual({ head: "https://h/dir", tail: "/f.tgz?sig=a/b" });
  });

  test("a file name longer than the limit keeps its end (the extension)", () => {
    const name = `${"n".repeat(100)}-x86_64.tar.gz`;
    const url = `https://h.example/d/${name}`;
    const parts = splitUrlForDisplay(url);
    expect(parts.tail.length).toBe(URL_TAIL_CHARS_MAX);
    expect(parts.tail.endsWith("-x86_64.tar.gz")).toBe(true);
    expect(parts.head + parts.tail).toBe(url);
    expect(splitUrlForDisplay(url, { tailCharsMax: 10 }).tail).toBe("6_64.tar.gz".slice(-10));
  });

  test("no path, or only '/': nothing to keep apart, all head", () => {
    expect(splitUrlForDisplay("https://h.example")).toEqual({ head: "https://h.example", tail: "" });
    expect(splitUrlForDisplay("https://h.example/")).toEqual({ head: "https://h.example/", tail: "" });
    expect(splitUrlForDisplay("https://h.example/f")).toEqual({ head: "https://h.example", tail: "/f" });
  });

  test("text that is not a URL still splits into two parts that join to it", () => {
    for (const text of ["", "x", "no scheme/but/slashes", `https://x/<script>alert(1)</script>"'><img src=x onerror=alert(2)>`]) {
      const parts = splitUrlForDisplay(text);
      expect(parts.head + parts.tail).toBe(text);
    }
  });

  test("a surrogate pair is never cut in half", () => {
    const url = `https://h/d/${"😀".repeat(30)}`;
    const parts = splitUrlForDisplay(url, { tailCharsMax: 7 });
    expect(parts.head + parts.tail).toBe(url);
    expect(parts.tail).toBe("😀".repeat(4));
  });
});

describe("splitExtensionForDisplay", () => {
  const split = (tail: string) => {
    const parts = splitExtensionForDisplay(tail);
    expect(parts.stem + parts.ext).toBe(tail);
    return parts;
  };

  test("one or two short dotted parts are the extension", () => {
    expect(split("/cuda-repo-ubuntu2204-12-6-local_12.6.2-560.35.03-1_amd64.deb")).toEqual({ stem: "/cuda-repo-ubuntu2204-12-6-local_12.6.2-560.35.03-1_amd64", ext: ".deb" });
    expect(split("/tool-1.2.3-x86_64-linux-gnu.tar.gz")).toEqual({ stem: "/tool-1.2.3-x86_64-linux-gnu", ext: ".tar.gz" });
    expect(split("/cuda_12.6.2_560.35.03_linux.run")).toEqual({ stem: "/cuda_12.6.2_560.35.03_linux", ext: ".run" });
    expect(split("/Obsidian-1.7.7.AppImage").ext).toBe(".AppImage");
    expect(split("/7-Zip-24.08.7z").ext).toBe(".7z");
    expect(split("/linux-6.12.tar.bz2").ext).toBe(".tar.bz2");
  });

  test("at most two parts: the rest of a dotted name stays in the stem", () => {
    expect(split("/foo-x86_64.pkg.tar.zst")).toEqual({ stem: "/foo-x86_64.pkg", ext: ".tar.zst" });
  });

  test("a version is not an extension", () => {
    expect(split("/cuda-12.6.2")).toEqual({ stem: "/cuda-12.6.2", ext: "" });
    expect(split("/tool-1.2.3rc1")).toEqual({ stem: "/tool-1.2.3rc1", ext: "" });
    expect(split("/libssl.so.3")).toEqual({ stem: "/libssl.so.3", ext: "" });
    expect(split("/tool-1.2.3.tgz")).toEqual({ stem: "/tool-1.2.3", ext: ".tgz" });
  });

  test("no extension: all stem, cut at its end as before", () => {
    for (const tail of ["", "/", "/download", "/.bashrc", "/file.", "/a.b-c", "no-slash"]) expect(split(tail)).toEqual({ stem: tail, ext: "" });
    expect(split("/f.tar.toolongpart")).toEqual({ stem: "/f.tar.toolongpart", ext: "" });
  });

  test("a short query (Misses' '?…') stays with the extension; a long one goes with the stem", () => {
    expect(split("/tool-1.2.3.tar.gz?…")).toEqual({ stem: "/tool-1.2.3", ext: ".tar.gz?…" });
    expect(split("/f.tgz#x")).toEqual({ stem: "/f", ext: ".tgz#x" });
    expect(split("/f.tgz?sig=a/b")).toEqual({ stem: "/f.tgz?sig=a/b", ext: "" });
    expect(split("/f?…")).toEqual({ stem: "/f?…", ext: "" });
  });
});
