/**
 * The frames a client may send, and the module each goes to: a submit to submit (its answer may be held
 * back a moment to leave with the task's `task.done`), project requests to `ProjectOps` (see
 * project-handlers.ts), everything else to client operations. The table is
 * built once by the transport.
 */
import type { MessageOf } from "@flotilla/protocol";
import type { CoordinatorContext, CoordinatorParts } from "../context.js";
import { addSharedHandlers, HandlerTable } from "./handlers.js";
import { addProjectHandlers } from "./project-handlers.js";
import type { Session } from "./session.js";

/** The client role's handler table. */
export function clientHandlers(
  ctx: CoordinatorContext,
  parts: Pick<CoordinatorParts, "submit" | "clientOps" | "alerts" | "history" | "projects">,
): HandlerTable {
  const ops = parts.clientOps;
  const out = ctx.out;
  const submit = async (session: Session, frame: MessageOf<"task.submit">): Promise<void> => {
    const waiter = frame.wait === true ? session : undefined;
    const accepted = await parts.submit.submit(
      frame.spec,
      session.principal.name,
      waiter,
      frame.freshKey === true,
    );
    const answer = ctx.frames.accepted(
      frame.id,
      accepted.taskId,
      accepted.duplicate,
      accepted.state,
      waiter !== undefined,
    );
    // Its task.done follows on this connection: a short task's comes before the hold is over, and the
    // client reads the two in one go.
    const holdMs = ctx.options.ackHoldMs;
    const held = waiter !== undefined && holdMs > 0 && session.outbox.hold(answer, holdMs);
    if (!held) out.sendRaw(session, answer);
    if (waiter && accepted.duplicate) await ctx.fanout.awaitExisting(waiter, accepted.taskId, accepted.state);
  };
  const table = new HandlerTable()
    .on("task.submit", submit)
    .on("task.submitMany", async (session, frame) => {
      const results = await parts.submit.submitMany(
        frame.specs,
        session.principal.name,
        frame.allOrNothing === true,
      );
      out.reply(session, frame.id, { results });
    })
    .on("task.cancel", async (session, frame) =>
      out.reply(
        session,
        frame.id,
        await ops.cancel(frame.taskId, frame.reason ?? "cancelled by request", session.principal),
      ),
    )
    .on("task.watch", (session, frame) => ops.watch(session, frame.taskId, frame.fromSeq ?? 0, frame.id))
    .on("task.unwatch", (session, frame) => {
      ctx.fanout.unwatch(session, frame.taskId);
      out.reply(session, frame.id, { ok: true });
    })
    .on("task.get", async (session, frame) => out.reply(session, frame.id, await ops.getTask(frame.taskId)))
    .on("task.events", async (session, frame) =>
      out.reply(session, frame.id, await ops.taskEvents(frame.taskId)),
    )
    .on("tasks.list", async (session, frame) =>
      out.reply(session, frame.id, { tasks: await ops.listTasks(frame) }),
    )
    .on("nodes.list", (session, frame) => out.reply(session, frame.id, { nodes: ops.nodeListing() }))
    .on("events.watch", (session, frame) => {
      ctx.fanout.watchEverything(session);
      out.reply(session, frame.id, { ok: true });
    })
    .on("node.drain", async (session, frame) =>
      out.reply(session, frame.id, await ops.setDraining(frame.nodeId, true)),
    )
    .on("node.undrain", async (session, frame) =>
      out.reply(session, frame.id, await ops.setDraining(frame.nodeId, false)),
    )
    .on("output.read", async (session, frame) =>
      out.reply(session, frame.id, await ops.readOutput(frame.taskId, frame.fromSeq, frame.tail)),
    )
    .on("dlq.list", async (session, frame) => out.reply(session, frame.id, { entries: await ops.dlqList() }))
    .on("dlq.get", async (session, frame) => out.reply(session, frame.id, await ops.dlqGet(frame.taskId)))
    .on("dlq.retry", async (session, frame) => out.reply(session, frame.id, await ops.dlqRetry(frame.taskId)))
    .on("dlq.purge", async (session, frame) => out.reply(session, frame.id, await ops.dlqPurge(frame.taskId)))
    .on("alerts.list", async (session, frame) =>
      out.reply(session, frame.id, { alerts: await parts.alerts.list(frame.all === true) }),
    )
    .on("history.get", async (session, frame) =>
      out.reply(session, frame.id, await parts.history.read(ctx.options.clock(), frame.minutes)),
    );
  return addSharedHandlers(addProjectHandlers(table, ctx, parts), ctx, parts);
}
