import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";

/** The Lua scripts of the store, one file each in `lua/`, named `<op>-<numberOfKeys>.lua`. */
export const SCRIPT_NAMES = ["submit-7", "lease-2", "transition-4", "output-2", "steal-2"] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

interface LoadedScript {
  readonly source: string;
  readonly sha: string;
  readonly numberOfKeys: number;
}

function loadScripts(): Record<ScriptName, LoadedScript> {
  const scripts = {} as Record<ScriptName, LoadedScript>;
  for (const name of SCRIPT_NAMES) {
    const source = readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), "utf8");
    const numberOfKeys = Number(name.slice(name.lastIndexOf("-") + 1));
    scripts[name] = { source, sha: createHash("sha1").update(source).digest("hex"), numberOfKeys };
  }
  return scripts;
}

type ScriptArgument = string | number;

/**
 * Runs the store's Lua scripts by SHA, loading a script again when Redis has forgotten it (after a restart
 * or `SCRIPT FLUSH`). One call is one round trip and one atomic step.
 */
export class ScriptRunner {
  private readonly scripts = loadScripts();

  constructor(private readonly redis: Redis) {}

  /** Loads every script into Redis so the first calls need no fallback. */
  async preload(): Promise<void> {
    for (const script of Object.values(this.scripts)) await this.redis.script("LOAD", script.source);
  }

  async run(name: ScriptName, keys: readonly string[], args: readonly ScriptArgument[]): Promise<unknown> {
    const script = this.scripts[name];
    if (keys.length !== script.numberOfKeys) {
      throw new Error(`script ${name} takes ${script.numberOfKeys} keys, got ${keys.length}`);
    }
    try {
      return await this.redis.evalsha(script.sha, script.numberOfKeys, ...keys, ...args);
    } catch (error) {
      if (error instanceof Error && error.message.startsWith("NOSCRIPT")) {
        return await this.redis.eval(script.source, script.numberOfKeys, ...keys, ...args);
      }
      throw error;
    }
  }
}
