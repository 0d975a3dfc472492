import { mkdtemp, readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { TokenAuthority, tokenHash } from "./auth.js";
import { runCli } from "./cli.js";
import { readTokensFile } from "./tokens-file.js";

async function run(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { env: {}, out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out, err };
}

describe("flotilla-coordinator token add", () => {
  it("prints a new token once and appends only its hash to the file", async () => {
    const file = join(await mkdtemp(join(tmpdir(), "tokens-")), "tokens.json");
    const laptop = await run([
      "token",
      "add",
      "--scope",
      "submit",
      "--name",
      "laptop",
      "--tokens-file",
      file,
    ]);
    expect(laptop.code).toBe(0);
    expect(laptop.out).toHaveLength(1);
    const token = laptop.out[0] as string;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const node = await run([
      "token",
      "add",
      "--scope",
      "agent:mini",
      "--name",
      "mini",
      "--tokens-file",
      file,
    ]);
    expect(node.code).toBe(0);
    const text = await readFile(file, "utf8");
    expect(text).not.toContain(token);
    expect(JSON.parse(text)).toEqual({
      tokens: [
        { name: "laptop", scope: "submit", hash: tokenHash(token) },
        { name: "mini", scope: "agent:mini", hash: tokenHash(node.out[0] as string) },
      ],
    });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const authority = new TokenAuthority(undefined, {}, await readTokensFile(file));
    expect(authority.authenticate(token)).toEqual({ name: "laptop", scope: "submit" });
  });

  it("refuses a taken name, an unknown scope and missing flags", async () => {
    const file = join(await mkdtemp(join(tmpdir(), "tokens-")), "tokens.json");
    expect(
      (await run(["token", "add", "--scope", "read", "--name", "wall", "--tokens-file", file])).code,
    ).toBe(0);
    const again = await run(["token", "add", "--scope", "read", "--name", "wall", "--tokens-file", file]);
    expect(again.code).toBe(1);
    expect(again.err.join("\n")).toContain('already has a token named "wall"');
    expect((await run(["token", "add", "--scope", "root", "--name", "x", "--tokens-file", file])).code).toBe(
      2,
    );
    expect((await run(["token", "add", "--name", "x"])).code).toBe(2);
    const help = await run(["token", "add", "--help"]);
    expect(help.code).toBe(0);
    expect(help.out.join("\n")).toContain("agent:<node>");
  });
});
