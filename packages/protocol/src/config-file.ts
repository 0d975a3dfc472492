import { FlotillaError } from "./errors.js";

/** A flag as `node:util`'s `parseArgs` describes it. */
export interface FlagSpec {
  type: "string" | "boolean";
  multiple?: boolean;
}

/** What `parseArgs` gives for a set of flags: a string (or strings, for a repeatable flag) per flag. */
export type FlagValues = Record<string, string | string[] | boolean>;

/**
 * The settings of a JSON config file, as the command's flags would give them, so a command can read
 * flags, environment and file the same way. Each key is a flag's name (`"token-file"`, `"heartbeat-ms"`);
 * a value is a string, a number or a boolean, and a repeatable flag (`label`, `node-token`) takes a list
 * of `k=v` strings or an object `{ "k": "v" }`. An unknown key is an error rather than ignored, so a typo
 * does not quietly leave a setting at its default. `source` names the file in error messages.
 */
export function configFileValues(
  text: string,
  source: string,
  flags: Readonly<Record<string, FlagSpec>>,
  notInFile: readonly string[] = ["help"],
): FlagValues {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw configError(source, `is not valid JSON (${(error as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw configError(source, 'must hold one JSON object, e.g. { "port": 7420 }');
  }
  const values: FlagValues = {};
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    const spec = Object.hasOwn(flags, key) && !notInFile.includes(key) ? flags[key] : undefined;
    if (spec === undefined) {
      const known = Object.keys(flags).filter((name) => !notInFile.includes(name));
      throw configError(source, `has an unknown setting "${key}" (known: ${known.join(", ")})`);
    }
    if (value === null) continue;
    if (spec.type === "boolean") {
      if (typeof value !== "boolean") throw configError(source, `"${key}" must be true or false`);
      values[key] = value;
    } else if (spec.multiple) {
      values[key] = listOf(value, key, source);
    } else {
      values[key] = scalar(value, key, source);
    }
  }
  return values;
}

function scalar(value: unknown, key: string, source: string): string {
  if (typeof value === "string") return value;
  if ((typeof value === "number" && Number.isFinite(value)) || typeof value === "boolean")
    return String(value);
  throw configError(source, `"${key}" must be a string or a number`);
}

function listOf(value: unknown, key: string, source: string): string[] {
  if (Array.isArray(value)) return value.map((item) => scalar(item, key, source));
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).map(([name, item]) => `${name}=${scalar(item, key, source)}`);
  }
  return [scalar(value, key, source)];
}

function configError(source: string, problem: string): FlotillaError {
  return new FlotillaError("E_CONFIG", `config file ${source} ${problem}`);
}

/**
 * Settings an environment variable gives, for {@link layerSettings}: the variable, and the flags whose
 * file values it replaces (several when they are one setting, as a token and a token file are).
 */
export type EnvironmentSettings = readonly (readonly [variable: string, flags: readonly string[]])[];

/**
 * Flags over environment over config file: the file's values, less those a set environment variable or
 * a given flag replaces (a whole group, see {@link EnvironmentSettings}), under the flags' own. The
 * caller reads the environment variables itself where the result has no value. `fromFile` names the
 * settings whose value is the file's.
 */
export function layerSettings(
  flags: FlagValues,
  file: FlagValues,
  env: Readonly<Record<string, string | undefined>>,
  environment: EnvironmentSettings,
): { values: FlagValues; fromFile: string[] } {
  const kept: FlagValues = { ...file };
  for (const [variable, names] of environment) {
    const replaced = (env[variable] ?? "") !== "" || names.some((name) => flags[name] !== undefined);
    if (replaced) for (const name of names) delete kept[name];
  }
  const fromFile = Object.keys(kept).filter((name) => flags[name] === undefined);
  return { values: { ...kept, ...flags }, fromFile };
}
