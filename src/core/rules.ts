// Operator freshness rules: `--rule 'PATTERN=POLICY'`, first match wins. PATTERN is a glob over
// the whole origin URL: `**` matches anything (slashes too), `*` anything but a slash, `?` one
// character but a slash; everything else is literal. POLICY: origin | immutable | revalidate |
// never | max-age=DURATION. Pure.
import { parseDuration } from "./duration.ts";
import type { Policy } from "./freshness.ts";
import { policyText } from "./policy-text.ts";

export { policyText };

export type Rule = { text: string; pattern: string; policy: Policy; regex: RegExp };

/** A pattern past this many characters is refused (each compiles to a regex run on every probe). */
const PATTERN_CHARS_MAX = 1024;
/** Rules kept: more than any site needs, few enough that first-match stays cheap. */
export const RULES_MAX = 256;
/** URLs whose matching rule is remembered (a probe asks for the same few URLs again and again). */
const MEMO_MAX = 10_000;

const POLICY_HINT = "expected PATTERN=POLICY with POLICY origin, immutable, revalidate, never or max-age=DURATION (with a unit: 300s, 5m, 1h)";

export function parsePolicy(text: string): Policy | null {
  const t = text.trim().toLowerCase();
  if (t === "origin" || t === "immutable" || t === "revalidate" || t === "never") return { kind: t };
  const m = /^max-age=(.+)$/.exec(t);
  if (!m) return null;
  // parseDuration wants a unit (Cache-Control's bare max-age is seconds, ours would be a guess).
  const d = parseDuration(m[1]!);
  return d.ok && d.ms > 0 ? { kind: "max-age", ms: d.ms } : null;
}

function globToRegex(pattern: string): RegExp {
  let out = "";
  for (let i = 0; i < pattern.length; i += 1) {
    const c = pattern[i]!;
    if (c === "*" && pattern[i + 1] === "*") {
      out += ".*";
      i += 1;
    } else if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else out += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${out}$`, "s");
}

export type ParsedRule = { ok: true; rule: Rule } | { ok: false; message: string };

/**
 * `PATTERN=POLICY`. The pattern may itself hold `=` (a query): the split is at the first `=`
 * whose right-hand side is a policy, so `https://h/x?a=b=never` is the pattern `https://h/x?a=b`.
 */
export function parseRule(text: string): ParsedRule {
  const shown = JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}…` : text);
  for (let eq = text.indexOf("="); eq >= 0; eq = text.indexOf("=", eq + 1)) {
    const policy = parsePolicy(text.slice(eq + 1));
    if (policy === null) continue;
    const pattern = text.slice(0, eq).trim();
    if (pattern === "") return { ok: false, message: `${shown} has no pattern; ${POLICY_HINT}` };
    if (pattern.length > PATTERN_CHARS_MAX) return { ok: false, message: `${shown}: the pattern is longer than ${PATTERN_CHARS_MAX} characters` };
    if (/\s/.test(pattern)) return { ok: false, message: `${shown}: the pattern has white space; urls have none` };
    return { ok: true, rule: { text: `${pattern}=${policyText(policy)}`, pattern, policy, regex: globToRegex(pattern) } };
  }
  return { ok: false, message: `${shown} is not a rule; ${POLICY_HINT}` };
}

export type RuleMatch = { rule: Rule | null; policy: Policy };

const ORIGIN: RuleMatch = { rule: null, policy: { kind: "origin" } };

/** Compiled rules with a memo of recent answers. */
export class RuleSet {
  readonly rules: readonly Rule[];
  private readonly memo = new Map<string, RuleMatch>();

  constructor(rules: readonly Rule[]) {
    this.rules = rules;
  }

  /** Parse every rule; the first bad one is the error (its message quotes the rule). */
  static parse(texts: readonly string[]): { ok: true; rules: RuleSet } | { ok: false; message: string } {
    if (texts.length > RULES_MAX) return { ok: false, message: `${texts.length} rules is more than ${RULES_MAX}` };
    const rules: Rule[] = [];
    for (const text of texts) {
      const parsed = parseRule(text);
      if (!parsed.ok) return parsed;
      rules.push(parsed.rule);
    }
    return { ok: true, rules: new RuleSet(rules) };
  }

  /** The first rule matching `url` (the normalised origin URL), else the origin policy. */
  match(url: string): RuleMatch {
    if (this.rules.length === 0) return ORIGIN;
    const known = this.memo.get(url);
    if (known) return known;
    const rule = this.rules.find((r) => r.regex.test(url)) ?? null;
    const found = rule === null ? ORIGIN : { rule, policy: rule.policy };
    if (this.memo.size >= MEMO_MAX) this.memo.clear();
    this.memo.set(url, found);
    return found;
  }
}
