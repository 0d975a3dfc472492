/**
 * The frames an agent may send, and the module each goes to: hello, heartbeat and goodbye to membership;
 * accept, reject, output, progress and finish to run reports; a steal request to balancing; broadcasts,
 * direct messages and discovery as for clients. The table is built once by the transport.
 */
import { CLOSE_PROTOCOL_VERSION, FlotillaError, protocolRefusal } from "@flotilla/protocol";
import { forbidden } from "../access.js";
import type { CoordinatorContext, CoordinatorParts } from "../context.js";
import { COORDINATOR_VERSION } from "../version.js";
import { addSharedHandlers, HandlerTable } from "./handlers.js";
import type { Session } from "./session.js";

/** Counts a protocol violation against a connection and answers it (the transport's). */
export type Violation = (session: Session, error: FlotillaError, replyTo: string | undefined) => void;

/** Answers a peer whose protocol version this coordinator cannot serve, and closes its connection. */
export function refuseVersion(
  ctx: CoordinatorContext,
  session: Session,
  refusal: string,
  replyTo: string | undefined,
): void {
  ctx.log.warn({ session: session.label }, refusal);
  ctx.out.error(session, new FlotillaError("E_VERSION", refusal), replyTo);
  ctx.out.flush(session);
  session.socket.close(CLOSE_PROTOCOL_VERSION, refusal.slice(0, 123));
}

/** The agent role's handler table. */
export function agentHandlers(
  ctx: CoordinatorContext,
  parts: Pick<CoordinatorParts, "membership" | "reports" | "balancing" | "clientOps">,
  violation: Violation,
): HandlerTable {
  const { membership, reports, balancing } = parts;
  const table = new HandlerTable()
    .on("agent.hello", (session, hello) => {
      const peer = {
        role: "agent" as const,
        protocol: hello.protocol,
        software: `flotilla-agent ${hello.node.version}`,
      };
      const incompatible = protocolRefusal(peer, `flotilla-coordinator ${COORDINATOR_VERSION}`);
      if (incompatible !== undefined) {
        refuseVersion(ctx, session, incompatible, hello.id);
        return undefined;
      }
      const refusal = membership.mayJoin(session, hello);
      if (refusal === undefined) return membership.hello(session, hello);
      violation(session, forbidden(session.principal, refusal), hello.id);
      ctx.out.flush(session);
      session.socket.close(1008, "token may not speak for this node");
      return undefined;
    })
    .on("heartbeat", (session, beat) => membership.heartbeat(session, beat))
    .on("agent.bye", (session) => membership.bye(session))
    .on("task.accept", (session, accept) => reports.accept(session, accept))
    .on("task.reject", (session, reject) => reports.reject(session, reject))
    .on("task.output", (session, output) => reports.output(session, output))
    .on("task.progress", (session, progress) => reports.progress(session, progress))
    .on("task.finish", (session, finish) => reports.finish(session, finish))
    .on("steal.request", (session) => balancing.steal(session.nodeId as string));
  return addSharedHandlers(table, ctx, parts);
}
