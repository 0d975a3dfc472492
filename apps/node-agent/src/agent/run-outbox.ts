/**
 * The send side of the agent's session: it encodes frames (message ids, the unchecked fast path and the
 * schema-checked one), batches them per turn on the open socket, and keeps each run's messages in that
 * run's own queue while no welcomed session is open or while the socket holds more than
 * `maxSocketBufferBytes` unsent (backpressure), dropping the oldest output beyond
 * `maxBufferedOutputBytes` per run. It also remembers which task the latest run messages were about, so
 * an `error` that names only a message id finds its run. The connection attaches and detaches sockets;
 * the wiring says when a session is welcomed.
 */
import {
  createMessage,
  encode,
  encodeFields,
  FrameOutbox,
  type MessageFields,
  type MessageType,
} from "@flotilla/protocol";
import type WebSocket from "ws";
import type { Settings } from "./options.js";

/** A message encoded for the wire, with what the agent needs to know about it afterwards. */
export interface Frame {
  text: string;
  /** Its message id: an `error` that answers it names it in `replyTo`. */
  id: string;
  /** Characters of output it carries (`task.output`; 0 for every other type), for the buffer limit. */
  outputChars: number;
}

/** What the outbox needs of a run: its queue of messages not sent yet, and whether it may send at all. */
export interface QueuedRun {
  readonly taskId: string;
  /** The process (or handler) is still going: the run is kept in its table after its queue empties. */
  active: boolean;
  /** Nothing more may be sent for this run (lease gone, or handed back while draining). */
  silent: boolean;
  /** Messages produced while no welcomed session was open (or the socket was full), in order. */
  outbox: Frame[];
  outboxOutputBytes: number;
  droppedOutputBytes: number;
}

/** Recent message ids of run messages, to find the run an `error` answers when it lacks details. */
const SENT_INDEX_LIMIT = 4096;

/**
 * A turn's frames are written early once they reach this many characters: the socket's own backlog
 * (`bufferedAmount`) then tells what the peer has not taken yet, as with one write per frame.
 */
const OUTBOX_WRITE_CHARS = 64 * 1024;

/** Room left in a message id (1..128 characters) for the counter after the node id. */
const MESSAGE_ID_PREFIX_CHARS = 112;

/** Frames out to the coordinator, with per-run queues for when they cannot go now. */
export class RunOutbox {
  /** A welcomed session is open: run messages may go straight to the socket. */
  welcomed = false;
  private ws: WebSocket | undefined;
  /** The frames of this turn for `ws`, written together when the turn ends (one per socket). */
  private turn: FrameOutbox | undefined;
  /** Characters queued in `turn` and not yet written: the socket's backlog includes them. */
  private turnChars = 0;
  /** Message ids: the node id and a counter, unique within this agent's life (ids only pair replies). */
  private readonly messageIdPrefix: string;
  private messageCount = 0;
  // A ring of the latest run messages sent (id, task): one slot overwritten per send, searched only when
  // an error names a message without its task.
  private readonly sentIds: (string | undefined)[] = new Array(SENT_INDEX_LIMIT);
  private readonly sentTasks: (string | undefined)[] = new Array(SENT_INDEX_LIMIT);
  private sentNext = 0;

  constructor(private readonly settings: Settings) {
    this.messageIdPrefix = `${settings.id.slice(0, MESSAGE_ID_PREFIX_CHARS)}-`;
  }

  /** A new socket: frames go to it from now on (before the welcome only the hello is sent). */
  attach(socket: WebSocket): void {
    this.ws = socket;
    this.turn = new FrameOutbox(socket);
  }

  /** The socket closed: what this turn queued for it is dropped, and the session is no longer welcomed. */
  detach(): void {
    this.turn?.clear();
    this.welcomed = false;
  }

  /** Writes what this turn queued now (before a close frame). */
  flushTurn(): void {
    this.turn?.flush();
  }

  private nextMessageId(): string {
    this.messageCount += 1;
    return this.messageIdPrefix + this.messageCount.toString(36);
  }

