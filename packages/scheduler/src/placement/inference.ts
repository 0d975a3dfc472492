import type { NeedValue } from "../types.js";

/**
 * One inference rule. A string pattern matches a command segment whose program (first word, after env
 * assignments and wrappers like `sudo`, `npx`, `time`) is that string, or that begins with it followed by a
 * space (`"go build"`). A RegExp is tested against the whole segment.
 */
export interface InferenceRule {
  pattern: RegExp | string;
  needs: Record<string, NeedValue>;
}

/** Rules from the design's routing table. */
export const DEFAULT_INFERENCE_RULES: readonly InferenceRule[] = [
  { pattern: /^(docker|docker-compose|podman)(\s|$)/, needs: { docker: true } },
  { pattern: /^(make|cargo|go\s+build)(\s|$)/, needs: { heavy: true } },
  { pattern: /^(pytest|jest|python3?\s+-m\s+pytest)(\s|$)/, needs: { isolation: true, heavy: true } },
];

const WRAPPERS = new Set(["sudo", "npx", "pnpm", "time", "nice", "exec", "env", "bunx", "uvx"]);
const ENV_ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=\S*$/;

/** The segments of a shell line (split at `&&`, `||`, `;`, `|`), each without env assignments and wrappers. */
export function commandSegments(command: string | readonly string[]): string[] {
  const line = typeof command === "string" ? command : command.join(" ");
  const segments: string[] = [];
  for (const raw of line.split(/&&|\|\||;|\|/)) {
    const words = raw.trim().split(/\s+/).filter(Boolean);
    let start = 0;
    while (start < words.length) {
      const word = words[start] as string;
      if (!ENV_ASSIGNMENT.test(word) && !WRAPPERS.has(word)) break;
      start++;
    }
    if (start < words.length) segments.push(words.slice(start).join(" "));
  }
  return segments;
}

function matches(rule: InferenceRule, segment: string): boolean {
  if (typeof rule.pattern !== "string") return rule.pattern.test(segment);
  return segment === rule.pattern || segment.startsWith(`${rule.pattern} `);
}

/**
 * Infers a task's needs from its command: every rule that matches any segment contributes its needs (later
 * rules override earlier ones on the same key). Returns `{}` when nothing matched (general work).
 */
export function inferRequirements(
  command: string | readonly string[],
  rules: readonly InferenceRule[] = DEFAULT_INFERENCE_RULES,
): Record<string, NeedValue> {
  const needs: Record<string, NeedValue> = {};
  for (const segment of commandSegments(command)) {
    for (const rule of rules) {
      if (matches(rule, segment)) Object.assign(needs, rule.needs);
    }
  }
  return needs;
}
