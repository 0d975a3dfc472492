/**
 * The spawn helper's wire, shared by the agent side (`helper-connection.ts`) and the Node.js helper
 * (`helper-process.ts`), and spoken the same way by the native helper (`native/spawn-helper.c`, which
 * keeps its own copy of these numbers): frames of [u32 LE length of the rest][u8 op][u32 LE id][payload],
 * both ways. Strings are UTF-8, each ended by a NUL. This module holds the op numbers and the encoders;
 * it imports nothing, so the helper program built from it stays small.
 */

/* Agent -> helper ops (the id is the process's, or the environment's for TO_ENV and TO_DROP_ENV): */
/**
 * [u8 flags: 1 kill the group on exit, 2 a cwd follows][u32 env id, 0 for none][u32 argc][u32 envc], then
 * the file, the cwd, argc arguments and envc variables: "KEY=value" sets one over the base environment,
 * "KEY" alone removes it.
 */
export const TO_SPAWN = 1;
/** u32 signal number. */
export const TO_SIGNAL = 2;
export const TO_CLOSE_PIPES = 3;
/** [u32 count] then that many "KEY=value": a base environment, kept under its id. */
export const TO_ENV = 4;
export const TO_DROP_ENV = 5;

/* Helper -> agent ops: */
/** {@link HELPER_HELLO}, once, before anything else. */
export const EV_READY = 0;
/** u32 pid. */
export const EV_SPAWN = 1;
/** Bytes. */
export const EV_STDOUT = 2;
/** Bytes. */
export const EV_STDERR = 3;
/** [u32 exit code, {@link NO_EXIT_CODE} for none][u32 signal number, 0 for none]. */
export const EV_EXIT = 4;
/** The process exited and both pipes are closed: nothing more for this id. */
export const EV_CLOSE = 5;
/** [u32 errno, 0 for none] then a message, maybe empty: it could not be started. */
export const EV_ERROR = 6;

/** TO_SPAWN flag: SIGKILL the process group as soon as the main process exits. */
export const SPAWN_KILL_GROUP = 1;
/** TO_SPAWN flag: a cwd follows the file. */
export const SPAWN_HAS_CWD = 2;
/** The exit code field of EV_EXIT when the process was ended by a signal. */
export const NO_EXIT_CODE = 0xffffffff;

/** What a helper says first; a helper that says anything else speaks another protocol. */
export const HELPER_HELLO = "flotilla-spawn-helper 2";
/** Bytes before a frame's payload: length, op, id. */
export const FRAME_HEADER = 9;

/** Writes a frame's header at the start of `frame`, for a payload of `payloadLength` bytes. */
function writeHeader(frame: Buffer, op: number, id: number, payloadLength: number): void {
  frame.writeUInt32LE(FRAME_HEADER - 4 + payloadLength, 0);
  frame[4] = op;
  frame.writeUInt32LE(id, 5);
}

/** A frame's header alone, for a payload of `payloadLength` bytes written after it. */
export function frameHeader(op: number, id: number, payloadLength: number): Buffer {
  const head = Buffer.allocUnsafe(FRAME_HEADER);
  writeHeader(head, op, id, payloadLength);
  return head;
}

/** A whole frame: header and payload in one buffer. */
export function frameOf(op: number, id: number, payload?: Buffer): Buffer {
  const length = payload?.length ?? 0;
  const frame = Buffer.allocUnsafe(FRAME_HEADER + length);
  writeHeader(frame, op, id, length);
  payload?.copy(frame, FRAME_HEADER);
  return frame;
}

/** `values` as consecutive u32 LE numbers. */
export function u32s(...values: number[]): Buffer {
  const bytes = Buffer.allocUnsafe(4 * values.length);
  for (let i = 0; i < values.length; i++) bytes.writeUInt32LE(values[i] as number, 4 * i);
  return bytes;
}

/** NUL-terminated UTF-8 strings after a fixed header of `headerBytes` (filled by the caller). */
export function packStrings(headerBytes: number, strings: readonly string[]): Buffer {
  let length = headerBytes;
  for (const text of strings) length += Buffer.byteLength(text) + 1;
  const bytes = Buffer.allocUnsafe(length);
  let offset = headerBytes;
  for (const text of strings) {
    offset += bytes.write(text, offset);
    bytes[offset++] = 0;
  }
  return bytes;
}

/** Reads `count` NUL-terminated strings from `offset`. */
export function unpackStrings(bytes: Buffer, offset: number, count: number): string[] {
  const out: string[] = [];
  let at = offset;
  for (let i = 0; i < count; i++) {
    const end = bytes.indexOf(0, at);
    out.push(bytes.toString("utf8", at, end));
    at = end + 1;
  }
  return out;
}

/** What a TO_SPAWN frame carries. */
export interface SpawnWire {
  file: string;
  args: readonly string[];
  cwd: string | undefined;
  /** "KEY=value" to set, "KEY" to remove, over the base environment. */
  env: readonly string[];
  /** The base environment's id (sent before with TO_ENV), 0 for none. */
  envId: number;
  killGroupOnExit: boolean;
}

/** A TO_SPAWN payload, or undefined when a string holds a NUL byte (no process could be given it). */
export function encodeSpawn(wire: SpawnWire): Buffer | undefined {
  const strings = [wire.file, ...(wire.cwd === undefined ? [] : [wire.cwd]), ...wire.args, ...wire.env];
  if (strings.some((text) => text.includes("\0"))) return undefined;
  const payload = packStrings(13, strings);
  payload[0] = (wire.killGroupOnExit ? SPAWN_KILL_GROUP : 0) | (wire.cwd === undefined ? 0 : SPAWN_HAS_CWD);
  payload.writeUInt32LE(wire.envId, 1);
  payload.writeUInt32LE(wire.args.length, 5);
  payload.writeUInt32LE(wire.env.length, 9);
  return payload;
}

/** Reads a TO_SPAWN payload back (what {@link encodeSpawn} wrote). */
export function decodeSpawn(payload: Buffer): SpawnWire {
  const flags = payload[0] as number;
  const hasCwd = (flags & SPAWN_HAS_CWD) !== 0;
  const argc = payload.readUInt32LE(5);
  const envc = payload.readUInt32LE(9);
  const [file = "", ...rest] = unpackStrings(payload, 13, 1 + (hasCwd ? 1 : 0) + argc + envc);
  const cwd = hasCwd ? rest.shift() : undefined;
  return {
    file,
    args: rest.slice(0, argc),
    cwd,
    env: rest.slice(argc),
    envId: payload.readUInt32LE(1),
    killGroupOnExit: (flags & SPAWN_KILL_GROUP) !== 0,
  };
}

/** Sets ("KEY=value") or removes ("KEY") each of `vars` in `env`, which it returns. */
export function applyVars(env: Record<string, string>, vars: readonly string[]): Record<string, string> {
  for (const entry of vars) {
    const eq = entry.indexOf("=");
    if (eq < 0) delete env[entry];
    else env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}
