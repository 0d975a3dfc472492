/**
 * Where the spawner's own programs are and how to run them. They are real modules
 * (`helper-process.ts`, `worker-thread.ts`), each built by tsup to `dist/spawn/<name>.js`. Running from
 * the build, they are started as they are; running from the TypeScript sources (vitest, tsx, the e2e
 * suite), they are started with the tsx loader, which the checkout has as a development dependency.
 * The native helper's place is found here too. This module owns those paths and nothing else.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";

/** The spawner's programs. */
export type SpawnProgram = "helper-process" | "worker-thread";

/** This module runs from `src/` (TypeScript under a loader), not from the bundle in `dist/`. */
const FROM_SOURCE = import.meta.url.endsWith(".ts");

/** The program's file: beside this module in `src/spawn/`, or in `dist/spawn/` beside the bundle. */
export function programPath(name: SpawnProgram): string {
  const url = FROM_SOURCE
    ? new URL(`./${name}.ts`, import.meta.url)
    : new URL(`./spawn/${name}.js`, import.meta.url);
  return fileURLToPath(url);
}

/** The `node` arguments that run `name` as a process of its own. */
export function programArgs(name: SpawnProgram): string[] {
  if (!FROM_SOURCE) return [programPath(name)];
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
  return ["--import", tsx, programPath(name)];
}

/**
 * Starts `name` on a worker thread. From the sources it goes through `source-worker.mjs`, which registers
 * the tsx loader inside the thread first: a worker does not take `--import` from its `execArgv` on every
 * supported Node.js version.
 */
export function startWorker(name: SpawnProgram): Worker {
  if (!FROM_SOURCE) return new Worker(programPath(name));
  const entry = pathToFileURL(programPath(name)).href;
  return new Worker(new URL("./source-worker.mjs", import.meta.url), { workerData: { entry } });
}

/**
 * Whether the programs are there: not when the agent runs as the one-file bundle (`flotilla-agent.mjs`)
 * copied on its own, which then starts commands on its own thread.
 */
export function programsPresent(): boolean {
  return existsSync(programPath("helper-process")) && existsSync(programPath("worker-thread"));
}

/** Where the build (`scripts/build-native.mjs`) puts the native helper: `native/build/` of the package. */
export function builtNativeHelper(): string {
  const relative = FROM_SOURCE ? "../../native/build/" : "../native/build/";
  return fileURLToPath(new URL(`${relative}flotilla-spawn-helper`, import.meta.url));
}
