import {
  envelopeTimestamp,
  type FlotillaError,
  type MessageFields,
  type MessageType,
} from "@flotilla/protocol";

/**
 * Writes the coordinator's outgoing frames as JSON text. The hot frames (events, assignments, outcomes)
 * are put together from JSON that is already at hand (an event as a Lua script wrote it, a spec as it
 * was stored) instead of being parsed and serialised again.
 */
export class FrameWriter {
  private counter = 0;

  constructor(private readonly clock: () => number) {}

  /**
   * The start of a frame, up to and without the closing brace of its envelope:
   * `{"v":1,"type":…,"id":…,"timestamp":…,"from":"coordinator"`, for the frame's own fields to follow.
   */
  envelope(type: MessageType, now = this.clock()): string {
    this.counter += 1;
    return `{"v":1,"type":"${type}","id":"c${this.counter.toString(36)}","timestamp":"${envelopeTimestamp(now)}","from":"coordinator"`;
  }

  /** Any frame, from its fields. */
  frame<T extends MessageType>(type: T, fields: MessageFields<T>): string {
    const body = JSON.stringify(fields);
    return body === "{}" ? `${this.envelope(type)}}` : `${this.envelope(type)},${body.slice(1)}`;
  }

  /** A stored event (JSON from a Lua script) as a `task.event` frame, without re-encoding it. */
  event(eventJson: string): string {
    return `${this.envelope("task.event")},${eventJson.slice(1)}`;
  }

  /** A `task.assign` frame; the spec goes out exactly as stored. */
  assign(
    taskId: string,
    epoch: number,
    attempt: number,
    specJson: string,
    now: number,
    seqFrom = 0,
    secretsError?: string,
  ): string {
    let tail = seqFrom > 0 ? `,"seqFrom":${seqFrom}` : "";
    if (secretsError !== undefined) tail += `,"secretsError":${JSON.stringify(secretsError)}`;
    return `${this.envelope("task.assign", now)},"taskId":${JSON.stringify(taskId)},"epoch":${epoch},"attempt":${attempt},"spec":${specJson}${tail}}`;
  }

  /** The `task.accepted` answer to a submit (`waiting` when its `task.done` will follow). */
  accepted(replyTo: string, taskId: string, duplicate: boolean, state: string, waiting: boolean): string {
    const tail = waiting ? ',"waiting":true}' : "}";
    return `${this.envelope("task.accepted")},"replyTo":${JSON.stringify(replyTo)},"taskId":${JSON.stringify(taskId)},"duplicate":${duplicate},"state":${JSON.stringify(state)}${tail}`;
  }

  /** A `task.done` frame with the task's public record. */
  done(taskId: string, record: unknown): string {
    return `${this.envelope("task.done")},"taskId":${JSON.stringify(taskId)},"record":${JSON.stringify(record)}}`;
  }

  /** An `error` frame, answering `replyTo` when the failed frame had an id. */
  error(error: FlotillaError, replyTo: string | undefined): string {
    const wire = error.toJSON();
    const fields: MessageFields<"error"> = {
      code: wire.code,
      message: wire.message,
      retryable: wire.retryable,
    };
    if (replyTo !== undefined) fields.replyTo = replyTo;
    if (wire.details !== undefined) fields.details = wire.details;
    return this.frame("error", fields);
  }
}
