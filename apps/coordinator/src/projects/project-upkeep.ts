/**
 * The projects' share of the housekeeping sweep: claims whose lease lapsed are given back (one script,
 * `project-expire-10`), ready `run` tasks are submitted to the fleet as ordinary exec tasks, and the runs
 * that ended become `completedDetails` (exit code, duration, the tail of the output) by `project-run-10`.
 *
 * All of it is in Redis (`projects:runs:ready`, `projects:runs`), so a coordinator that restarts carries
 * on where the last one stopped: a run is submitted under the idempotency key `project-run:<task>:<n>`
 * (n = the task's run count + 1), so a submit whose `started` mark was lost with a crash finds the same
 * fleet task again instead of running the command twice. It owns nothing but the time of its last look
 * at the runs.
 */
import {
  FlotillaError,
  type ProjectTask,
  type TaskSpec,
  TaskSpecSchema,
  toFlotillaError,
} from "@flotilla/protocol";
import type { CoordinatorContext, CoordinatorParts } from "../context.js";
import { TERMINAL } from "../context.js";
import type { ProjectStore, StoredProjectTask } from "./project-store.js";

/** How many lines of a run's output its `completedDetails` keep. */
export const OUTPUT_TAIL_LINES = 20;
/** Runs are looked at this often at most (submits and results), ms. */
const RUNS_INTERVAL_MS = 250;
/** The name runs are submitted under (fair sharing, the task record's submitter). */
const RUN_SUBMITTER = "projects";

/** The fleet task spec of a project task's `run`. */
export function runSpec(task: StoredProjectTask): TaskSpec {
  const run = task.run;
  if (run === undefined) throw new FlotillaError("E_INTERNAL", `${task.id} has no run`);
  const spec: Record<string, unknown> = {
    kind: "exec",
    argv: run.argv,
    priority: task.priority,
    idempotencyKey: `project-run:${task.id}:${(task.runs ?? 0) + 1}`,
    labels: { project: task.projectId, projectTask: task.id },
  };
  if (run.needs !== undefined && run.needs.length > 0)
    spec.needs = Object.fromEntries(run.needs.map((need) => [need, true]));
  if (run.cwd !== undefined) spec.cwd = run.cwd;
  if (run.env !== undefined) spec.env = run.env;
  if (run.timeoutMs !== undefined) spec.timeoutMs = run.timeoutMs;
  if (run.node !== undefined) spec.node = run.node;
  return TaskSpecSchema.parse(spec);
}

/** The last `lines` lines of a text. */
export function tail(text: string, lines: number): string {
  const all = text.replace(/\n$/, "").split("\n");
  return all.slice(-lines).join("\n");
}

/** Expiry of claims and the fleet runs of project tasks. */
export class ProjectUpkeep {
  private lastRuns = 0;

  constructor(
    private readonly ctx: CoordinatorContext,
    private readonly parts: Pick<CoordinatorParts, "submit">,
    private readonly store: ProjectStore,
  ) {}

  /** One sweep's share: lapsed claims now, runs at most every {@link RUNS_INTERVAL_MS}. */
  async sweep(now: number): Promise<void> {
    const ctx = this.ctx;
    const keys = ctx.keys.redis;
    const due = await ctx.redisClient.zrangebyscore(keys.projectClaims, "-inf", now, "LIMIT", 0, 1);
    if (due.length > 0) await this.store.change("project-expire-10", "", { limit: 100 });
    if (now - this.lastRuns < RUNS_INTERVAL_MS) return;
    this.lastRuns = now;
    await this.submitReady();
    await this.collectEnded();
  }

  /** Ready `run` tasks go to the fleet. */
  private async submitReady(): Promise<void> {
    const ctx = this.ctx;
    const ready = await ctx.redisClient.smembers(ctx.keys.redis.projectRunsReady);
    for (const taskId of ready) {
      const task = (await this.store.task(taskId).catch(() => undefined)) as StoredProjectTask | undefined;
      // Deleted, or taken by an agent since it became ready: the fleet does not run it.
      if (task?.status !== "not started") {
        await ctx.redisClient.srem(ctx.keys.redis.projectRunsReady, taskId);
        continue;
      }
      try {
        const accepted = await this.parts.submit.submit(runSpec(task), RUN_SUBMITTER);
        await this.store.change("project-run-10", "", {
          op: "started",
          taskId,
          fleetTaskId: accepted.taskId,
        });
      } catch (error) {
        const failure = toFlotillaError(error);
        // Worth another try next sweep (no node yet, a queue full); anything else fails the run.
        if (failure.retryable) continue;
        await this.store.change("project-run-10", "", {
          op: "finished",
          taskId,
          fleetTaskId: "",
          success: false,
          details: `could not submit the run: ${failure.code} ${failure.message}`,
        });
      }
    }
  }

  /** Runs that ended: their result becomes the project task's outcome. */
  private async collectEnded(): Promise<void> {
    const ctx = this.ctx;
    const runs = await ctx.redisClient.hgetall(ctx.keys.redis.projectRuns);
    for (const [fleetTaskId, taskId] of Object.entries(runs)) {
      const run = await ctx.db.getTask(fleetTaskId);
      if (run !== undefined && !TERMINAL.has(run.state)) continue;
      const success = run?.state === "succeeded";
      await this.store.change<ProjectTask | false>("project-run-10", "", {
        op: "finished",
        taskId,
        fleetTaskId,
        success,
        details: run === undefined ? `fleet task ${fleetTaskId} is gone` : await this.details(fleetTaskId),
      });
    }
  }

  /** What a run's `completedDetails` say: its end, exit code, duration and the tail of its output. */
  private async details(fleetTaskId: string): Promise<string> {
    const ctx = this.ctx;
    const run = await ctx.db.getTask(fleetTaskId);
    const fields = run?.fields ?? {};
    const chunks = await ctx.db.readOutput(fleetTaskId);
    const output = tail(chunks.map((chunk) => chunk.data).join(""), OUTPUT_TAIL_LINES);
    const exit = fields.exitCode === undefined || fields.exitCode === "" ? "none" : fields.exitCode;
    const lines = [
      `fleet task ${fleetTaskId} ${run?.state ?? "gone"} on ${run?.node ?? "no node"}: exit code ${exit}, ${fields.durationMs ?? "?"} ms`,
    ];
    if (fields.error) lines.push(`error: ${fields.error}`);
    if (output !== "") lines.push(`output (last ${OUTPUT_TAIL_LINES} lines):`, output);
    return lines.join("\n");
  }
}
