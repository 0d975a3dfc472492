/**
 * What leaves for agents and clients. `Outgoing` queues frames on a session's outbox (they leave in one
 * socket write at the end of the event-loop turn) and builds the common ones: replies, errors and the
 * fence that tells an agent its lease is gone. It holds no state of its own; every module sends through it.
 */
import { FlotillaError, type MessageFields, type MessageType } from "@flotilla/protocol";
import type { FrameWriter } from "../frames.js";
import type { CoordinatorMetrics } from "../metrics.js";
import type { Session } from "./session.js";

/** Sends frames to sessions. */
export class Outgoing {
  constructor(
    private readonly frames: FrameWriter,
    private readonly metrics: CoordinatorMetrics,
  ) {}

  send<T extends MessageType>(session: Session, type: T, fields: MessageFields<T>): void {
    this.sendRaw(session, this.frames.frame(type, fields));
  }

  /**
   * Queues a frame for the session; all frames queued during one turn of the event loop leave in one
   * socket write (one syscall instead of one per frame, the largest cost on the hot path).
   */
  sendRaw(session: Session, frame: string): void {
    session.outbox.push(frame);
  }

  /** Writes what the session has queued now, before a close or ahead of the turn's end. */
  flush(session: Session): void {
    session.outbox.flush();
  }

  reply(session: Session, replyTo: string, result: unknown): void {
    this.send(session, "reply", { replyTo, result });
  }

  error(session: Session, error: FlotillaError, replyTo: string | undefined): void {
    this.sendRaw(session, this.frames.error(error, replyTo));
  }

  /** Tells an agent its lease on a run is gone: kill it and send nothing more. */
  fence(session: Session, taskId: string, epoch: number): void {
    this.metrics.fenced.inc();
    this.error(
      session,
      new FlotillaError(
        "E_STALE_EPOCH",
        `the lease on ${taskId} (epoch ${epoch}) is no longer valid: stop the run`,
        {
          details: { taskId, epoch },
        },
      ),
      undefined,
    );
  }
}
