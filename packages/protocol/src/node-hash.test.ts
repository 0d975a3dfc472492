import { describe, expect, it } from "vitest";
import { nodeRecordFromHash, nodeRecordToHash } from "./node-hash.js";
import type { NodeRecord } from "./records.js";

const full: NodeRecord = {
  id: "linux1",
  host: "linux1.lan",
  type: "flotilla",
  capabilities: ["docker", "linux"],
  lastSeenAt: Date.UTC(2026, 0, 2, 3, 4, 5, 6),
  version: "0.1.0",
  slots: 8,
  labels: { rack: "a" },
  fingerprint: {
    os: "linux",
    distro: "debian",
    release: "12",
    arch: "x64",
    cpuModel: "Ryzen",
    cores: 16,
    memoryBytes: 64e9,
    freeDiskBytes: 1e12,
    docker: { available: true, version: "27.1" },
  },
  status: "ready",
  draining: false,
  breaker: "closed",
};

describe("node registry hash", () => {
  it("round-trips a full record through strings", () => {
    const hash = nodeRecordToHash(full);
    expect(Object.values(hash).every((value) => typeof value === "string")).toBe(true);
    expect(hash.capabilities).toBe('["docker","linux"]');
    expect(hash.last_seen).toBe("2026-01-02T03:04:05.006Z");
    expect(nodeRecordFromHash(hash)).toEqual({ ok: true, value: full });
  });

  it("reads a record another bridge wrote, with its last_seen in ISO, seconds or milliseconds", () => {
    const legacy = {
      id: "mac1",
      host: "mac1.local",
      type: "claude",
      capabilities: '["light"]',
      extra: "kept out",
    };
    for (const lastSeen of ["2026-01-02T03:04:05.006Z", "1767323045.006", "1767323045006"]) {
      const result = nodeRecordFromHash({ ...legacy, last_seen: lastSeen });
      expect(result).toEqual({
        ok: true,
        value: {
          id: "mac1",
          host: "mac1.local",
          type: "claude",
          capabilities: ["light"],
          lastSeenAt: 1767323045006,
        },
      });
    }
  });

  it("reports the field that cannot be read", () => {
    const hash = nodeRecordToHash(full);
    const badJson = nodeRecordFromHash({ ...hash, capabilities: "docker,linux" });
    expect(badJson.ok || [badJson.error.code, badJson.error.details.path]).toEqual([
      "E_BAD_JSON",
      "capabilities",
    ]);
    const badSlots = nodeRecordFromHash({ ...hash, slots: "many" });
    expect(badSlots.ok || [badSlots.error.code, badSlots.error.details.path]).toEqual(["E_SCHEMA", "slots"]);
    const badTime = nodeRecordFromHash({ ...hash, last_seen: "yesterday" });
    expect(badTime.ok || badTime.error.details.path).toBe("last_seen");
  });
});
