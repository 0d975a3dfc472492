import { describe, expect, it } from "vitest";
import { type PathProbe, stableNodeCommand } from "./node-path.js";

/** A file system holding `files`, with `links` resolving to their targets. */
function probe(files: string[], links: Record<string, string> = {}): PathProbe {
  const all = new Set([...files, ...Object.keys(links)]);
  return {
    exists: (path) => all.has(path),
    realpath: (path) => links[path] ?? (all.has(path) ? path : undefined),
  };
}

describe("stableNodeCommand", () => {
  it("maps Apple-silicon Homebrew's cellar path to /opt/homebrew/bin/node", () => {
    const command = stableNodeCommand(
      "/opt/homebrew/Cellar/node/22.3.0/bin/node",
      probe(["/opt/homebrew/bin/node", "/opt/homebrew/opt/node/bin/node"]),
    );
    expect(command).toEqual({ argv: ["/opt/homebrew/bin/node"], env: {}, source: "homebrew" });
  });

  it("maps Intel Homebrew to /usr/local/bin/node and a versioned formula to its opt link", () => {
    expect(
      stableNodeCommand("/usr/local/Cellar/node/21.0.0/bin/node", probe(["/usr/local/bin/node"])).argv,
    ).toEqual(["/usr/local/bin/node"]);
    expect(
      stableNodeCommand(
        "/opt/homebrew/Cellar/node@20/20.11.1/bin/node",
        probe(["/opt/homebrew/bin/node", "/opt/homebrew/opt/node@20/bin/node"]),
      ).argv,
    ).toEqual(["/opt/homebrew/opt/node@20/bin/node"]);
  });

  it("uses nvm's current link, else nvm-exec with the default alias", () => {
    const exec = "/Users/ada/.nvm/versions/node/v20.11.0/bin/node";
    expect(stableNodeCommand(exec, probe(["/Users/ada/.nvm/current/bin/node"])).argv).toEqual([
      "/Users/ada/.nvm/current/bin/node",
    ]);
    expect(
      stableNodeCommand(exec, probe(["/Users/ada/.nvm/nvm-exec", "/Users/ada/.nvm/alias/default"])),
    ).toEqual({
      argv: ["/Users/ada/.nvm/nvm-exec", "node"],
      env: { NVM_DIR: "/Users/ada/.nvm", NODE_VERSION: "default" },
      source: "nvm",
    });
  });

  it("prefers a well-known link that resolves to the running node", () => {
    const command = stableNodeCommand(
      "/opt/node-v22/bin/node",
      probe([], { "/usr/local/bin/node": "/opt/node-v22/bin/node" }),
    );
    expect(command).toEqual({ argv: ["/usr/local/bin/node"], env: {}, source: "symlink" });
  });

  it("keeps a plain path as it is, and warns when it is a versioned one with no stable link", () => {
    expect(stableNodeCommand("/usr/bin/node", probe(["/usr/bin/node"]))).toEqual({
      argv: ["/usr/bin/node"],
      env: {},
      source: "as-is",
    });
    const lone = stableNodeCommand("/Users/ada/.nvm/versions/node/v20.11.0/bin/node", probe([]));
    expect(lone.source).toBe("as-is");
    expect(lone.warning).toMatch(/names one node version/);
  });
});
