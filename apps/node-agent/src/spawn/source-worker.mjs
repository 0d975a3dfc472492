/**
 * Runs a worker thread's TypeScript program from the sources (see `programs.ts`): registers the tsx
 * loader in this thread, then imports the program named by `workerData.entry`. Never part of the build.
 */
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.entry);
