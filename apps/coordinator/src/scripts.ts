import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { FlotillaError } from "@flotilla/protocol";
import { Command } from "ioredis";
import type { RedisClient } from "./redis-connection.js";
import { encodeCommand, type RespArgument } from "./resp.js";

/** The Lua scripts of the store, one file each in `lua/`, named `<op>-<numberOfKeys>.lua`. */
export const SCRIPT_NAMES = [
  "submit-7",
  "lease-2",
  "transition-4",
  "output-2",
  "steal-2",
  "forget-3",
  "project-create-10",
  "project-add-10",
  "project-update-10",
  "project-approve-10",
  "project-finalize-10",
  "project-delete-10",
  "project-claim-10",
  "project-expire-10",
  "project-run-10",
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

interface LoadedScript {
  readonly source: string;
  readonly numberOfKeys: number;
}

/** The project scripts' shared keys, arguments and helpers, put in front of each (see the file's header). */
const PROJECT_LIB = "project-lib";
/** The scripts built into the one-file bundle (tsup.config.ts defines it there); undefined elsewhere. */
declare const __FLOTILLA_LUA__: Record<string, string> | undefined;

function loadScripts(): Record<ScriptName, LoadedScript> {
  const scripts = {} as Record<ScriptName, LoadedScript>;
  const embedded = typeof __FLOTILLA_LUA__ === "undefined" ? undefined : __FLOTILLA_LUA__;
  const read = (name: string): string =>
    embedded?.[name] ?? readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), "utf8");
  const lib = read(PROJECT_LIB);
  for (const name of SCRIPT_NAMES) {
    const source = name.startsWith("project-") ? `${lib}\n${read(name)}` : read(name);
    const numberOfKeys = Number(name.slice(name.lastIndexOf("-") + 1));
    scripts[name] = { source, numberOfKeys };
  }
  return scripts;
}

/**
 * Scripts whose effect is the same however often one call runs (each says why in its header): a batch of
 * only these needs no reply cache. Every other script's reply is kept under the batch's request id.
 */
const REPEATABLE: ReadonlySet<ScriptName> = new Set<ScriptName>(["submit-7", "steal-2"]);

/**
 * How long a batch's reply is kept for a resend of it: ioredis resends a command that was written but not
 * answered when the connection dropped, once it has reconnected (its retry delay is at most 2 s), so this
 * only has to outlast a reconnect, with room for a Redis that is slow to come back.
 */
export const REPLY_TTL_MS = 120_000;

/** What a script call takes: text, or numbers, which go to Redis in decimal. */
type ScriptArgument = RespArgument;

/** A batch holds at most this many calls, so one script never keeps Redis busy for long. */
const MAX_BATCH = 256;
/**
 * A batch this size goes at once, not at the end of the turn: Redis runs it while the rest of a long turn
 * is worked out (see `EAGER_FLUSH_FRAMES` in `@flotilla/protocol`, whose figures are for the two).
 */
export const EAGER_BATCH = 64;

/**
 * One script that runs any sequence of the store's scripts in order: each body becomes a function of its
 * own KEYS and ARGV, and the loop slices the batch's keys and arguments for each call. Every call runs
 * under `pcall`, so one call's error is its own (as when each was a script of its own) and the calls
 * after it still run.
 *
 * The prelude makes a batch safe to run twice and refuses a deposed coordinator, with one `MGET` for
 * both: when the batch carries a request id whose reply is stored (this very batch ran before, and its
 * reply was lost with the connection), that reply is returned and nothing runs again; otherwise, when the
 * caller holds a fencing token, it must equal the fleet's current one (else the whole batch fails with a
 * `FENCED` error and changes nothing). A batch that ran stores its reply for {@link REPLY_TTL_MS}, and
 * deletes the replies of earlier batches whose answer the caller has had (which ioredis will never send
 * again), so Redis holds only the replies of batches in flight or lost with a connection.
 *
 * KEYS[1]: the fleet's fencing token key; KEYS[2]: the reply key of this batch's request id;
 * KEYS[3..m+2]: reply keys of answered batches, to delete; then the keys of every call, in order.
 * ARGV[1]: the number of calls n; ARGV[2]: the caller's fencing token ("" = not fenced); ARGV[3]: how long
 * to keep the reply in ms ("0" = not kept: every call is repeatable); ARGV[4]: m; ARGV[5..3n+4]: for each
 * call the script's index, its number of keys and its number of arguments; then the arguments of every
 * call. Returns a flat list with two entries per call: 1 and its reply, or 0 and
 * its error message.
 */
