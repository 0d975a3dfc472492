import { describe, expect, it } from "vitest";
import { deriveCapabilities, type Fingerprint, sampleLoad } from "./fingerprint.js";

const linuxBox: Fingerprint = {
  os: "linux",
  distro: "Debian GNU/Linux",
  release: "12",
  arch: "x64",
  cpuModel: "AMD EPYC",
  cores: 16,
  memoryBytes: 64e9,
  freeDiskBytes: 100e9,
  docker: { available: true, version: "27.3.1" },
};
const laptop: Fingerprint = {
  ...linuxBox,
  os: "darwin",
  arch: "arm64",
  cores: 4,
  performanceCores: 2,
  efficiencyCores: 2,
  docker: { available: false },
};

describe("deriveCapabilities", () => {
  it("names os, arch, docker and size", () => {
    expect(deriveCapabilities(linuxBox)).toEqual(["docker", "heavy", "linux", "x64"]);
    expect(deriveCapabilities(laptop)).toEqual(["arm64", "light", "macos"]);
  });

  it("honours the heavy threshold", () => {
    expect(deriveCapabilities(laptop, {}, { heavyCores: 4 })).toContain("heavy");
    expect(deriveCapabilities(linuxBox, {}, { heavyCores: 32 })).toContain("light");
  });

  it("lets labels force capabilities", () => {
    const caps = deriveCapabilities(laptop, { heavy: "true", docker: "true", gpu: "true", zone: "desk" });
    expect(caps).toEqual(["arm64", "docker", "gpu", "heavy", "macos"]);
    expect(deriveCapabilities(linuxBox, { heavy: "false" })).toEqual(["docker", "light", "linux", "x64"]);
  });
});

describe("sampleLoad", () => {
  it("reports load and slots", () => {
    const load = sampleLoad(1, 4);
    expect(load.slotsUsed).toBe(1);
    expect(load.slotsTotal).toBe(4);
    expect(load.load1).toBeGreaterThanOrEqual(0);
    expect(load.memoryFreeBytes).toBeGreaterThan(0);
  });
});
