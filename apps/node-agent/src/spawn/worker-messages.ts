/**
 * The messages between `WorkerSpawner` and its worker thread (`worker-thread.ts`): types only, so the
 * thread's program and the agent side agree on them at compile time and share no code at run time.
 */
import type { OutputStream } from "../output.js";
import type { SpawnFailure } from "../spawner.js";

/** A request as the worker gets it: the environment already merged. */
export interface WorkerSpawnRequest {
  file: string;
  args: string[];
  cwd?: string;
  env: Readonly<Record<string, string | undefined>>;
  killGroupOnExit?: boolean;
}

/** Messages main -> worker. */
export type ToWorker =
  | { op: "spawn"; id: number; request: WorkerSpawnRequest }
  | { op: "signal"; id: number; signal: NodeJS.Signals }
  | { op: "closePipes"; id: number };

/** Messages worker -> main. */
export type FromWorker =
  | { op: "spawn"; id: number; pid: number }
  | { op: "data"; id: number; stream: OutputStream; bytes: Uint8Array }
  | { op: "exit"; id: number; code: number | null; signal: string | null }
  | { op: "close"; id: number }
  | { op: "error"; id: number; failure: SpawnFailure };
