// Reads bun's junit report. Prints "<tests> <failures> <errors>" from the top-level suite on
// stdout, and on stderr every failed test with the first lines of its failure, so a CI log that
// keeps only its tail still says what failed and why.
import { failureReport, summarize } from "./junit.ts";

const path = process.argv[2];
if (!path) throw new Error("usage: junit-summary <junit.xml>");
const file = Bun.file(path);
if (!(await file.exists())) {
  console.log("0 0 1");
} else {
  const xml = await file.text();
  const report = failureReport(xml);
  if (report !== "") console.error(report);
  const { tests, failures, errors } = summarize(xml);
  console.log(`${tests} ${failures} ${errors}`);
}
