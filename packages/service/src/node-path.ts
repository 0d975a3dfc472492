/**
 * Which node binary a service should run. `process.execPath` names one installed version (Homebrew's
 * `Cellar/node/22.3.0/bin/node`, nvm's `versions/node/v20.11.0/bin/node`), which the next `brew upgrade
 * node` or `nvm uninstall` removes, and the service with it. This module maps such a path to one that
 * stays put across upgrades. It is pure: the file system is reached only through the functions passed in.
 */
import { join } from "node:path";

/** How to start node in a service: the leading words of its command line and any environment it needs. */
export interface NodeCommand {
  argv: string[];
  env: Record<string, string>;
  /** Where the path came from, for `status` and the install message. */
  source: "homebrew" | "nvm" | "symlink" | "as-is";
  /** Set when the path will not survive an upgrade of node. */
  warning?: string;
}

/** What {@link stableNodeCommand} may ask of the file system. */
export interface PathProbe {
  exists: (path: string) => boolean;
  /** The path with every symlink resolved, or undefined when it does not exist. */
  realpath: (path: string) => string | undefined;
}

/** Links a package manager keeps pointing at the current node, tried in this order. */
export const STABLE_NODE_LINKS = ["/opt/homebrew/bin/node", "/usr/local/bin/node", "/usr/bin/node"];

const HOMEBREW_CELLAR = /^(.*)\/Cellar\/(node(?:@\d+)?)\/[^/]+\/bin\/node$/;
const NVM_VERSION = /^(.*)\/versions\/node\/v[^/]+\/bin\/node$/;

/** The node to bake into a service, given the running one (`process.execPath`). */
export function stableNodeCommand(execPath: string, probe: PathProbe): NodeCommand {
  const brew = HOMEBREW_CELLAR.exec(execPath);
  if (brew !== null) {
    const [, prefix = "", formula = "node"] = brew;
    // `bin/node` follows the unversioned formula only; `opt/<formula>` follows any formula's upgrades.
    const candidates =
      formula === "node"
        ? [join(prefix, "bin", "node"), join(prefix, "opt", formula, "bin", "node")]
        : [join(prefix, "opt", formula, "bin", "node")];
    const found = candidates.find(probe.exists);
    if (found !== undefined) return { argv: [found], env: {}, source: "homebrew" };
  }
  const nvm = NVM_VERSION.exec(execPath);
  if (nvm !== null) {
    const nvmDir = nvm[1] ?? "";
    const current = join(nvmDir, "current", "bin", "node");
    if (probe.exists(current)) return { argv: [current], env: {}, source: "nvm" };
    const exec = join(nvmDir, "nvm-exec");
    if (probe.exists(exec) && probe.exists(join(nvmDir, "alias", "default"))) {
      // nvm-exec loads nvm and runs the command under the version NODE_VERSION names: the default alias.
      return { argv: [exec, "node"], env: { NVM_DIR: nvmDir, NODE_VERSION: "default" }, source: "nvm" };
    }
  }
  for (const link of STABLE_NODE_LINKS) {
    if (link !== execPath && probe.realpath(link) === execPath)
      return { argv: [link], env: {}, source: "symlink" };
  }
  const versioned = brew !== null || nvm !== null;
  return {
    argv: [execPath],
    env: {},
    source: "as-is",
    ...(versioned
      ? {
          warning: `${execPath} names one node version: the service stops when it is uninstalled (reinstall the service after upgrading node)`,
        }
      : {}),
  };
}
