// Reads bun's junit report and prints "<tests> <failures> <errors>" from the top-level suite.
const path = process.argv[2];
if (!path) throw new Error("usage: junit-summary <junit.xml>");
const file = Bun.file(path);
if (!(await file.exists())) {
  console.log("0 0 1");
} else {
  const xml = await file.text();
  const top = xml.match(/<testsuites[^>]*>/)?.[0] ?? "";
  const num = (attr: string) => Number(top.match(new RegExp(`${attr}="(\\d+)"`))?.[1] ?? 0);
  const skipped = num("skipped");
  console.log(`${num("tests") - skipped} ${num("failures")} ${num("errors")}`);
}
export {};
