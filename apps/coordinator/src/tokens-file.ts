/**
 * The token file and `flotilla-coordinator token add`. A token file is JSON, `{ "tokens": [{ "name",
 * "scope", "hash" }] }`, where `hash` is the SHA-256 hex of the token: the coordinator never stores a token
 * itself. `token add` makes a random token, appends its entry to the file (creating it, mode 0600) and
 * prints the token once; it cannot be shown again.
 */
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { parseScope, type TokenEntry, tokenHash } from "./auth.js";

/** The usage text of `flotilla-coordinator token add --help`. */
export const TOKEN_USAGE = `Usage: flotilla-coordinator token add --scope <scope> --name <name> [--tokens-file <path>]

Makes a new random token, appends {name, scope, hash} to the token file (its SHA-256 hash, never the
token) and prints the token once: keep it, it cannot be shown again. Start the coordinator with
--tokens-file <path> to accept it.

Scopes:
  admin           everything
  submit          submit tasks, watch and read any task, cancel the tasks it submitted
  read            read-only: nodes, tasks, events, metrics (dashboards, wall displays)
  agent:<node>    only the agent protocol, only as node <node>

Options:
  --scope <scope>           one of the scopes above
  --name <name>             unique name; the submitter of the tasks this token submits
  --tokens-file <path>      the token file (env FLOTILLA_TOKENS_FILE, default ./tokens.json)
  -h, --help                show this help
`;

/** The entries of a token file; a missing file has none. */
export async function readTokensFile(path: string): Promise<TokenEntry[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const parsed = JSON.parse(text) as { tokens?: unknown };
  if (!Array.isArray(parsed.tokens)) throw new RangeError(`${path}: wants { "tokens": [...] }`);
  return tokenEntries(parsed.tokens, `${path}: tokens`);
}

/**
 * The entries of a `tokens` list, from a token file or the `tokens` section of the coordinator's config
 * file, checked alike: each a `name`, a known `scope` and a SHA-256 hex `hash`; `where` names the list in
 * errors (`tokens.json: tokens`).
 */
export function tokenEntries(list: unknown, where: string): TokenEntry[] {
  if (!Array.isArray(list)) throw new RangeError(`${where} must be a list of { name, scope, hash }`);
  return list.map((entry: unknown, index) => {
    const { name, scope, hash } = (entry ?? {}) as Record<string, unknown>;
    if (typeof name !== "string" || typeof scope !== "string" || typeof hash !== "string")
      throw new RangeError(`${where}[${index}] wants string name, scope and hash`);
    try {
      parseScope(scope);
    } catch (error) {
      throw new RangeError(`${where}[${index}]: ${(error as Error).message}`);
    }
    if (!/^[0-9a-f]{64}$/i.test(hash))
      throw new RangeError(`${where}[${index}]: hash must be 64 hex digits (the token's SHA-256)`);
    return { name, scope, hash };
  });
}

/** Runs `token add`; returns the exit code. */
export async function runTokenCommand(
  argv: readonly string[],
  io: { env: Record<string, string | undefined>; out: (line: string) => void; err: (line: string) => void },
): Promise<number> {
  let values: { scope?: string; name?: string; "tokens-file"?: string; help?: boolean };
  try {
    const parsed = parseArgs({
      args: [...argv],
      options: {
        scope: { type: "string" },
        name: { type: "string" },
        "tokens-file": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
      strict: true,
    });
    values = parsed.values;
    if (values.help) {
      io.out(TOKEN_USAGE);
      return 0;
    }
    if (parsed.positionals.length !== 1 || parsed.positionals[0] !== "add")
      throw new RangeError(`unknown token command "${parsed.positionals.join(" ")}" (token add)`);
    if (values.scope === undefined || values.name === undefined)
      throw new RangeError("token add wants --scope and --name");
    parseScope(values.scope);
  } catch (error) {
    io.err(`flotilla-coordinator: ${(error as Error).message} (see token add --help)`);
    return 2;
  }
  const path = values["tokens-file"] ?? io.env.FLOTILLA_TOKENS_FILE ?? "tokens.json";
  const name = values.name as string;
  try {
    const entries = await readTokensFile(path);
    if (entries.some((entry) => entry.name === name))
      throw new RangeError(`${path} already has a token named "${name}"`);
    const token = randomBytes(32).toString("base64url");
    entries.push({ name, scope: values.scope as string, hash: tokenHash(token) });
    await writeFile(path, `${JSON.stringify({ tokens: entries }, null, 2)}\n`, { mode: 0o600 });
    io.out(token);
    io.err(`added token "${name}" (scope ${values.scope}) to ${path}; the token above is shown only once`);
    return 0;
  } catch (error) {
    io.err(`flotilla-coordinator: ${(error as Error).message}`);
    return 1;
  }
}
