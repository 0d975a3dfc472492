import { describe, expect, it } from "vitest";
import { makeNode } from "../fixtures.js";
import { checkEligibility, describeUnmet, eligibleNodes } from "./eligibility.js";
import { commandSegments, DEFAULT_INFERENCE_RULES, inferRequirements } from "./inference.js";

const mac = makeNode("mac-1", {
  capabilities: ["light"],
  attributes: {
    os: "darwin",
    arch: "arm64",
    cores: 8,
    memoryBytes: 16e9,
    docker: false,
    freeDiskBytes: 50e9,
    labels: { site: "home", tier: "laptop" },
  },
});
const linux = makeNode("linux-1", {
  capabilities: ["heavy", "isolation"],
  attributes: {
    os: "linux",
    arch: "x64",
    cores: 32,
    memoryBytes: 128e9,
    docker: true,
    freeDiskBytes: 900e9,
    labels: { site: "home" },
  },
  slotsTotal: 8,
});

describe("checkEligibility", () => {
  it("matches needs against capabilities and attributes", () => {
    expect(checkEligibility({ needs: { docker: true } }, linux)).toEqual({ eligible: true });
    expect(checkEligibility({ needs: { docker: true } }, mac)).toEqual({
      eligible: false,
      reasons: ["docker=true (has false)"],
    });
    expect(checkEligibility({ needs: { heavy: true, cores: 16 } }, linux).eligible).toBe(true);
    expect(checkEligibility({ needs: { heavy: true, cores: 16 } }, mac)).toEqual({
      eligible: false,
      reasons: ["heavy=true (has false)", "cores>=16 (has 8)"],
    });
    expect(checkEligibility({ needs: { os: "Linux", light: false } }, linux).eligible).toBe(true);
  });

  it("evaluates every constraint operator", () => {
    const ok = (constraints: Parameters<typeof checkEligibility>[0]["constraints"], node = linux) =>
      checkEligibility({ constraints: constraints ?? [] }, node).eligible;
    expect(ok([{ attr: "os", op: "eq", value: "linux" }])).toBe(true);
    expect(ok([{ attr: "os", op: "neq", value: "linux" }])).toBe(false);
    expect(ok([{ attr: "arch", op: "in", value: ["arm64", "x64"] }])).toBe(true);
    expect(ok([{ attr: "label.site", op: "exists" }])).toBe(true);
    expect(ok([{ attr: "tier", op: "exists" }], mac)).toBe(true);
    expect(ok([{ attr: "tier", op: "exists" }])).toBe(false);
    expect(ok([{ attr: "cores", op: "gt", value: 31 }])).toBe(true);
    expect(ok([{ attr: "cores", op: "gte", value: 33 }])).toBe(false);
    expect(ok([{ attr: "memoryBytes", op: "lt", value: 1e12 }])).toBe(true);
    expect(ok([{ attr: "freeDiskBytes", op: "lte", value: 1e9 }])).toBe(false);
    expect(ok([{ attr: "label.site", op: "gt", value: 1 }])).toBe(false);
    expect(ok([{ attr: "heavy", op: "eq", value: true }])).toBe(true);
  });

  it("checks health and resources, and explains each rejection", () => {
    const sick = { ...linux, id: "linux-2", healthy: false, draining: true, breaker: "open" as const };
    const { eligible, rejected } = eligibleNodes({ needs: { docker: true }, slots: 4, memoryBytes: 20e9 }, [
      mac,
      linux,
      sick,
    ]);
    expect(eligible.map((node) => node.id)).toEqual(["linux-1"]);
    expect(JSON.parse(JSON.stringify(rejected))).toEqual([
      {
        nodeId: "mac-1",
        reasons: [
          "docker=true (has false)",
          "needs 4 slots (has 2)",
          "needs 20000000000 bytes of memory (has 16000000000)",
        ],
      },
      { nodeId: "linux-2", reasons: ["unhealthy", "draining", "circuit breaker open"] },
    ]);
    expect(checkEligibility({}, { ...linux, slotsUsed: 8 }, { requireFreeSlot: true })).toEqual({
      eligible: false,
      reasons: ["no free slot"],
    });
    expect(checkEligibility({}, { ...linux, healthy: false }, { ignoreHealth: true }).eligible).toBe(true);
  });

  it("describes unmet requirements in one sentence", () => {
    const requirements = { needs: { docker: true } };
    const { rejected } = eligibleNodes(requirements, [mac]);
    expect(describeUnmet(rejected, requirements)).toBe(
      "no healthy node with docker=true (mac-1: docker=true (has false))",
    );
    expect(
      describeUnmet([], { needs: { cores: 64 }, constraints: [{ attr: "os", op: "eq", value: "linux" }] }),
    ).toBe("no healthy node with cores>=64, os eq linux: no nodes are registered");
    expect(describeUnmet([{ nodeId: "n", reasons: ["unhealthy"] }])).toBe(
      "no healthy node can take the task (n: unhealthy)",
    );
  });
});

describe("inferRequirements", () => {
  it("applies the design's default rules", () => {
    expect(inferRequirements("docker build .")).toEqual({ docker: true });
    expect(inferRequirements(["docker-compose", "up"])).toEqual({ docker: true });
    expect(inferRequirements("make -j8")).toEqual({ heavy: true });
    expect(inferRequirements("cargo build --release")).toEqual({ heavy: true });
    expect(inferRequirements("go build ./...")).toEqual({ heavy: true });
    expect(inferRequirements("go test ./...")).toEqual({});
    expect(inferRequirements("CI=1 npx jest --runInBand")).toEqual({ isolation: true, heavy: true });
    expect(inferRequirements("cd api && python -m pytest -q")).toEqual({ isolation: true, heavy: true });
    expect(inferRequirements("echo docker")).toEqual({});
    expect(inferRequirements("")).toEqual({});
  });

  it("accepts configurable rules, strings included", () => {
    const rules = [
      ...DEFAULT_INFERENCE_RULES,
      { pattern: "nvidia-smi", needs: { gpu: true } },
      { pattern: "go build", needs: { os: "linux" } },
    ];
    expect(inferRequirements("sudo nvidia-smi -L", rules)).toEqual({ gpu: true });
    expect(inferRequirements("go build .", rules)).toEqual({ heavy: true, os: "linux" });
    expect(commandSegments("A=1 time make | tee log; ls")).toEqual(["make", "tee log", "ls"]);
  });
});
