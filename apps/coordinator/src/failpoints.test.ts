import { afterEach, describe, expect, it, vi } from "vitest";

/** The module reads the environment once when it loads: each case loads it afresh. */
async function loadWith(value: string | undefined): Promise<typeof import("./failpoints.js")> {
  vi.resetModules();
  vi.stubEnv("FLOTILLA_FAILPOINT", value);
  return await import("./failpoints.js");
}

describe("failpoint", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it("kills the process with SIGKILL at the failpoint the environment names", async () => {
    const kill = vi.spyOn(process, "kill").mockImplementation(() => true);
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const { failpoint } = await loadWith("declare-dead");
    failpoint("declare-dead");
    expect(kill).toHaveBeenCalledWith(process.pid, "SIGKILL");
  });

  it("does nothing when none is set", async () => {
    const kill = vi.spyOn(process, "kill").mockImplementation(() => true);
    const { failpoint } = await loadWith(undefined);
    failpoint("declare-dead");
    expect(kill).not.toHaveBeenCalled();
  });
});
