/**
 * Frame handler tables. A `HandlerTable` maps each frame type a role may send to the function that
 * handles it; a type missing from a role's table is a protocol violation. The tables are built once, when
 * the transport is (see `agent-handlers.ts`, `client-handlers.ts`), so handling a frame costs one map
 * lookup and one call, with no closure made per frame. The frames both roles may send are added here.
 */
import type { Message, MessageOf, MessageType } from "@flotilla/protocol";
import type { CoordinatorContext, CoordinatorParts } from "../context.js";
import { discoverable } from "../fleet.js";
import type { Session } from "./session.js";

/** Handles one frame; a thrown error goes back to the sender as an `error` frame. */
export type FrameHandler = (session: Session, frame: Message) => Promise<void> | void;

/** The frame types a role may send, and their handlers. */
export class HandlerTable {
  private readonly handlers = new Map<MessageType, FrameHandler>();

  /** Handles frames of `type` with `handler`. */
  on<T extends MessageType>(
    type: T,
    handler: (session: Session, frame: MessageOf<T>) => Promise<void> | void,
  ): this {
    this.handlers.set(type, handler as FrameHandler);
    return this;
  }

  /** The handler of `type`, or undefined when this role may not send it. */
  get(type: MessageType): FrameHandler | undefined {
    return this.handlers.get(type);
  }
}

/** Adds the frames agents and clients may both send: broadcasts, direct messages, topics, discovery. */
export function addSharedHandlers(
  table: HandlerTable,
  ctx: CoordinatorContext,
  parts: Pick<CoordinatorParts, "clientOps">,
): HandlerTable {
  const ops = parts.clientOps;
  return table
    .on("broadcast", async (session, frame) =>
      ctx.out.reply(session, frame.id, await ops.broadcast(frame.message, frame.data, frame.from)),
    )
    .on("direct", async (session, frame) =>
      ctx.out.reply(session, frame.id, await ops.direct(frame.to, frame.message, frame.data, frame.from)),
    )
    .on("topic.publish", async (session, frame) =>
      ctx.out.reply(
        session,
        frame.id,
        await ops.publishTopic(frame.topic, frame.message, frame.data, frame.from),
      ),
    )
    .on("topic.read", async (session, frame) =>
      ctx.out.reply(session, frame.id, await ops.readTopic(frame.topic, frame.since, frame.limit)),
    )
    .on("inbox.read", async (session, frame) =>
      ctx.out.reply(session, frame.id, await ops.readInbox(session.principal, frame)),
    )
    .on("discovery.query", (session, frame) =>
      ctx.out.send(session, "discovery.response", {
        replyTo: frame.id,
        nodes: discoverable(ctx.nodes.values(), frame.want?.capabilities),
      }),
    );
}
