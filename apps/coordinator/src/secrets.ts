/**
 * A task's secret environment (`spec.secretEnv`): sealed before the spec reaches Redis, opened for the
 * lease sent to the agent, masked in every record a reader gets. Each value is encrypted on its own with
 * AES-256-GCM under the coordinator's key (a file of 32 random bytes, made with mode 0600 on first use),
 * with a random IV and the task id as additional data, so a sealed value copied onto another task does
 * not open. The key is read once, when the first task with secrets comes or goes; tasks without secrets
 * never touch it. Standby coordinators must be given the same key file.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { FlotillaError, SECRET_MASK, type TaskSpec } from "@flotilla/protocol";

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Marks a sealed value, and its format, so a value stored by a later format is told apart. */
const SEALED_PREFIX = "sealed:v1:";

/**
 * Where the key lives unless `--secret-key-file` says otherwise: beside the token file when one is
 * given, else `~/.flotilla/secret.key`.
 */
export function defaultSecretKeyFile(tokenFile?: string): string {
  return tokenFile === undefined
    ? join(homedir(), ".flotilla", "secret.key")
    : join(dirname(tokenFile), "secret.key");
}

/**
 * The key in `file`, made (32 random bytes, mode 0600) when the file does not exist; `E_CONFIG` when it
 * cannot be read or made, or is not a key.
 */
function loadKey(file: string): Buffer {
  let key: Buffer;
  try {
    key = readOrMakeKey(file);
  } catch (error) {
    throw new FlotillaError(
      "E_CONFIG",
      `cannot read or make the secret key file ${file}: ${(error as Error).message}`,
    );
  }
  if (key.length !== KEY_BYTES) {
    throw new FlotillaError(
      "E_CONFIG",
      `the secret key file ${file} holds ${key.length} bytes, not ${KEY_BYTES}; give the fleet's key file`,
    );
  }
  return key;
}

function readOrMakeKey(file: string): Buffer {
  let key: Buffer;
  try {
    key = readFileSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    key = randomBytes(KEY_BYTES);
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // `wx`: two coordinators starting at once must not each write a key of their own over the other's.
    try {
      writeFileSync(file, key, { mode: 0o600, flag: "wx" });
    } catch (raced) {
      if ((raced as NodeJS.ErrnoException).code !== "EEXIST") throw raced;
      key = readFileSync(file);
    }
  }
  return key;
}

/** Whether `spec` carries secrets (only `exec` specs may). */
export function hasSecrets(spec: TaskSpec): spec is TaskSpec & { kind: "exec" } {
  return spec.kind === "exec" && spec.secretEnv !== undefined;
}

/** A spec as a reader may see it: each `secretEnv` value replaced by `***`. Other specs come back as they are. */
export function maskSecrets(spec: unknown): unknown {
  if (typeof spec !== "object" || spec === null) return spec;
  const secretEnv = (spec as { secretEnv?: unknown }).secretEnv;
  if (typeof secretEnv !== "object" || secretEnv === null) return spec;
  const masked: Record<string, string> = {};
  for (const name of Object.keys(secretEnv)) masked[name] = SECRET_MASK;
  return { ...spec, secretEnv: masked };
}

/** Seals and opens the secret values of task specs with the coordinator's key. */
export class SecretBox {
  private key: Buffer | undefined;

  /** `keyFile`: the key's path; read (or made) on first use. */
  constructor(private readonly keyFile: string) {}

  private currentKey(): Buffer {
    this.key ??= loadKey(this.keyFile);
    return this.key;
  }

  /** `spec` with each `secretEnv` value encrypted for task `taskId`: what Redis may hold. */
  seal(taskId: string, spec: TaskSpec & { kind: "exec" }): TaskSpec {
    const key = this.currentKey();
    const sealed: Record<string, string> = {};
    for (const [name, value] of Object.entries(spec.secretEnv ?? {})) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      cipher.setAAD(Buffer.from(taskId));
      const body = Buffer.concat([cipher.update(value, "utf8"), cipher.final()]);
      sealed[name] = SEALED_PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64");
    }
    return { ...spec, secretEnv: sealed };
  }

  /**
   * The spec as stored, with its secret values decrypted, for the agent. Throws `E_CONFIG` when a value
   * does not open: the key file is missing or another than the one the task was sealed with.
   */
  open(taskId: string, spec: TaskSpec & { kind: "exec" }): TaskSpec {
    const opened: Record<string, string> = {};
    for (const [name, value] of Object.entries(spec.secretEnv ?? {})) {
      opened[name] = this.openValue(taskId, name, value);
    }
    return { ...spec, secretEnv: opened };
  }

  /**
   * The spec JSON of a lease on a task with secrets: decrypted, or, when they do not open, without them
   * and with the reason (the agent then fails the run with it; see `task.assign.secretsError`).
   */
  forLease(taskId: string, spec: TaskSpec & { kind: "exec" }): { specJson: string; error?: string } {
    try {
      return { specJson: JSON.stringify(this.open(taskId, spec)) };
    } catch (error) {
      const { secretEnv: _sealed, ...rest } = spec;
      return { specJson: JSON.stringify(rest), error: (error as Error).message };
    }
  }

  private openValue(taskId: string, name: string, value: string): string {
    const why = `the secret ${name} of task ${taskId} could not be decrypted`;
    if (!value.startsWith(SEALED_PREFIX))
      throw new FlotillaError("E_CONFIG", `${why}: it is not stored sealed`);
    let key: Buffer;
    try {
      key = this.currentKey();
    } catch (error) {
      throw new FlotillaError("E_CONFIG", `${why}: ${(error as Error).message}`);
    }
    // A missing key file was made anew by currentKey(): the value then fails to open below, saying so.
    const raw = Buffer.from(value.slice(SEALED_PREFIX.length), "base64");
    try {
      const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(taskId));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      const body = raw.subarray(IV_BYTES + TAG_BYTES);
      return Buffer.concat([decipher.update(body), decipher.final()]).toString("utf8");
    } catch {
      throw new FlotillaError(
        "E_CONFIG",
        `${why}: the coordinator's secret key file (${this.keyFile}) is not the one it was sealed with; give every coordinator of the fleet the same --secret-key-file`,
      );
    }
  }
}
