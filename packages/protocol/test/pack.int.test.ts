import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PackedProject, packAndInstall } from "./pack.js";

const packageDir = join(import.meta.dirname, "..");
let project: PackedProject;

describe("the published package", () => {
  // About 20 s on an idle machine (tsup with declarations ~8 s, pack + install ~3 s, tsc ~7 s). The limits are
  // far above that because the whole repository's suites share two cores and can slow this tenfold.
  beforeAll(() => {
    project = packAndInstall(packageDir);
  }, 300_000);
  afterAll(() => project?.dispose());

  it("ships the build, sources, schemas, vectors and README, and no tests", () => {
    const files = project.tarballFiles;
    for (const file of [
      "package/dist/index.js",
      "package/dist/index.d.ts",
      "package/src/index.ts",
      "package/schemas/index.json",
      "package/schemas/messages/heartbeat.json",
      "package/vectors/heartbeat/legacy-bridge.json",
      "package/README.md",
    ]) {
      expect(files).toContain(file);
    }
    expect(files.filter((file) => /\.test\.|\/test\/|\/bench\/|\/scripts\//.test(file))).toEqual([]);
  });

  it("imports from plain Node ESM and decodes", () => {
    const output = project.runModule(`
      import { decode, createMessage, encode, createKeys, MESSAGE_TYPES } from "@flotilla/protocol";
      import index from "@flotilla/protocol/schemas/index.json" with { type: "json" };
      const message = createMessage("task.submit", { spec: { kind: "exec", argv: ["true"] } }, { from: "cli" });
      const result = decode(encode(message));
      const bad = decode('{"type":"heartbeat","v":9}');
      console.log(JSON.stringify({
        ok: result.ok,
        priority: result.ok && result.message.spec.priority,
        badCode: bad.ok ? null : bad.error.code,
        key: createKeys("p").task("t1"),
        types: MESSAGE_TYPES.length,
        schemaTypes: Object.keys(index.messages).length,
      }));
    `);
    expect(JSON.parse(output)).toEqual({
      ok: true,
      priority: "normal",
      badCode: "E_VERSION",
      key: "p:task:{t1}",
      types: 58,
      schemaTypes: 58,
    });
  });

  it("type-checks a consumer under moduleResolution nodenext without @types/node", () => {
    const output = project.typecheck(`
      import { decode, type MessageOf, type TaskSpec, createMessage, isFlotillaError } from "@flotilla/protocol";

      const result = decode(new Uint8Array([123, 125]));
      if (!result.ok) {
        const code: string = result.error.code;
        const path: string = result.error.details.path;
        console.log(code, path, isFlotillaError(result.error));
      } else if (result.message.type === "task.output") {
        const chunk: MessageOf<"task.output"> = result.message;
        console.log(chunk.data.length, chunk.seq);
      }
      const spec: TaskSpec = { kind: "call", handler: "resize", priority: "low" };
      const submit = createMessage("task.submit", { spec }, { from: "cli", now: () => 0 });
      // @ts-expect-error epoch must be a number
      createMessage("task.accept", { taskId: "t1", epoch: "1" }, { from: "n1" });
      export const id: string = submit.id;
    `);
    expect(output).toBe("");
  }, 180_000);
});