function batchSource(scripts: Record<ScriptName, LoadedScript>): string {
  const bodies = SCRIPT_NAMES.map(
    (name, index) => `calls[${index + 1}] = function(KEYS, ARGV)\n${scripts[name].source}\nend`,
  );
  return `local token, keep = ARGV[2], ARGV[3]
if token ~= "" or keep ~= "0" then
  local held = redis.call("MGET", KEYS[1], KEYS[2])
  -- A batch that ran answers as it did, even when its coordinator has been deposed since: it did run.
  if keep ~= "0" and held[2] then return cmsgpack.unpack(held[2]) end
  if token ~= "" and held[1] ~= token then
    return redis.error_reply("FENCED fencing token " .. token .. " is not the current one (" ..
      tostring(held[1]) .. ")")
  end
end
local answered = tonumber(ARGV[4])
if answered > 0 then redis.call("DEL", unpack(KEYS, 3, 2 + answered)) end
local calls = {}
${bodies.join("\n")}
local n = tonumber(ARGV[1])
local out = {}
local key, arg = 2 + answered, 4 + 3 * n
for i = 1, n do
  local which, nk, na = tonumber(ARGV[3 * i + 2]), tonumber(ARGV[3 * i + 3]), tonumber(ARGV[3 * i + 4])
  -- A table built from unpack is allocated at its size at once (a loop would grow it step by step);
  -- unpack is bounded by Lua's C stack, so very long argument lists are copied in a loop.
  local keys = {unpack(KEYS, key + 1, key + nk)}
  local args
  if na <= 4000 then
    args = {unpack(ARGV, arg + 1, arg + na)}
  else
    args = {}
    for j = 1, na do args[j] = ARGV[arg + j] end
  end
  key = key + nk
  arg = arg + na
  local ok, reply = pcall(calls[which], keys, args)
  -- One flat list (a table per call would cost Redis a conversion each); false stands for a nil reply,
  -- which would end the list.
  if ok then
    out[2 * i - 1] = 1
    if reply == nil then reply = false end
    out[2 * i] = reply
  else
    out[2 * i - 1] = 0
    out[2 * i] = type(reply) == "table" and reply.err or tostring(reply)
  end
end
-- MessagePack, not JSON: strings are copied as they are (cjson escapes them byte by byte), and numbers
-- keep every digit.
if keep ~= "0" then redis.call("SET", KEYS[2], cmsgpack.pack(out), "PX", keep) end
return out
`;
}

/**
 * An EVALSHA or EVAL of the batch script. Its arguments stay in the lists they were gathered in (keys,
 * header, arguments), and {@link encodeCommand} writes them into one Buffer when ioredis sends it: no
 * flattened copy of a few thousand arguments, no strings for the numbers, no concatenated RESP string.
 */
class BatchCommand extends Command {
  constructor(
    name: "evalsha" | "eval",
    private readonly lists: readonly (readonly RespArgument[])[],
    private readonly slotKey: string,
  ) {
    super(name, [], { replyEncoding: "utf8" });
  }

  /**
   * The key a Redis Cluster client routes the batch by: the fencing token key. Every key of a fleet on a
   * cluster carries the fleet's hash tag, so the whole batch belongs to that key's slot.
   */
  override getKeys(): string[] {
    return [this.slotKey];
  }

  override toWritable(): Buffer {
    return encodeCommand(this.name, this.lists);
  }
}

