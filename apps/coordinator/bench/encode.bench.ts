/**
 * What writing one batch command costs: ioredis's own encoding (a string built by concatenation, which
 * the socket then turns into bytes) against `encodeCommand` (straight into one Buffer). A batch of 256
 * calls of 7 keys and 40 arguments, the shape of a busy coordinator's submits. Prints JSON lines.
 *
 *   pnpm --filter @flotilla/coordinator bench:encode
 */

import { Command } from "ioredis";
import { encodeCommand, type RespArgument } from "../src/resp.js";

const CALLS = 256;
const keys: string[] = [];
const header: number[] = [CALLS];
const args: RespArgument[] = [];
for (let call = 0; call < CALLS; call += 1) {
  header.push(1, 7, 40);
  for (let k = 0; k < 7; k += 1) keys.push(`fl:task:{t-mx4s7351-${call.toString(36).padStart(8, "0")}}:${k}`);
  for (let a = 0; a < 40; a += 1) {
    args.push(
      a % 3 === 0
        ? 1_796_134_651_813 + a
        : a % 3 === 1
          ? `{"taskId":"t-mx4s7351-0${call}","state":"queued","at":1796134651813}`
          : "leased",
    );
  }
}
const sha = "fed91bfb86d17ae7af65013049f42731ad630b98";

function viaIoredis(): Buffer {
  const command = new Command("evalsha", [], { replyEncoding: "utf8" });
  command.args = [sha, String(keys.length)].concat(keys, header.map(String), args.map(String));
  return Buffer.from(command.toWritable({}) as string);
}
const viaBuffer = (): Buffer => encodeCommand("evalsha", [[sha, keys.length], keys, header, args]);

if (!viaIoredis().equals(viaBuffer())) throw new Error("the two encodings differ");
const rounds = Number(process.env.BENCH_ROUNDS ?? 300);
for (let pass = 0; pass < 3; pass += 1) {
  for (const [how, encode] of [
    ["ioredis", viaIoredis],
    ["encodeCommand", viaBuffer],
  ] as const) {
    const heapBefore = process.memoryUsage().heapUsed;
    const started = performance.now();
    for (let i = 0; i < rounds; i += 1) encode();
    const us = ((performance.now() - started) / rounds) * 1000;
    // The last pass is the one reported: the first two warm the code up.
    if (pass === 2) {
      const line = {
        bench: "encode_batch",
        how,
        calls: CALLS,
        arguments: 2 + keys.length + header.length + args.length,
      };
      process.stdout.write(
        `${JSON.stringify({ ...line, us_per_batch: Math.round(us), heap_growth_kb: Math.round((process.memoryUsage().heapUsed - heapBefore) / 1024) })}\n`,
      );
    }
  }
}
