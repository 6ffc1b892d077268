// Prints the README's "## Configuration reference" from the real CLI definition (the commander
// program every `--help` is rendered from) and the serve config table (src/config/schema.ts), in
// the shape test/readme-cli.test.ts checks:  bun scripts/readme-reference.ts > reference.md
import type { Command, Option } from "commander";
import { buildProgram } from "../src/cli/program.ts";
import { defaultServeConfig, FIELDS } from "../src/config/schema.ts";

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\s+/g, " ").trim();
const code = (text: string) => "`" + text + "`";

function formatDefault(key: string, value: unknown): string {
  if (value === undefined) return "—";
  if (typeof value === "boolean") return value ? "on" : "off";
  if (Array.isArray(value)) return value.length === 0 ? "none" : code(value.join(","));
  if (typeof value === "number" && key.endsWith("Ms")) {
    if (value === 0) return code("0");
    const unit = ([["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const).find(([, size]) => value % size === 0);
    return code(unit ? `${value / unit[1]}${unit[0]}` : `${value}ms`);
  }
  if (typeof value === "number" && key.endsWith("Bytes")) return value === 0 ? "`0` (unlimited)" : code(`${value}`);
  return code(String(value));
}

function optionRows(cmd: Command, isServe: boolean): string[] {
  const rows: string[] = [];
  const defaults = defaultServeConfig() as Record<string, unknown>;
  const options = (cmd.options as readonly Option[]).filter((o) => o.long !== "--help");
  for (const o of options) {
    const field = isServe ? FIELDS.find((f) => f.flag === o.long) : undefined;
    const env = field?.env ?? o.envVar;
    // A default the description spells out ("(default: this binary)") beats the runtime value,
    // which may be a path on the machine that generated this.
    const described = /\(default:? ([^)]*)\)/.exec(o.description)?.[1];
    const def = field
      ? formatDefault(field.key, defaults[field.key])
      : described !== undefined
        ? cell(described)
        : formatDefault("", o.defaultValue);
    // The env and default columns say it already: drop "(env X, default Y)" from the description.
    const meaning = o.description.replace(/\s*\((env|default)\b[^)]*\)/g, "");
    rows.push(`| ${code(o.flags)} | ${env ? code(env) : "—"} | ${def} | ${cell(meaning)} |`);
  }
  if (isServe) {
    for (const f of FIELDS.filter((f) => f.flag === null || !options.some((o) => o.long === f.flag))) {
      const what = f.flag === null ? "environment only (a secret: never a flag)" : "environment only";
      rows.push(`| — | ${code(f.env)} | ${formatDefault(f.key, defaults[f.key])} | ${what} |`);
    }
  }
  return rows;
}

const program = buildProgram();
const out: string[] = ["## Configuration reference", ""];
out.push(
  "Generated from the CLI definition by `bun scripts/readme-reference.ts`; `test/readme-cli.test.ts`",
  "fails when this table and the binary's `--help` disagree. Precedence for `serve`: flag > environment",
  "> config file > default.",
  "",
  "### `withcache`",
  "",
  "| Flag | Environment | Default | Meaning |",
  "|---|---|---|---|",
  ...optionRows(program, false),
  "",
);
for (const cmd of program.commands) {
  out.push(`### \`withcache ${cmd.name()}\``, "", `\`withcache ${cmd.name()} ${cmd.usage()}\`: ${cell(cmd.description())}`, "");
  const rows = optionRows(cmd, cmd.name() === "serve");
  if (rows.length === 0) out.push("No options besides `--help`.", "");
  else out.push("| Flag | Environment | Default | Meaning |", "|---|---|---|---|", ...rows, "");
}
process.stdout.write(out.join("\n"));