  /**
   * Encodes a frame the agent builds from known-good fields, without a schema check (the coordinator
   * checks what it receives). The hot frames go this way: task.accept, output, progress, finish, reject,
   * heartbeat, steal.request.
   */
  frame<T extends MessageType>(type: T, fields: MessageFields<T>, outputChars = 0): Frame {
    const messageId = this.nextMessageId();
    return {
      text: encodeFields(type, fields, { from: this.settings.id, id: messageId, now: this.settings.clock }),
      id: messageId,
      outputChars,
    };
  }

  /** Builds and checks a frame against the schema (throws E_SCHEMA): for rare frames, and doubtful fields. */
  checkedFrame<T extends MessageType>(type: T, fields: MessageFields<T>): Frame {
    const messageId = this.nextMessageId();
    const message = createMessage(type, fields, {
      from: this.settings.id,
      id: messageId,
      now: this.settings.clock,
    });
    return { text: encode(message), id: messageId, outputChars: 0 };
  }

  /** Queues a frame for the socket (written at the end of this turn); false when no socket is open. */
  sendNow(text: string): boolean {
    const turn = this.turn;
    if (turn === undefined) return false;
    if (turn.pending === 0) this.turnChars = 0;
    if (!turn.push(text)) return false;
    this.turnChars += text.length;
    if (this.turnChars >= OUTBOX_WRITE_CHARS) {
      turn.flush();
      this.turnChars = 0;
    }
    return true;
  }

  /**
   * Sends a message about a run now, or keeps it for the next welcome when no session is open; true when
   * it went into the socket's outbox now.
   */
  sendForRun(run: QueuedRun, message: Frame): boolean {
    if (run.silent) return false;
    // Behind earlier queued messages of the run, or behind a full socket, it queues too: order is kept.
    if (this.welcomed && run.outbox.length === 0 && this.socketHasRoom() && this.sendNow(message.text)) {
      this.rememberSent(message.id, run.taskId);
      return true;
    }
    run.outbox.push(message);
    if (message.outputChars === 0) return false;
    run.outboxOutputBytes += message.outputChars;
    const limit = this.settings.maxBufferedOutputBytes;
    while (run.outboxOutputBytes > limit) {
      const index = run.outbox.findIndex((m) => m.outputChars > 0);
      const [dropped] = index < 0 ? [] : run.outbox.splice(index, 1);
      if (dropped === undefined) break;
      run.outboxOutputBytes -= dropped.outputChars;
      if (run.droppedOutputBytes === 0) {
        this.settings.logger.warn(
          { taskId: run.taskId, limitBytes: limit },
          "output buffer full (disconnected or slow link): dropping the oldest output",
        );
      }
      run.droppedOutputBytes += dropped.outputChars;
    }
    return false;
  }

  /**
   * False while the socket holds more unsent bytes than allowed (counting this turn's queued frames): the
   * link is slower than the output.
   */
  socketHasRoom(): boolean {
    if (this.ws === undefined) return false;
    const queued = this.turn !== undefined && this.turn.pending > 0 ? this.turnChars : 0;
    return this.ws.bufferedAmount + queued < this.settings.maxSocketBufferBytes;
  }

  /**
   * Sends queued run messages while the socket has room (all of them when `force`), and forgets runs
   * that are over once their last message is out.
   */
  flush(runs: Map<string, QueuedRun>, force = false): void {
    if (!this.welcomed) return;
    for (const run of [...runs.values()]) {
      while (run.outbox.length > 0 && (force || this.socketHasRoom())) {
        const queued = run.outbox[0] as Frame;
        if (!this.sendNow(queued.text)) return;
        run.outbox.shift();
        run.outboxOutputBytes -= queued.outputChars;
        this.rememberSent(queued.id, run.taskId);
      }
      if (!run.active && run.outbox.length === 0) runs.delete(run.taskId);
    }
  }

  /** The task a recent run message was about, by its message id. */
  taskOfMessage(messageId: string): string | undefined {
    return this.sentTasks[this.sentIds.indexOf(messageId)];
  }

  private rememberSent(messageId: string, taskId: string): void {
    this.sentIds[this.sentNext] = messageId;
    this.sentTasks[this.sentNext] = taskId;
    this.sentNext = (this.sentNext + 1) % SENT_INDEX_LIMIT;
  }
}
