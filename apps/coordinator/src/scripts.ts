import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { Command, type Redis } from "ioredis";
import { encodeCommand, type RespArgument } from "./resp.js";

/** The Lua scripts of the store, one file each in `lua/`, named `<op>-<numberOfKeys>.lua`. */
export const SCRIPT_NAMES = [
  "submit-7",
  "lease-2",
  "transition-4",
  "output-2",
  "steal-2",
  "forget-3",
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

interface LoadedScript {
  readonly source: string;
  readonly numberOfKeys: number;
}

function loadScripts(): Record<ScriptName, LoadedScript> {
  const scripts = {} as Record<ScriptName, LoadedScript>;
  for (const name of SCRIPT_NAMES) {
    const source = readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), "utf8");
    const numberOfKeys = Number(name.slice(name.lastIndexOf("-") + 1));
    scripts[name] = { source, numberOfKeys };
  }
  return scripts;
}

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
 * KEYS: the keys of every call, in order. ARGV[1]: the number of calls n; ARGV[2..3n+1]: for each call
 * the script's index, its number of keys and its number of arguments; then the arguments of every call.
 * Returns a flat list with two entries per call: 1 and its reply, or 0 and its error message.
 */
function batchSource(scripts: Record<ScriptName, LoadedScript>): string {
  const bodies = SCRIPT_NAMES.map(
    (name, index) => `calls[${index + 1}] = function(KEYS, ARGV)\n${scripts[name].source}\nend`,
  );
  return `local calls = {}
${bodies.join("\n")}
local n = tonumber(ARGV[1])
local out = {}
local key, arg = 0, 1 + 3 * n
for i = 1, n do
  local which, nk, na = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1])
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
  ) {
    super(name, [], { replyEncoding: "utf8" });
  }

  override toWritable(): Buffer {
    return encodeCommand(this.name, this.lists);
  }
}

interface PendingCall {
  readonly index: number;
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

/**
 * Runs the store's Lua scripts. The calls made during one turn of the event loop go to Redis together
 * (each {@link EAGER_BATCH} at once in a long turn), in the order they were made, as one call of a batch
 * script: one command and one round trip for all, each call still one atomic step. The batch script is
 * loaded again when Redis has forgotten it (after a restart or `SCRIPT FLUSH`).
 */
export class ScriptRunner {
  private readonly scripts = loadScripts();
  private readonly batch: { source: string; sha: string };
  private queue: PendingCall[] = [];
  private scheduled = false;

  constructor(private readonly redis: Redis) {
    const source = batchSource(this.scripts);
    this.batch = { source, sha: createHash("sha1").update(source).digest("hex") };
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
      this.queue.push({ index: SCRIPT_NAMES.indexOf(name) + 1, keys, args, resolve, reject, onWritten });
      if (this.queue.length >= EAGER_BATCH) this.flush();
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

  private flush(): void {
    const queue = this.queue;
    this.queue = [];
    for (let start = 0; start < queue.length; start += MAX_BATCH) {
      void this.send(queue.slice(start, start + MAX_BATCH));
    }
  }

  private async send(calls: readonly PendingCall[]): Promise<void> {
    // The command is: script, key count, every call's keys, the header, every call's arguments. Each
    // call's own lists go in as they are, so nothing is copied into one long array first.
    const header: number[] = [calls.length];
    const lists: (readonly RespArgument[])[] = [[]];
    let keyCount = 0;
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
        const reply = this.redis.sendCommand(new BatchCommand("evalsha", lists));
        if (written) for (const call of calls) call.onWritten?.(calls.length);
        replies = await reply;
      } catch (error) {
        if (!(error instanceof Error && error.message.startsWith("NOSCRIPT"))) throw error;
        const withSource = lists.slice();
        withSource[0] = [this.batch.source, keyCount];
        replies = await this.redis.sendCommand(new BatchCommand("eval", withSource));
      }
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      for (const call of calls) call.reject(failure);
      return;
    }
    const list = replies as unknown[];
    calls.forEach((call, i) => {
      const ok = list[2 * i];
      const reply = 2 * i + 1 < list.length ? list[2 * i + 1] : "no reply for this call";
      if (ok === 1) call.resolve(reply ?? null);
      else call.reject(new ScriptError(String(reply)));
    });
  }
}
