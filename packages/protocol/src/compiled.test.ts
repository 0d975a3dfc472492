import { fc, test } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import { validateMessage } from "./codec.js";
import { MESSAGE_SCHEMAS } from "./messages.js";

/**
 * Mostly a value a valid frame would hold, sometimes a near miss, rarely anything at all: so that both
 * outcomes, and every kind of failure, are well represented.
 */
function field<T>(valid: fc.Arbitrary<T>, ...nearMisses: unknown[]): fc.Arbitrary<unknown> {
  const misses =
    nearMisses.length === 0 ? fc.anything() : fc.oneof(fc.constantFrom(...nearMisses), fc.anything());
  return fc.oneof({ weight: 30, arbitrary: valid }, { weight: 1, arbitrary: misses });
}

const id = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,12}$/);
const capability = fc.constantFrom("docker", "linux", "heavy");
const timestamp = fc.constantFrom(
  "2026-01-01T00:00:00Z",
  "2026-01-01T00:00:00.123456",
  "2026-01-01T01:00:00+01:00",
);
const load = fc.double({ min: 0, max: 64, noNaN: true });

const envelope = {
  v: fc.option(fc.constant(1), { nil: undefined }),
  id: field(fc.string({ minLength: 1, maxLength: 8 }), "", "x".repeat(129)),
  timestamp: field(timestamp, "2026-02-30T00:00:00Z", "2026-01-01 00:00:00"),
  from: field(id, ""),
};

const heartbeat = fc.record(
  {
    ...envelope,
    type: fc.constant("heartbeat"),
    capabilities: field(fc.array(capability, { maxLength: 3 }), [""], "docker"),
    status: field(fc.constantFrom("ready", "busy", "offline"), "gone"),
    load: field(
      fc.record(
        {
          load1: field(load, -1),
          load5: field(load, "1"),
          load15: field(load),
          cpuPercent: field(fc.double({ min: 0, max: 100, noNaN: true }), 101),
          memoryFreeBytes: field(fc.nat(), 1.5),
          slotsUsed: field(fc.nat(8), -1),
          slotsTotal: field(fc.nat(8)),
        },
        { requiredKeys: ["load1", "load5", "load15", "slotsUsed", "slotsTotal"] },
      ),
    ),
    running: field(
      fc.array(fc.record({ taskId: field(id, "a b"), epoch: field(fc.integer({ min: 1, max: 3 }), 0) })),
    ),
    extra: fc.anything(),
  },
  { requiredKeys: ["v", "type", "timestamp", "from", "capabilities", "status"] },
);

const output = fc.record(
  {
    ...envelope,
    type: fc.constant("task.output"),
    taskId: field(id, "{t}"),
    epoch: field(fc.integer({ min: 1, max: 3 }), 0, 1.5),
    stream: field(fc.constantFrom("stdout", "stderr"), "stdin"),
    seq: field(fc.nat(), -1, 0.5),
    data: field(fc.string()),
  },
  { requiredKeys: ["v", "type", "id", "timestamp", "from", "taskId", "epoch", "stream", "seq", "data"] },
);

const spec = fc.record(
  {
    kind: field(fc.constantFrom("exec", "call"), "wasm"),
    argv: field(fc.array(fc.constantFrom("ls", "-la", ""), { minLength: 1, maxLength: 2 }), [], ["a\u0000b"]),
    shell: field(fc.constantFrom("echo hi"), ""),
    handler: field(fc.constantFrom("resize"), ""),
    priority: field(fc.constantFrom("critical", "low"), "urgent"),
    timeoutMs: field(fc.integer({ min: 1, max: 3_600_000 }), 0, 8 * 24 * 3600 * 1000),
    needs: field(
      fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(fc.boolean(), fc.string(), fc.integer())),
    ),
    constraints: field(
      fc.array(
        fc.oneof(
          fc.record({
            attr: field(fc.constant("os"), ""),
            op: fc.constant("eq"),
            value: field(fc.string(), []),
          }),
          fc.record({
            attr: fc.constant("arch"),
            op: fc.constant("in"),
            value: field(fc.array(fc.string()), "x"),
          }),
          fc.record({ attr: fc.constant("gpu"), op: field(fc.constant("exists"), "near") }),
          fc.record({ attr: fc.constant("cores"), op: fc.constant("gte"), value: field(fc.integer(), true) }),
        ),
        { maxLength: 2 },
      ),
    ),
  },
  { requiredKeys: ["kind"] },
);

const submit = fc.record({ ...envelope, type: fc.constant("task.submit"), spec: field(spec) });

/** Compiled decoding must answer exactly as the plain zod schema does, success and failure alike. */
function agreesWithPlainZod(frame: Record<string, unknown>): void {
  const type = frame.type as "heartbeat" | "task.output" | "task.submit";
  const plain = MESSAGE_SCHEMAS[type].safeParse(frame);
  const decoded = validateMessage(frame);
  expect(decoded.ok).toBe(plain.success);
  if (decoded.ok) {
    expect(decoded.message).toEqual(plain.data);
  } else {
    const issues = plain.error?.issues.slice(0, 20).map((issue) => ({
      path: issue.path.join("."),
      message: issue.message,
      code: issue.code,
    }));
    expect(decoded.error.details.issues).toEqual(issues);
  }
}

// Fixed seeds keep the suite deterministic; change them locally to explore further.
describe("compiled schemas answer as plain zod does", () => {
  test.prop([heartbeat], { numRuns: 400, seed: 1 })("heartbeat", agreesWithPlainZod);
  test.prop([output], { numRuns: 400, seed: 2 })("task.output", agreesWithPlainZod);
  test.prop([submit], { numRuns: 400, seed: 3 })("task.submit", agreesWithPlainZod);

  test("the generators reach both outcomes", () => {
    for (const [arbitrary, seed] of [
      [heartbeat, 1],
      [output, 2],
      [submit, 3],
    ] as const) {
      const frames = fc.sample(arbitrary as fc.Arbitrary<Record<string, unknown>>, { numRuns: 400, seed });
      const valid = frames.filter((frame) => validateMessage(frame).ok).length;
      expect(valid).toBeGreaterThan(20);
      expect(valid).toBeLessThan(380);
    }
  });
});
