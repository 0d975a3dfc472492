// What spawning `true` costs without Flotilla, measured in a plain Node.js process (no loader, small
// heap: forking costs in proportion to the parent's memory, so the bench's own process would flatter the
// fleet). `node raw-spawn.mjs latency <count>` prints the sorted latencies of one spawn at a time, in ms;
// `node raw-spawn.mjs rate <count> <in flight>` prints spawns per second. One JSON line either way.
import { spawn } from "node:child_process";

const [mode, countArg, inFlightArg] = process.argv.slice(2);
const count = Number(countArg);

function spawnTrue() {
  return new Promise((resolve, reject) => {
    const child = spawn("true", [], { stdio: "ignore" });
    child.once("error", reject);
    child.once("exit", () => resolve());
  });
}

if (mode === "latency") {
  const samples = [];
  for (let i = 0; i < count; i += 1) {
    const started = performance.now();
    await spawnTrue();
    samples.push(performance.now() - started);
  }
  process.stdout.write(`${JSON.stringify({ samples: samples.sort((a, b) => a - b) })}\n`);
} else if (mode === "rate") {
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < count) {
      next += 1;
      await spawnTrue();
    }
  };
  await Promise.all(Array.from({ length: Number(inFlightArg) }, worker));
  process.stdout.write(`${JSON.stringify({ per_s: count / ((performance.now() - started) / 1000) })}\n`);
} else {
  process.stderr.write("usage: raw-spawn.mjs latency <count> | rate <count> <in flight>\n");
  process.exit(2);
}
