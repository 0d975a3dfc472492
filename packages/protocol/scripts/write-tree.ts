import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** The package's root directory. */
export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Replaces the directory `root` with exactly `files` (path below root -> content). */
export function writeTree(root: string, files: ReadonlyMap<string, string>): void {
  // Start clean so a removed message type or vector does not leave its old file behind.
  rmSync(root, { recursive: true, force: true });
  for (const [path, content] of files) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
}

/** Reads every file below `root` (path below root, with `/` separators -> content). */
export function readTree(root: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(relative(root, path).split("\\").join("/"), readFileSync(path, "utf8"));
  }
  return files;
}
