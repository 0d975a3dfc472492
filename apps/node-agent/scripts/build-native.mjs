// Builds the native spawn helper (native/spawn-helper.c) with the machine's C compiler: $CC, else cc.
// Runs on install and with `pnpm build`, and does nothing while the build is of the current source (a
// stamp beside it holds the hash of the source, the compiler and the flags it was built from).
// Where no compiler is found (or it fails) the agent spawns through its Node.js helper instead, so that
// is not an error here unless FLOTILLA_NATIVE=required (CI sets it); FLOTILLA_NATIVE=skip builds nothing.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const mode = process.env.FLOTILLA_NATIVE ?? "";
const source = fileURLToPath(new URL("../native/spawn-helper.c", import.meta.url));
const target = fileURLToPath(new URL("../native/build/flotilla-spawn-helper", import.meta.url));
const FLAGS = ["-O2", "-std=c11", "-Wall", "-Wextra"];

const read = (path) => {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
};

function build() {
  if (mode === "skip" || process.platform === "win32") return "skipped";
  const code = read(source);
  if (code === undefined) return "source missing";
  const compiler = process.env.CC || "cc";
  const stamp = createHash("sha256")
    .update(code)
    .update(`\0${compiler}\0${FLAGS.join(" ")}`)
    .digest("hex");
  if (existsSync(target) && read(`${target}.stamp`)?.toString() === stamp) return "up to date";
  mkdirSync(fileURLToPath(new URL("../native/build/", import.meta.url)), { recursive: true });
  // Built beside the target and renamed over it: a helper starting meanwhile runs the old or the new one.
  const temporary = `${target}.${process.pid}.tmp`;
  const result = spawnSync(compiler, [...FLAGS, "-o", temporary, source], {
    encoding: "utf8",
  });
  if (result.error !== undefined || result.status !== 0) {
    rmSync(temporary, { force: true });
    const why = result.error?.message ?? result.stderr.trim();
    return `failed: ${compiler}: ${why}`;
  }
  renameSync(temporary, target);
  writeFileSync(`${target}.stamp`, stamp);
  return "built";
}

const outcome = build();
if (outcome.startsWith("failed") || outcome === "source missing") {
  const message = `flotilla native spawn helper not built (${outcome}); the agent will start commands through its Node.js helper, at about 3x the CPU per command (install a C compiler, e.g. xcode-select --install, and reinstall to build it)`;
  if (mode === "required") {
    console.error(message);
    process.exit(1);
  }
  console.warn(message);
} else if (outcome === "built") {
  console.log(`flotilla native spawn helper built: ${target}`);
}
