import { describe, expect, it } from "vitest";
import { type CallContext, type CallHandler, startCall } from "./call.js";
import type { OutputChunk } from "./output.js";

const base = { taskId: "t1", attempt: 1, batchWindowMs: 5 };

describe("startCall", () => {
  it("returns the handler's value and its log lines as stdout", async () => {
    const chunks: OutputChunk[] = [];
    const progress: Array<[number, string | undefined]> = [];
    const handler: CallHandler = async (payload, ctx) => {
      ctx.log(`hello ${ctx.taskId}#${ctx.attempt}`);
      ctx.progress(150, "half");
      return { echoed: payload };
    };
    const handle = startCall(handler, 42, {
      ...base,
      onOutput: (c) => chunks.push(c),
      onProgress: (p, m) => progress.push([p, m]),
    });
    const result = await handle.done;
    expect(result).toMatchObject({
      outcome: "succeeded",
      exitCode: null,
      signal: null,
      result: { echoed: 42 },
    });
    expect(chunks).toEqual([{ stream: "stdout", seq: 0, data: "hello t1#1\n" }]);
    expect(progress).toEqual([[100, "half"]]);
  });

  it("lets a handler take ctx apart and return a plain value; kill drops output not yet sent", async () => {
    const chunks: OutputChunk[] = [];
    const progress: number[] = [];
    const handler = ((_payload: unknown, { log, progress: report }: CallContext) => {
      log("one");
      report(40);
      return "plain";
    }) as unknown as CallHandler;
    const result = await startCall(handler, null, {
      ...base,
      onOutput: (c) => chunks.push(c),
      onProgress: (p) => progress.push(p),
    }).done;
    expect(result).toMatchObject({ outcome: "succeeded", result: "plain" });
    expect(chunks.map((c) => c.data)).toEqual(["one\n"]);
    expect(progress).toEqual([40]);

    const killed: OutputChunk[] = [];
    const handle = startCall(
      async (_payload, ctx) => {
        ctx.log("never sent");
        await new Promise(() => {});
      },
      null,
      { ...base, batchWindowMs: 1_000, onOutput: (c) => killed.push(c) },
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
    handle.kill();
    expect((await handle.done).outcome).toBe("cancelled");
    expect(killed).toEqual([]);
  });

  it("turns a throw into E_HANDLER", async () => {
    const sync = await startCall(
      () => {
        throw new Error("boom");
      },
      null,
      base,
    ).done;
    expect(sync).toMatchObject({ outcome: "failed", error: { code: "E_HANDLER", message: "boom" } });
    const rejected = await startCall(() => Promise.reject("nope"), null, base).done;
    expect(rejected.error).toEqual({ code: "E_HANDLER", message: "nope" });
  });

  it("aborts the signal on timeout and on cancel", async () => {
    let seen: AbortSignal | undefined;
    const forever: CallHandler = (_payload, ctx) => {
      seen = ctx.signal;
      return new Promise(() => {});
    };
    const timedOut = await startCall(forever, null, { ...base, timeoutMs: 30 }).done;
    expect(timedOut.outcome).toBe("timed_out");
    expect(seen?.aborted).toBe(true);

    const handle = startCall(forever, null, base);
    setTimeout(() => handle.cancel(), 10);
    expect((await handle.done).outcome).toBe("cancelled");
    expect(seen?.aborted).toBe(true);
  });

  it("gives an aborted signal to a handler that first looks after the stop", async () => {
    let release!: () => void;
    const stopped = new Promise<void>((resolve) => {
      release = resolve;
    });
    let looked!: (signal: AbortSignal) => void;
    const seen = new Promise<AbortSignal>((resolve) => {
      looked = resolve;
    });
    const slow: CallHandler = async (_payload, ctx) => {
      await stopped;
      looked(ctx.signal);
    };
    const result = await startCall(slow, null, { ...base, timeoutMs: 20 }).done;
    expect(result.outcome).toBe("timed_out");
    release();
    const later = await seen;
    expect(later.aborted).toBe(true);
    expect(String(later.reason)).toContain("timed out");
  });
});
