import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import {
  configFileValues,
  type FlagValues,
  FlotillaError,
  isFlotillaError,
  layerSettings,
  parseCoordinatorUrls,
} from "@flotilla/protocol";

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
  /** The private CA file a `wss://` coordinator's certificate is checked against. */
  ca: Setting;
  /** The config file consulted (it may not exist). */
  configPath: string;
}

/** What settings are resolved from. */
export interface SettingsInput {
  flags: { url?: string | undefined; token?: string | undefined; ca?: string | undefined };
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

/** The settings a config file may hold, as protocol's `configFileValues` reads them. */
const FILE_SETTINGS = {
  url: { type: "string" },
  token: { type: "string" },
  ca: { type: "string" },
} as const;

/** Each setting's environment variable, for protocol's `layerSettings`. */
const ENVIRONMENT = [
  ["FLOTILLA_URL", ["url"]],
  ["FLOTILLA_TOKEN", ["token"]],
  ["FLOTILLA_CA", ["ca"]],
] as const;

/**
 * Resolves each setting: flags, then environment, then the config file, then the default. The URL may
 * be a comma-separated list of coordinators (an active one and its standbys); each is checked here, so a
 * bad one is reported with where it came from before anything dials.
 */
export function resolveSettings(input: SettingsInput): Settings {
  const path = configPath(input.env, input.homedir);
  const text = (input.readFile ?? readIfExists)(path);
  const file = text === undefined ? {} : configFileValues(text, path, FILE_SETTINGS, []);
  const flags: FlagValues = {};
  // A relative CA path in the config file is read from the file's directory.
  if (typeof file.ca === "string") file.ca = resolve(dirname(path), file.ca);
  for (const name of ["url", "token", "ca"] as const) {
    const value = input.flags[name];
    if (value !== undefined) flags[name] = value;
  }
  const { values, fromFile } = layerSettings(flags, file, input.env, ENVIRONMENT);
  const pick = (name: "url" | "token" | "ca", envName: string): Setting | undefined => {
    const value = values[name];
    if (typeof value === "string") {
      return fromFile.includes(name)
        ? { value, source: "config", origin: path }
        : { value, source: "flag", origin: `--${name}` };
    }
    const fromEnv = input.env[envName];
    if (fromEnv !== undefined && fromEnv !== "") return { value: fromEnv, source: "env", origin: envName };
    return undefined;
  };
  const url = pick("url", "FLOTILLA_URL") ?? {
    value: DEFAULT_URL,
    source: "default" as const,
    origin: "built-in default",
  };
  const token = pick("token", "FLOTILLA_TOKEN") ?? {
    value: undefined,
    source: "default" as const,
    origin: "none",
  };
  const ca = pick("ca", "FLOTILLA_CA") ?? { value: undefined, source: "default" as const, origin: "none" };
  try {
    parseCoordinatorUrls(url.value ?? "");
  } catch (error) {
    const why = isFlotillaError(error) ? error.message : String(error);
    throw new FlotillaError("E_CONFIG", `the coordinator URL from ${url.origin}: ${why}`, { cause: error });
  }
  return { url, token, ca, configPath: path };
}
