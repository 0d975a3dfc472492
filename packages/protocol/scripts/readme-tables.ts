/**
 * The README's message and error-code tables, built from the code so they cannot drift: `pnpm gen:readme`
 * rewrites the blocks between the markers, and a test fails when they are stale.
 */
import { MESSAGE_CATALOG } from "../src/catalog.js";
import { ERROR_CODES } from "../src/errors.js";
import { ENVELOPE_KEYS, MESSAGE_SCHEMAS, MESSAGE_TYPES } from "../src/messages.js";

/** A generated block of README.md: its name in the markers and its content. */
const BLOCKS: Record<string, () => string> = { messages: messageTable, errors: errorTable };

const envelopeKeys: ReadonlySet<string> = new Set(ENVELOPE_KEYS);

/** One row per message type: type, who sends it to whom, its own fields (`?` = optional), what it is for. */
export function messageTable(): string {
  const rows = MESSAGE_TYPES.map((type) => {
    const info = MESSAGE_CATALOG[type];
    const fields = Object.entries(MESSAGE_SCHEMAS[type].shape)
      .filter(([key]) => !envelopeKeys.has(key))
      .map(([key, schema]) => `\`${key}${schema._zod.optin === "optional" ? "?" : ""}\``)
      .join(", ");
    return `| \`${type}\` | ${info.from.join(", ")} → ${info.to.join(", ")} | ${fields || "—"} | ${info.summary} |`;
  });
  return ["| type | direction | fields | purpose |", "|---|---|---|---|", ...rows].join("\n");
}

/** One row per error code: code, wire number, default retryability. */
export function errorTable(): string {
  const rows = Object.entries(ERROR_CODES).map(
    ([code, { wire, retryable }]) => `| \`${code}\` | ${wire} | ${retryable ? "yes" : "no"} |`,
  );
  return ["| code | wire | retryable |", "|---|---|---|", ...rows].join("\n");
}

/** `readme` with every generated block replaced. */
export function withGeneratedTables(readme: string): string {
  let text = readme;
  for (const [name, build] of Object.entries(BLOCKS)) {
    const start = `<!-- ${name}:start -->`;
    const end = `<!-- ${name}:end -->`;
    const from = text.indexOf(start);
    const to = text.indexOf(end);
    if (from < 0 || to < from) throw new Error(`README.md lacks the ${start} … ${end} markers`);
    text = `${text.slice(0, from + start.length)}\n${build()}\n${text.slice(to)}`;
  }
  return text;
}

/** A table row with its padding removed, so a Markdown formatter's column alignment does not count as drift. */
function normalizeRow(line: string): string {
  if (!line.startsWith("|")) return line;
  return line
    .split("|")
    .map((cell) => cell.trim().replace(/^-{3,}$/, "---"))
    .join("|");
}

/** Whether the generated blocks of `readme` are current, ignoring table padding. */
export function hasCurrentTables(readme: string): boolean {
  const normalize = (text: string) => text.split("\n").map(normalizeRow).join("\n");
  return normalize(readme) === normalize(withGeneratedTables(readme));
}
