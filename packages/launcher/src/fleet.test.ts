import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { nodeBin, shebangFlags } from "./fleet.js";

const dir = mkdtempSync(join(tmpdir(), "flotilla-shebang-"));
function entry(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe("nodeBin", () => {
  it("runs a built entry with the Node.js flags its shebang names", () => {
    const path = entry("flags.js", "#!/usr/bin/env -S node --max-semi-space-size=32 --no-warnings\nrun();\n");
    expect(shebangFlags(path)).toEqual(["--max-semi-space-size=32", "--no-warnings"]);
    expect(nodeBin(path)).toEqual({
      command: process.execPath,
      args: ["--max-semi-space-size=32", "--no-warnings", path],
    });
  });

  it("adds nothing for a plain shebang, another program, no shebang or no file", () => {
    expect(shebangFlags(entry("plain.js", "#!/usr/bin/env node\nrun();\n"))).toEqual([]);
    expect(shebangFlags(entry("other.js", "#!/usr/bin/env -S deno run --allow-all\n"))).toEqual([]);
    expect(shebangFlags(entry("none.js", "run();\n"))).toEqual([]);
    expect(shebangFlags(join(dir, "missing.js"))).toEqual([]);
    expect(nodeBin(join(dir, "missing.js")).args).toEqual([join(dir, "missing.js")]);
  });
});