interface PendingCall {
  readonly index: number;
  readonly repeatable: boolean;
  readonly keys: readonly string[];
  readonly args: readonly ScriptArgument[];
  readonly resolve: (reply: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly onWritten: ((batchSize: number) => void) | undefined;
}

/** A Redis error reply for one call of a batch. */
export class ScriptError extends Error {
  override readonly name = "ReplyError";
}

/** Where a {@link ScriptRunner} keeps what makes a batch safe to run twice and fences it. */
export interface ScriptSafetyOptions {
  /** The fleet's fencing token key (see `leadership.ts`). */
  fenceKey: string;
  /** The reply key of a request id. */
  replyKey: (requestId: string) => string;
  /** A new request id per batch; by default a random prefix of this process and a counter. */
  requestId?: () => string;
  /** How long a batch's reply is kept, in ms (default {@link REPLY_TTL_MS}). */
  replyTtlMs?: number;
  /**
   * After each batch, `WAIT` until this many replicas hold its writes before any of its calls is answered
   * (default 0: answered once the primary ran it). A batch that fewer replicas confirm within
   * {@link waitTimeoutMs} fails with `E_REDIS_UNAVAILABLE`, its effect being on the primary only.
   */
  waitReplicas?: number;
  /** How long that `WAIT` may take, in ms (default {@link WAIT_TIMEOUT_MS}). */
  waitTimeoutMs?: number;
}

/** How long a batch waits for its replicas by default (`--redis-wait-replicas`). */
export const WAIT_TIMEOUT_MS = 2000;

/** Request ids of this process: a random prefix (unique across processes and restarts) and a counter. */
function requestIds(): () => string {
  const prefix = randomBytes(6).toString("base64url");
  let next = 0;
  return () => {
    next += 1;
    return `${prefix}:${next.toString(36)}`;
  };
}

/**
 * Runs the store's Lua scripts. The calls made during one turn of the event loop go to Redis together
 * (each {@link EAGER_BATCH} at once in a long turn), in the order they were made, as one call of a batch
 * script: one command and one round trip for all, each call still one atomic step. The batch script is
 * loaded again when Redis has forgotten it (after a restart or `SCRIPT FLUSH`).
 *
 * Each batch carries a request id and, once {@link setFencingToken} gave one, the coordinator's fencing
 * token: a batch that ioredis sends again after a reconnect returns the reply of its first run instead
 * of running twice, and a batch of a coordinator that lost its leadership fails with `E_NOT_LEADER`.
 */
export class ScriptRunner {
  private readonly scripts = loadScripts();
  private readonly batch: { source: string; sha: string };
  private queue: PendingCall[] = [];
  private scheduled = false;
  /** Inside {@link together}: calls gather for one batch, whatever its size. */
  private holding = false;
  private fencingToken = "";
  /** Reply keys of batches whose answer came: the next batch deletes them. */
  private answered: string[] = [];
  private readonly fenceKey: string;
  private readonly replyKey: (requestId: string) => string;
  private readonly nextRequestId: () => string;
  private readonly replyTtl: number;
  private readonly waitReplicas: number;
  private readonly waitTimeoutMs: number;

  constructor(
    private readonly redis: RedisClient,
    safety: ScriptSafetyOptions = { fenceKey: "coordinator:fence", replyKey: (id) => `reply:${id}` },
  ) {
    const source = batchSource(this.scripts);
    this.batch = { source, sha: createHash("sha1").update(source).digest("hex") };
    this.fenceKey = safety.fenceKey;
    this.replyKey = safety.replyKey;
    this.nextRequestId = safety.requestId ?? requestIds();
    this.replyTtl = safety.replyTtlMs ?? REPLY_TTL_MS;
    this.waitReplicas = safety.waitReplicas ?? 0;
    this.waitTimeoutMs = safety.waitTimeoutMs ?? WAIT_TIMEOUT_MS;
  }

  /**
   * The fencing token every later batch carries (see `leadership.ts`); Redis refuses the batch when it is
   * not the fleet's current one. `""` (the default) sends none: no check.
   */
  setFencingToken(token: string): void {
    this.fencingToken = token;
  }

  /** Loads the batch script into Redis so the first calls need no fallback. */
  async preload(): Promise<void> {
    await this.redis.script("LOAD", this.batch.source);
  }

  /**
   * Runs one script call in this turn's batch. `onWritten` is called, with the number of calls in the
   * batch, once the batch has been written to the connection (not when Redis is not ready and ioredis
   * only queues it): whatever the caller sends elsewhere from there on leaves after the call's bytes,
   * which Redis runs before any later command.
   */
  run(
    name: ScriptName,
    keys: readonly string[],
    args: readonly ScriptArgument[],
    onWritten?: (batchSize: number) => void,
  ): Promise<unknown> {
    const script = this.scripts[name];
    if (keys.length !== script.numberOfKeys) {
      return Promise.reject(
        new Error(`script ${name} takes ${script.numberOfKeys} keys, got ${keys.length}`),
      );
    }
    return new Promise((resolve, reject) => {
      this.queue.push({
        index: SCRIPT_NAMES.indexOf(name) + 1,
        repeatable: REPEATABLE.has(name),
        keys,
        args,
        resolve,
        reject,
        onWritten,
      });
      if (this.queue.length >= EAGER_BATCH && !this.holding) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        // Cleared here, not by an early flush: this turn's end-of-turn send stays the one scheduled.
        setImmediate(() => {
          this.scheduled = false;
          this.flush();
        });
      }
    });
  }

