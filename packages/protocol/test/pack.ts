/**
 * Packaging check helpers, package-agnostic so other Flotilla packages can reuse them: build, `pnpm pack`,
 * install the tarball into a throw-away project the way an outside user would, then run Node and `tsc` there.
 */
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The repository root, whose `tsc` and `tsup` are used. */
const repoRoot = join(import.meta.dirname, "..", "..", "..");
const bin = (name: string) => join(repoRoot, "node_modules", ".bin", name);

/** Runs a command; on failure the error says what it printed, so a broken package reads as such. */
function run(command: string, args: string[], cwd: string): string {
  try {
    return execFileSync(command, args, {
      cwd,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 300_000,
    });
  } catch (error) {
    const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(" ")} failed:\n${stdout}${stderr}`, { cause: error });
  }
}

/** A temporary project with one packed package installed. */
export interface PackedProject {
  /** The consumer project directory (has `node_modules/<package>`). */
  dir: string;
  /** Paths inside the tarball, e.g. `package/dist/index.js`. */
  tarballFiles: string[];
  /** Runs an ES module snippet with plain Node in the project; returns stdout. */
  runModule(source: string): string;
  /** Writes `consumer.ts` and type-checks it with the repository's `tsc` (module/moduleResolution nodenext). */
  typecheck(source: string): string;
  /** Deletes the project. */
  dispose(): void;
}

/**
 * Builds the package with its own tsup config straight into a staging directory and copies the published
 * files next to it, so the check never rewrites the package's `dist/` while other suites may read it.
 */
function stage(packageDir: string, dir: string): string {
  const staged = join(dir, "stage");
  run(bin("tsup"), ["--out-dir", join(staged, "dist")], packageDir);
  for (const entry of ["package.json", "README.md", "src", "schemas", "vectors"]) {
    if (existsSync(join(packageDir, entry)))
      cpSync(join(packageDir, entry), join(staged, entry), { recursive: true });
  }
  return staged;
}

/** Builds `packageDir` (into a stage, see {@link stage}), packs it, and installs the tarball into a fresh project. */
export function packAndInstall(packageDir: string): PackedProject {
  const dir = mkdtempSync(join(tmpdir(), "flotilla-pack-"));
  try {
    const staged = stage(packageDir, dir);
    const packDir = join(dir, "tarball");
    mkdirSync(packDir);
    // npm, not pnpm: the stage is outside the workspace, where a corepack-managed pnpm has no pinned version.
    run("npm", ["pack", "--pack-destination", packDir, "--loglevel=error"], staged);
    const tarball = readdirSync(packDir).find((name) => name.endsWith(".tgz"));
    if (tarball === undefined) throw new Error("npm pack wrote no tarball");
    const tarballPath = join(packDir, tarball);
    const tarballFiles = run("tar", ["-tzf", tarballPath], dir).trim().split("\n");
    const project = join(dir, "consumer");
    mkdirSync(project);
    writeFileSync(
      join(project, "package.json"),
      JSON.stringify({ name: "consumer", private: true, type: "module" }),
    );
    run(
      "npm",
      ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", tarballPath],
      project,
    );
    return {
      dir: project,
      tarballFiles,
      runModule: (source) => run(process.execPath, ["--input-type=module", "-e", source], project),
      typecheck: (source) => {
        writeFileSync(join(project, "consumer.ts"), source);
        writeFileSync(
          join(project, "tsconfig.json"),
          JSON.stringify({
            compilerOptions: {
              target: "ES2023",
              // DOM for `URL` and `console`, which zod's own typings name; no @types/node on purpose.
              lib: ["ES2023", "DOM"],
              module: "nodenext",
              moduleResolution: "nodenext",
              strict: true,
              exactOptionalPropertyTypes: true,
              noUncheckedIndexedAccess: true,
              types: [],
              noEmit: true,
            },
            files: ["consumer.ts"],
          }),
        );
        return run(bin("tsc"), ["-p", "tsconfig.json"], project);
      },
      dispose: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
