import { describe, expect, it } from "vitest";
import { newFleetNode, toNodeView } from "./fleet.js";

describe("toNodeView", () => {
  it("reuses a node's capabilities and attributes until a hello or heartbeat replaces their sources", () => {
    const node = newFleetNode("box", 0);
    node.capabilities = ["linux"];
    node.handlers = new Set(["resize"]);
    const first = toNodeView(node, "closed");
    expect(first.capabilities).toEqual(["linux", "node:box", "handler:resize"]);
    // Load and queue figures change on every call; the fixed parts are the same objects.
    node.queued = 3;
    const second = toNodeView(node, "open");
    expect(second).toMatchObject({ queued: 3, breaker: "open" });
    expect(second.capabilities).toBe(first.capabilities);
    expect(second.attributes).toBe(first.attributes);
    // A heartbeat assigns new capabilities, a hello new handlers, labels and slots: the view follows.
    node.capabilities = ["linux", "docker"];
    expect(toNodeView(node, "closed").capabilities).toEqual([
      "linux",
      "docker",
      "node:box",
      "handler:resize",
    ]);
    expect(toNodeView(node, "closed").attributes.docker).toBe(true);
    node.handlers = new Set(["thumbnail"]);
    node.labels = { tier: "laptop" };
    node.slots = 8;
    const after = toNodeView(node, "closed");
    expect(after.capabilities).toEqual(["linux", "docker", "node:box", "handler:thumbnail"]);
    expect(after.attributes).toMatchObject({ labels: { tier: "laptop" }, cores: 8 });
  });
});