  /**
   * Runs `work`, and sends every script call it (and anything else this turn before it) made as one batch:
   * one command and one round trip, however many calls (`task.submitMany`, bounded by its
   * `MAX_SUBMIT_BATCH`), instead of {@link EAGER_BATCH} at a time.
   */
  together<T>(work: () => T): T {
    this.holding = true;
    try {
      return work();
    } finally {
      this.holding = false;
      const queue = this.queue;
      this.queue = [];
      if (queue.length > 0) void this.send(queue);
    }
  }

  private flush(): void {
    const queue = this.queue;
    this.queue = [];
    for (let start = 0; start < queue.length; start += MAX_BATCH) {
      void this.send(queue.slice(start, start + MAX_BATCH));
    }
  }

  /**
   * Waits for the replicas to hold every write this connection has made (the batch just answered among
   * them): `WAIT` counts the replicas that acknowledged them.
   */
  private async replicated(): Promise<void> {
    const acknowledged = await this.redis.wait(this.waitReplicas, this.waitTimeoutMs);
    if (acknowledged < this.waitReplicas) {
      throw new FlotillaError(
        "E_REDIS_UNAVAILABLE",
        `only ${acknowledged} of the ${this.waitReplicas} Redis replicas asked for confirmed the write within ${this.waitTimeoutMs} ms`,
      );
    }
  }

  private async send(calls: readonly PendingCall[]): Promise<void> {
    // The command is: script, key count, every call's keys, the header, every call's arguments. Each
    // call's own lists go in as they are, so nothing is copied into one long array first.
    let repeatable = true;
    for (const call of calls) repeatable &&= call.repeatable;
    const replyKey = this.replyKey(this.nextRequestId());
    const answered = this.answered.splice(0, MAX_BATCH);
    const header: RespArgument[] = [calls.length, this.fencingToken, repeatable ? 0 : this.replyTtl];
    header.push(answered.length);
    const lists: (readonly RespArgument[])[] = [[], [this.fenceKey, replyKey], answered];
    let keyCount = 2 + answered.length;
    for (const call of calls) {
      header.push(call.index, call.keys.length, call.args.length);
      lists.push(call.keys);
      keyCount += call.keys.length;
    }
    lists.push(header);
    for (const call of calls) lists.push(call.args);
    let replies: unknown;
    try {
      try {
        lists[0] = [this.batch.sha, keyCount];
        // ioredis writes the command at once when the connection is ready, and queues it otherwise.
        const written = this.redis.status === "ready";
        const reply = this.redis.sendCommand(new BatchCommand("evalsha", lists, this.fenceKey));
        if (written) for (const call of calls) call.onWritten?.(calls.length);
        replies = await reply;
      } catch (error) {
        if (!(error instanceof Error && error.message.startsWith("NOSCRIPT"))) throw error;
        const withSource = lists.slice();
        withSource[0] = [this.batch.source, keyCount];
        replies = await this.redis.sendCommand(new BatchCommand("eval", withSource, this.fenceKey));
      }
      if (this.waitReplicas > 0) await this.replicated();
    } catch (error) {
      const failure = batchFailure(error);
      for (const call of calls) call.reject(failure);
      return;
    }
    // Answered: never sent again, so its reply need not be kept (the next batch deletes it).
    if (!repeatable) this.answered.push(replyKey);
    const list = replies as unknown[];
    calls.forEach((call, i) => {
      const ok = list[2 * i];
      const reply = 2 * i + 1 < list.length ? list[2 * i + 1] : "no reply for this call";
      if (ok === 1) call.resolve(reply ?? null);
      else call.reject(new ScriptError(String(reply)));
    });
  }
}

/** What every call of a failed batch is rejected with: a refused fencing token is a lost leadership. */
function batchFailure(error: unknown): Error {
  if (error instanceof Error && error.message.startsWith("FENCED")) {
    return new FlotillaError(
      "E_NOT_LEADER",
      `this coordinator is no longer the active one: ${error.message.slice("FENCED ".length)}`,
      { cause: error },
    );
  }
  return error instanceof Error ? error : new Error(String(error));
}
