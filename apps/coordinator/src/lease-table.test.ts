import { type TaskSpec, TaskSpecSchema } from "@flotilla/protocol";
import { describe, expect, it } from "vitest";
import { newFleetNode } from "./fleet.js";
import { LeaseTable, newLease } from "./lease-table.js";

const spec: TaskSpec = TaskSpecSchema.parse({ kind: "exec", argv: ["true"] });

describe("LeaseTable", () => {
  it("ends a lease only for its own epoch, and frees its place on the node", () => {
    const node = newFleetNode("n1", 0);
    node.inflight = 2;
    const table = new LeaseTable(new Map([["n1", node]]));
    table.add("t1", newLease("n1", 3, 1, spec, 0, undefined, undefined));
    table.add("t2", newLease("n1", 1, 1, spec, 0, undefined, undefined));
    expect(table.countOn("n1")).toBe(2);
    table.release("t1", 2);
    expect(table.has("t1")).toBe(true);
    expect(node.inflight).toBe(2);
    table.release("t1", 3);
    expect(table.get("t1")).toBeUndefined();
    expect(node.inflight).toBe(1);
    expect(table.countOn("n1")).toBe(1);
  });

  it("takes back only a first lease still being confirmed", async () => {
    const table = new LeaseTable(new Map());
    const confirming = Promise.resolve();
    table.add("early", newLease("n1", 1, 1, spec, 0, undefined, confirming));
    table.add("settled", newLease("n1", 1, 1, spec, 0, undefined, undefined));
    expect(table.confirming("early")).toBe(confirming);
    table.withdrawEarly("settled");
    table.withdrawEarly("early");
    expect(table.has("settled")).toBe(true);
    expect(table.has("early")).toBe(false);
  });
});
