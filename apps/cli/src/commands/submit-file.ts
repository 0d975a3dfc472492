/**
 * `flotilla submit --file FILE` (`-` for stdin): one task spec per line (JSON, as `task.submit` takes it;
 * blank lines and lines starting with `#` are skipped), sent with `client.submitMany`, so each batch of up
 * to 1000 is one round trip and one script call. A bad line is reported with its line number on stderr and
 * the good ones are submitted, or, with `--all-or-nothing`, none is. Prints one task id per accepted line
 * (`--json`: one `{line, taskId, duplicate}` JSON object per line).
 */
import type { SubmitManyResult } from "@flotilla/client";
import { FlotillaError, type TaskSpecInput } from "@flotilla/protocol";
import type { CommandContext } from "../cli.js";
import { EXIT } from "../exit-codes.js";

/** A line that is not a spec, by its line number. */
interface LineError {
  line: number;
  message: string;
}

/** Reads the whole of standard input. */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** The file's text: `-` is standard input; the CLI's `readInput` stands in for both in tests. */
async function readSpecs(context: CommandContext, path: string): Promise<string> {
  if (context.io.readInput) return await context.io.readInput(path);
  if (path === "-") return await readStdin();
  const { readFile } = await import("node:fs/promises");
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new FlotillaError("E_INVALID_ARGUMENT", `cannot read --file ${path}: ${(error as Error).message}`);
  }
}

/** Parses the lines: specs with their line numbers, and the lines that are not JSON objects. */
export function parseSpecLines(text: string): {
  specs: { line: number; spec: TaskSpecInput }[];
  errors: LineError[];
} {
  const specs: { line: number; spec: TaskSpecInput }[] = [];
  const errors: LineError[] = [];
  text.split("\n").forEach((raw, i) => {
    const content = raw.trim();
    if (content === "" || content.startsWith("#")) return;
    try {
      const value: unknown = JSON.parse(content);
      if (typeof value !== "object" || value === null || Array.isArray(value))
        errors.push({ line: i + 1, message: "not a JSON object (one task spec per line)" });
      else specs.push({ line: i + 1, spec: value as TaskSpecInput });
    } catch (error) {
      errors.push({ line: i + 1, message: `not JSON: ${(error as Error).message}` });
    }
  });
  return { specs, errors };
}

/** Runs `flotilla submit --file`; resolves with the exit code. */
export async function submitFile(context: CommandContext, path: string): Promise<number> {
  const allOrNothing = context.values["all-or-nothing"] === true;
  const { specs, errors } = parseSpecLines(await readSpecs(context, path));
  const report = (line: number, message: string) => context.err(`flotilla: line ${line}: ${message}\n`);
  if (allOrNothing && errors.length > 0) {
    for (const error of errors) report(error.line, error.message);
    context.err(`flotilla: ${errors.length} bad line(s), so no task was submitted (--all-or-nothing)\n`);
    return EXIT.USAGE;
  }
  let results: SubmitManyResult[] = [];
  if (specs.length > 0) {
    const client = await context.client();
    try {
      results = await client.submitMany(
        specs.map((entry) => entry.spec),
        { allOrNothing },
      );
    } catch (error) {
      const invalid = (error as FlotillaError).details?.invalid as
        | { index: number; message: string }[]
        | undefined;
      if (!(error instanceof FlotillaError) || error.code !== "E_SCHEMA" || invalid === undefined)
        throw error;
      for (const bad of invalid) report(specs[bad.index]?.line ?? 0, bad.message);
      context.err(`flotilla: ${invalid.length} bad line(s), so no task was submitted (--all-or-nothing)\n`);
      return EXIT.USAGE;
    }
  }
  const refused: LineError[] = [...errors];
  for (const result of results) {
    const line = specs[result.index]?.line ?? 0;
    if (!result.ok) {
      refused.push({ line, message: `${result.code}: ${result.message}` });
      continue;
    }
    context.out(
      context.json
        ? `${JSON.stringify({ line, taskId: result.taskId, duplicate: result.duplicate })}\n`
        : `${result.taskId}\n`,
    );
  }
  refused.sort((a, b) => a.line - b.line);
  for (const error of refused) report(error.line, error.message);
  if (refused.length === 0) return EXIT.OK;
  context.err(
    `flotilla: ${results.length - refused.length + errors.length} of ${specs.length + errors.length} lines submitted\n`,
  );
  return EXIT.FAILED;
}
