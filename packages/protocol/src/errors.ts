/**
 * Error codes shared by every Flotilla package and carried on the wire. A code is stable forever: bridges
 * in other languages switch on it. Add new codes at the end; never change a code's meaning.
 */
export const ERROR_CODES = {
  /** A frame or record is larger than the configured limit. */
  E_TOO_LARGE: { wire: 1001, retryable: false },
  /** A frame is not valid JSON. */
  E_BAD_JSON: { wire: 1002, retryable: false },
  /** A frame is JSON but does not match the schema of its type. */
  E_SCHEMA: { wire: 1003, retryable: false },
  /** A frame names a message type this side does not know. */
  E_UNKNOWN_TYPE: { wire: 1004, retryable: false },
  /** A frame speaks a protocol version this side does not support. */
  E_VERSION: { wire: 1005, retryable: false },
  /** Input is well-formed but its values are not acceptable (absurd timeout, NUL byte in a command, …). */
  E_INVALID_ARGUMENT: { wire: 1006, retryable: false },
  /** The caller is not authenticated, or speaks for an identity it does not own. */
  E_UNAUTHORIZED: { wire: 1101, retryable: false },
  /** The named task, node or entry does not exist. */
  E_NOT_FOUND: { wire: 1201, retryable: false },
  /** The request conflicts with the current state (task already finished, node already draining, …). */
  E_CONFLICT: { wire: 1202, retryable: false },
  /** A lease epoch is older than the one Redis holds: the sender lost the lease and must stop. */
  E_STALE_EPOCH: { wire: 1203, retryable: false },
  /** No healthy node can run the task (within its maxWait). */
  E_NODE_UNAVAILABLE: { wire: 1301, retryable: true },
  /** Admission control refused the task: its deadline cannot be met. */
  E_ADMISSION: { wire: 1302, retryable: false },
  /** The target node or coordinator is draining and takes no new work. */
  E_DRAINING: { wire: 1303, retryable: true },
  /** A queue is full. */
  E_QUEUE_FULL: { wire: 1304, retryable: true },
  /** The task ran longer than its timeout. */
  E_TIMEOUT: { wire: 1401, retryable: false },
  /** The task was cancelled. */
  E_CANCELLED: { wire: 1402, retryable: false },
  /** The process could not be started on the node. */
  E_SPAWN: { wire: 1403, retryable: true },
  /** The task's handler (`call` task) threw or is missing on the node. */
  E_HANDLER: { wire: 1404, retryable: false },
  /** Redis cannot be reached. */
  E_REDIS_UNAVAILABLE: { wire: 1501, retryable: true },
  /** The coordinator cannot be reached. */
  E_COORDINATOR_UNAVAILABLE: { wire: 1502, retryable: true },
  /** A command-line verb or an option that does not exist. */
  E_UNKNOWN_COMMAND: { wire: 1601, retryable: false },
  /** Configuration is missing or invalid. */
  E_CONFIG: { wire: 1602, retryable: false },
  /** A bug: something that should not happen did. */
  E_INTERNAL: { wire: 1999, retryable: false },
  /**
   * This coordinator's fencing token is not the fleet's current one: another coordinator took the
   * leadership lease, and Redis refuses this one's writes. Another coordinator is (or will be) active.
   */
  E_NOT_LEADER: { wire: 1503, retryable: true },
  /**
   * The connection or its token sent more than a limit allows (frames or submits per second, open
   * connections, watches): slow down and retry later.
   */
  E_RATE_LIMITED: { wire: 1305, retryable: true },
  /** The caller is who it says, but its token's scope does not allow this operation (or this task). */
  E_FORBIDDEN: { wire: 1102, retryable: false },
  /**
   * A project task's state rules refuse the change: status moved backwards (other than to `not started`),
   * `done` without `completedDetails`, a change to an approved task, approval of a task not done, a claim
   * held by another agent. `details.rule` names the rule.
   */
  E_TASK_STATE: { wire: 1204, retryable: false },
  /** A project cannot be finalized (a task not done or not approved) or was finalized already. */
  E_PROJECT_STATE: { wire: 1205, retryable: false },
  /** Project task dependencies (`after`) would form a cycle, or name a task that does not exist. */
  E_DEPENDENCY: { wire: 1206, retryable: false },
} as const satisfies Record<string, { wire: number; retryable: boolean }>;

/** A stable error code, e.g. `"E_SCHEMA"`. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Whether `value` is one of the known error codes. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERROR_CODES, value);
}

const BRAND = Symbol.for("flotilla.error");

/** Options for {@link FlotillaError}. */
export interface FlotillaErrorOptions {
  /** Overrides the code's default retryability. */
  retryable?: boolean;
  /** Machine-readable context: the failing path, the node reasons, the limit that was hit. */
  details?: Record<string, unknown>;
  cause?: unknown;
}

/**
 * The one error class of Flotilla. `code` is stable and travels on the wire; `message` is for people and
 * says what went wrong and what to do.
 */
export class FlotillaError extends Error {
  override readonly name = "FlotillaError";
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: FlotillaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
    this.details = options.details;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** The wire form: what an `error` message carries. */
  toJSON(): { code: ErrorCode; message: string; retryable: boolean; details?: Record<string, unknown> } {
    return this.details === undefined
      ? { code: this.code, message: this.message, retryable: this.retryable }
      : { code: this.code, message: this.message, retryable: this.retryable, details: this.details };
  }
}

/** True for a {@link FlotillaError}, also one created by another copy of this package. */
export function isFlotillaError(value: unknown): value is FlotillaError {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/**
 * Normalises anything thrown at a boundary into a {@link FlotillaError}; unknown throwables become
 * `E_INTERNAL` with the original as `cause`.
 */
export function toFlotillaError(value: unknown): FlotillaError {
  if (isFlotillaError(value)) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new FlotillaError("E_INTERNAL", message, { cause: value });
}

/** Rebuilds an error received on the wire; an unknown code becomes `E_INTERNAL`. */
export function errorFromWire(wire: {
  code: string;
  message: string;
  retryable?: boolean;
  details?: Record<string, unknown>;
}): FlotillaError {
  const code = isErrorCode(wire.code) ? wire.code : "E_INTERNAL";
  const options: FlotillaErrorOptions = {};
  if (wire.retryable !== undefined) options.retryable = wire.retryable;
  if (wire.details !== undefined) options.details = wire.details;
  return new FlotillaError(code, wire.message, options);
}
