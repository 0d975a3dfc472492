import { describe, expect, it } from "vitest";
import { discoverable, newFleetNode, nodeListing, queuedOn, toNodeView } from "./fleet.js";

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

describe("discoverable and nodeListing", () => {
  it("finds live nodes with every wanted capability, and lists a dead one as offline", () => {
    const linux = newFleetNode("linux-box", 0);
    linux.capabilities = ["linux", "docker"];
    const mac = newFleetNode("mac", 0);
    mac.capabilities = ["macos"];
    const dead = newFleetNode("old", 0);
    dead.capabilities = ["linux", "docker"];
    dead.health = "dead";
    const nodes = [linux, mac, dead];
    expect(discoverable(nodes, ["docker"]).map((node) => node.id)).toEqual(["linux-box"]);
    expect(discoverable(nodes, undefined).map((node) => node.id)).toEqual(["linux-box", "mac"]);
    expect(discoverable(nodes, ["docker", "macos"])).toEqual([]);
    expect(nodeListing(dead, "open")).toMatchObject({ id: "old", status: "offline", breaker: "open" });
  });
});

describe("queuedOn", () => {
  it("counts the queue and what is held beyond the slots, a task leased in its submit script once", () => {
    const node = newFleetNode("box", 0);
    node.slots = 2;
    node.queued = 3;
    node.inflight = 2;
    expect(queuedOn(node)).toBe(3);
    // Two submits being leased at once: counted in `queued` (placed) and `inflight` (leased) meanwhile.
    node.queued += 2;
    node.inflight += 2;
    node.leasing = 2;
    expect(queuedOn(node)).toBe(5);
  });
});
