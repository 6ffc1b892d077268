// Pure readers of bun's junit XML (the summary line and the failure digest).

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (whole, name: string) => {
    if (name.startsWith("#x") || name.startsWith("#X")) return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (name.startsWith("#")) return String.fromCodePoint(Number(name.slice(1)));
    return ENTITIES[name] ?? whole;
  });
}

function attr(tag: string, name: string): string | undefined {
  const m = tag.match(new RegExp(`\\s${name}="([^"]*)"`));
  return m?.[1] === undefined ? undefined : unescapeXml(m[1]);
}

/** Counts from the top-level <testsuites>: tests run (skipped excluded), failures, errors. */
export function summarize(xml: string): { tests: number; failures: number; errors: number } {
  const top = xml.match(/<testsuites[^>]*>/)?.[0] ?? "";
  const num = (name: string) => Number(attr(top, name) ?? 0);
  return { tests: num("tests") - num("skipped"), failures: num("failures"), errors: num("errors") };
}

/** One block per failed test case: "FAIL file > name" and up to `maxLines` lines of its failure
 *  text (stack frames dropped). Empty when nothing failed. */
export function failureReport(xml: string, maxLines = 30): string {
  const blocks: string[] = [];
  const cases = xml.matchAll(/<testcase\b([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g);
  for (const [, attrs = "", body = ""] of cases) {
    const failure = body.match(/<(failure|error)\b[^>]*>([\s\S]*?)<\/\1>/);
    if (failure === null) continue;
    const text = unescapeXml(failure[2] ?? "")
      .split("\n")
      .filter((line) => !/^\s+at /.test(line) && line.trim() !== "");
    const shown = text.slice(0, maxLines);
    if (text.length > shown.length) shown.push(`… ${text.length - shown.length} more lines`);
    blocks.push([`FAIL ${attr(attrs, "file") ?? "?"} > ${attr(attrs, "name") ?? "?"}`, ...shown.map((l) => `  ${l}`)].join("\n"));
  }
  return blocks.join("\n");
}
