import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FlotillaError } from "@flotilla/protocol";

/** Where the coordinator is when nothing says otherwise. */
export const DEFAULT_URL = "ws://127.0.0.1:7420";

/** Where a setting's value came from, strongest first. */
export type SettingSource = "flag" | "env" | "config" | "default";

/** One resolved setting. */
export interface Setting {
  value: string | undefined;
  source: SettingSource;
  /** The flag, variable or file it came from, for `flotilla config`. */
  origin: string;
}

/** The settings every command that talks to the coordinator needs. */
export interface Settings {
  url: Setting;
  token: Setting;
  /** The config file consulted (it may not exist). */
  configPath: string;
}

/** What settings are resolved from. */
export interface SettingsInput {
  flags: { url?: string | undefined; token?: string | undefined };
  env: Readonly<Record<string, string | undefined>>;
  /** The home directory, for `~/.config`. */
  homedir: string;
  /** Reads a file, or returns undefined when it does not exist. */
  readFile?: (path: string) => string | undefined;
}

/** `$XDG_CONFIG_HOME/flotilla/config.json`, or `~/.config/flotilla/config.json`. */
export function configPath(env: SettingsInput["env"], homedir: string): string {
  const base = env.XDG_CONFIG_HOME || join(homedir, ".config");
  return join(base, "flotilla", "config.json");
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new FlotillaError(
      "E_CONFIG",
      `cannot read ${path}: ${(error as Error).message} — fix its permissions`,
    );
  }
}

/** Reads the config file: `{ "url"?: string, "token"?: string }`; a missing file is an empty config. */
export function readConfigFile(
  path: string,
  readFile: (path: string) => string | undefined = readIfExists,
): { url?: string; token?: string } {
  const text = readFile(path);
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new FlotillaError("E_CONFIG", `${path} is not valid JSON — fix it or remove it`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new FlotillaError("E_CONFIG", `${path} must hold a JSON object like {"url": "ws://host:7420"}`);
  }
  const config: { url?: string; token?: string } = {};
  for (const key of ["url", "token"] as const) {
    const field = (value as Record<string, unknown>)[key];
    if (field === undefined) continue;
    if (typeof field !== "string") {
      throw new FlotillaError("E_CONFIG", `"${key}" in ${path} must be a string — fix the file`);
    }
    config[key] = field;
  }
  return config;
}

/** Resolves each setting: flags, then environment, then the config file, then the default. */
export function resolveSettings(input: SettingsInput): Settings {
  const path = configPath(input.env, input.homedir);
  const file = readConfigFile(path, input.readFile);
  const pick = (
    flag: string | undefined,
    flagName: string,
    envName: string,
    fromFile: string | undefined,
  ) => {
    if (flag !== undefined) return { value: flag, source: "flag" as const, origin: flagName };
    const fromEnv = input.env[envName];
    if (fromEnv !== undefined && fromEnv !== "")
      return { value: fromEnv, source: "env" as const, origin: envName };
    if (fromFile !== undefined) return { value: fromFile, source: "config" as const, origin: path };
    return undefined;
  };
  const url = pick(input.flags.url, "--url", "FLOTILLA_URL", file.url) ?? {
    value: DEFAULT_URL,
    source: "default" as const,
    origin: "built-in default",
  };
  const token = pick(input.flags.token, "--token", "FLOTILLA_TOKEN", file.token) ?? {
    value: undefined,
    source: "default" as const,
    origin: "none",
  };
  if (!/^wss?:\/\//.test(url.value)) {
    throw new FlotillaError(
      "E_CONFIG",
      `the coordinator URL ${JSON.stringify(url.value)} (from ${url.origin}) must start with ws:// or wss://`,
    );
  }
  return { url, token, configPath: path };
}
