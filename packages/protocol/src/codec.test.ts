import { describe, expect, it } from "vitest";
import { createMessage, decode, decodeOrThrow, decodeRecord, encode, encodeFields } from "./codec.js";
import { isFlotillaError } from "./errors.js";
import { LeaseSchema, TaskRecordSchema } from "./records.js";

const envelope = { v: 1, id: "m1", timestamp: "2026-01-01T00:00:00.000Z", from: "cli-1" };
const submit = { ...envelope, type: "task.submit", spec: { kind: "exec", argv: ["make", "-j8"] } };

function failure(raw: Parameters<typeof decode>[0], options?: Parameters<typeof decode>[1]) {
  const result = decode(raw, options);
  if (result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result.message)}`);
  return result.error;
}

describe("decode", () => {
  it("reads every raw form a socket hands over", () => {
    const text = JSON.stringify(submit);
    const buffer = Buffer.from(text);
    const arrayBuffer = buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
    const fragments = [buffer.subarray(0, 10), buffer.subarray(10)];
    for (const raw of [text, buffer, arrayBuffer, fragments]) {
      const result = decode(raw);
      expect(result.ok && result.message.type).toBe("task.submit");
    }
  });

  it("applies defaults: v for old bridges, priority for tasks", () => {
    const { v: _, ...unversioned } = submit;
    const message = decodeOrThrow(JSON.stringify(unversioned));
    expect(message.v).toBe(1);
    expect(message.type === "task.submit" && message.spec.priority).toBe("normal");
  });

  it("tolerates unknown fields and drops them", () => {
    const message = decodeOrThrow(JSON.stringify({ ...submit, future: { x: 1 } }));
    expect(message).not.toHaveProperty("future");
  });

  it("accepts the heartbeat other bridges already send (no v, no id, local ISO time)", () => {
    const legacy = {
      from: "mac1",
      type: "heartbeat",
      timestamp: "2026-01-01T12:00:00.123456",
      capabilities: ["light"],
      status: "busy",
    };
    expect(decode(JSON.stringify(legacy))).toEqual({ ok: true, message: { ...legacy, v: 1 } });
  });

  it("checks size on bytes before parsing", () => {
    const wide = JSON.stringify({ ...submit, spec: { kind: "exec", shell: "é".repeat(400) } });
    expect(wide.length).toBeLessThan(1000);
    const error = failure(wide, { maxBytes: 500 });
    expect(error.code).toBe("E_TOO_LARGE");
    expect(error.details).toMatchObject({ path: "", limit: 500, size: Buffer.byteLength(wide) });
    expect(failure("{".repeat(2 * 1024 * 1024)).code).toBe("E_TOO_LARGE");
    expect(failure([Buffer.alloc(300), Buffer.alloc(300)], { maxBytes: 500 }).code).toBe("E_TOO_LARGE");
  });

  it("names bad JSON, versions, types and the failing path", () => {
    expect(failure("{nope").code).toBe("E_BAD_JSON");
    expect(failure("[1,2]").code).toBe("E_SCHEMA");
    expect(failure(JSON.stringify({ ...submit, v: 2 })).code).toBe("E_VERSION");
    expect(failure(JSON.stringify({ ...submit, v: "1" })).code).toBe("E_VERSION");
    expect(failure(JSON.stringify({ ...submit, v: 1.5 })).code).toBe("E_VERSION");
    const unknown = failure(JSON.stringify({ ...submit, type: "task.teleport" }));
    expect([unknown.code, unknown.details.type]).toEqual(["E_UNKNOWN_TYPE", "task.teleport"]);
    expect(failure(JSON.stringify({ ...submit, type: 7 })).details.path).toBe("type");
    const nul = failure(JSON.stringify({ ...submit, spec: { kind: "exec", argv: ["ls", "a\u0000b"] } }));
    expect([nul.code, nul.details.path, nul.details.type]).toEqual([
      "E_SCHEMA",
      "spec.argv.1",
      "task.submit",
    ]);
    expect(nul.message).toMatch(/NUL/);
    expect(isFlotillaError(nul)).toBe(true);
  });

  it("wants exactly one of argv and shell", () => {
    for (const spec of [{ kind: "exec" }, { kind: "exec", argv: ["ls"], shell: "ls" }]) {
      const error = failure(JSON.stringify({ ...submit, spec }));
      expect([error.code, error.details.path]).toEqual(["E_SCHEMA", "spec.argv"]);
    }
    expect(failure(JSON.stringify({ ...submit, spec: { kind: "exec", argv: [] } })).details.path).toBe(
      "spec.argv",
    );
  });

  it("throws the same error from decodeOrThrow", () => {
    expect(() => decodeOrThrow("{")).toThrow(expect.objectContaining({ code: "E_BAD_JSON" }));
  });
});

describe("createMessage and encode", () => {
  it("builds the envelope from injected clock and id, and round-trips", () => {
    const message = createMessage(
      "task.output",
      { taskId: "t1", epoch: 1, stream: "stdout", seq: 0, data: "hi\n" },
      { from: "linux1", now: () => Date.UTC(2026, 0, 1), newId: () => "out-1" },
    );
    expect(message).toEqual({
      v: 1,
      type: "task.output",
      id: "out-1",
      timestamp: "2026-01-01T00:00:00.000Z",
      from: "linux1",
      taskId: "t1",
      epoch: 1,
      stream: "stdout",
      seq: 0,
      data: "hi\n",
    });
    expect(decodeOrThrow(encode(message))).toEqual(message);
  });

  it("makes a fresh UUID per message unless told otherwise", () => {
    const first = createMessage("nodes.list", {}, { from: "cli" });
    const second = createMessage("nodes.list", {}, { from: "cli" });
    expect(first.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(first.id).not.toBe(second.id);
  });

  it("takes an explicit id and throws on fields that would not decode", () => {
    expect(createMessage("agent.bye", {}, { from: "n1", id: "bye-1" }).id).toBe("bye-1");
    expect(() => createMessage("task.accept", { taskId: "has space", epoch: 1 }, { from: "n1" })).toThrow(
      expect.objectContaining({ code: "E_SCHEMA" }),
    );
  });

  it("encodes without filling anything in", () => {
    const message = decodeOrThrow(JSON.stringify(submit));
    expect(JSON.parse(encode(message))).toEqual(message);
  });
});

describe("decodeRecord", () => {
  it("checks objects and JSON strings read back from Redis", () => {
    const lease = { taskId: "t1", node: "n1", epoch: 3, expiresAt: 1000 };
    expect(decodeRecord(LeaseSchema, lease)).toEqual({ ok: true, value: lease });
    expect(decodeRecord(LeaseSchema, JSON.stringify(lease))).toEqual({ ok: true, value: lease });
    const bad = decodeRecord(LeaseSchema, { ...lease, epoch: 0 });
    expect(bad.ok || [bad.error.code, bad.error.details.path]).toEqual(["E_SCHEMA", "epoch"]);
    const notJson = decodeRecord(LeaseSchema, "{");
    expect(notJson.ok || notJson.error.code).toBe("E_BAD_JSON");
  });

  it("requires the fields a task's state implies", () => {
    const base = {
      id: "t1",
      spec: { kind: "call", handler: "resize" },
      attempt: 1,
      epoch: 1,
      createdAt: 1,
      updatedAt: 2,
    };
    expect(decodeRecord(TaskRecordSchema, { ...base, state: "running", node: "n1", startedAt: 2 }).ok).toBe(
      true,
    );
    const running = decodeRecord(TaskRecordSchema, { ...base, state: "running", node: "n1" });
    expect(running.ok || running.error.details.path).toBe("startedAt");
    const waiting = decodeRecord(TaskRecordSchema, { ...base, state: "waiting" });
    expect(waiting.ok || waiting.error.details.path).toBe("waitingReason");
    const done = decodeRecord(TaskRecordSchema, { ...base, state: "failed", finishedAt: 3, exitCode: 2 });
    expect(done.ok && done.value.state === "failed" && done.value.exitCode).toBe(2);
  });
});

describe("errors about hostile frames", () => {
  it("stay small", () => {
    const many = decode(
      JSON.stringify({ ...submit, type: "heartbeat", capabilities: Array(5000).fill(7), status: 1 }),
    );
    expect(many.ok || (many.error.details.issues as unknown[]).length).toBe(20);
    const longType = decode(JSON.stringify({ ...submit, type: "x".repeat(10_000) }));
    expect(longType.ok || longType.error.message.length).toBeLessThan(120);
  });
});

describe("encodeFields", () => {
  it("writes a frame that decodes to the same message createMessage builds", () => {
    const now = () => 1_772_357_400_000;
    const fields = { taskId: "t-42", epoch: 3 };
    const fast = encodeFields("task.accept", fields, { from: "linux1", id: "m1", now });
    const checked = createMessage("task.accept", fields, { from: "linux1", id: "m1", now });
    const decoded = decode(fast);
    expect(decoded.ok && decoded.message).toEqual(checked);
  });

  it("dates each message by its own clock reading, several in one millisecond or not", () => {
    const stamp = (ms: number) =>
      createMessage("task.accept", { taskId: "t-42", epoch: 3 }, { from: "a", id: "m", now: () => ms })
        .timestamp;
    const fields = (ms: number) =>
      JSON.parse(
        encodeFields("task.accept", { taskId: "t", epoch: 1 }, { from: "a", id: "m", now: () => ms }),
      ).timestamp;
    expect([stamp(1_772_357_400_000), stamp(1_772_357_400_000), fields(1_772_357_400_001)]).toEqual([
      "2026-03-01T09:30:00.000Z",
      "2026-03-01T09:30:00.000Z",
      "2026-03-01T09:30:00.001Z",
    ]);
    expect([stamp(0), fields(1_772_357_400_000), stamp(1_772_357_400_001)]).toEqual([
      "1970-01-01T00:00:00.000Z",
      "2026-03-01T09:30:00.000Z",
      "2026-03-01T09:30:00.001Z",
    ]);
    expect(() => stamp(Number.NaN)).toThrow(RangeError);
  });
});
