/** One argument of a command: text, or a number written in decimal. */
export type RespArgument = string | number;

/**
 * Writes one Redis command in RESP (`*<n>\r\n` then `$<bytes>\r\n<arg>\r\n` for the name and each
 * argument) into one Buffer. The arguments are the concatenation of `lists`, so a caller with several
 * lists (keys, a header, arguments) does not join them first.
 *
 * ioredis builds the same bytes by string concatenation: for a batch of a few thousand arguments that is
 * tens of thousands of short-lived string pieces on the JavaScript heap (a fifth of everything the
 * coordinator allocated under load), flattened again when the socket writes them. A Buffer's bytes live
 * outside that heap, so the young generation fills, and is scavenged, that much less often.
 *
 * One pass: each string is written once, by Buffer's own code, with its length in characters as its
 * `$<bytes>`, which is right for ASCII (nearly every argument: keys, ids, JSON of ids and numbers); the
 * few that are not are given their real length afterwards, moved along if it has more digits. Measuring
 * every string first and writing it then cost a fifth more (`bench/encode.bench.ts`).
 */
export function encodeCommand(name: string, lists: readonly (readonly RespArgument[])[]): Buffer {
  let count = 0;
  for (const list of lists) count += list.length;
  let out = room(0, 32 + name.length);
  let at = writeHeader(out, 0, 42 /* * */, count + 1);
  at = writeText(out, at, name);
  for (const list of lists) {
    for (const arg of list) {
      if (typeof arg === "number") {
        out = room(at, MAX_NUMBER_BULK);
        at = writeNumber(out, at, arg);
      } else {
        // At most three bytes per UTF-16 unit, and the `$<bytes>\r\n` and `\r\n` around them.
        out = room(at, 3 * arg.length + 15);
        at = writeText(out, at, arg);
      }
    }
  }
  const command = Buffer.allocUnsafe(at);
  out.copy(command, 0, 0, at);
  // A batch of large output chunks grows the scratch buffer; it is not kept at that size for good.
  if (scratch.length > MAX_KEPT_SCRATCH) scratch = Buffer.allocUnsafe(SCRATCH_SIZE);
  return command;
}

const SCRATCH_SIZE = 64 * 1024;
const MAX_KEPT_SCRATCH = 1024 * 1024;

/**
 * Where commands are written before they are copied out at their exact size, reused from call to call
 * (one allocation and one copy per command instead of a measuring pass over every argument).
 */
let scratch = Buffer.allocUnsafe(SCRATCH_SIZE);

/** The scratch buffer, grown (keeping the first `at` bytes) so that `need` more bytes fit after `at`. */
function room(at: number, need: number): Buffer {
  if (at + need <= scratch.length) return scratch;
  let size = scratch.length * 2;
  while (size < at + need) size *= 2;
  const grown = Buffer.allocUnsafe(size);
  scratch.copy(grown, 0, 0, at);
  scratch = grown;
  return grown;
}

/** Digits of a length or count (a whole number below 2^31). */
function digits(n: number): number {
  if (n < 10) return 1;
  if (n < 100) return 2;
  if (n < 1_000) return 3;
  if (n < 10_000) return 4;
  if (n < 100_000) return 5;
  if (n < 1_000_000) return 6;
  if (n < 10_000_000) return 7;
  if (n < 100_000_000) return 8;
  if (n < 1_000_000_000) return 9;
  return 10;
}

function writeHeader(out: Buffer, at: number, marker: number, n: number): number {
  out[at] = marker;
  const end = at + 1 + digits(n);
  for (let pos = end - 1; pos > at; pos -= 1) {
    out[pos] = 48 + (n % 10);
    n = (n / 10) | 0;
  }
  out[end] = 13;
  out[end + 1] = 10;
  return end + 2;
}

/** `$<bytes>\r\n<text>\r\n`: written as ASCII first, then given its real length if it was not. */
function writeText(out: Buffer, at: number, text: string): number {
  const length = text.length;
  const pos = writeHeader(out, at, 36 /* $ */, length);
  const bytes = out.write(text, pos, "utf8");
  let end = pos + bytes;
  if (bytes !== length) {
    // UTF-8 has at least one byte per UTF-16 unit, so the length only grows, by whole digits if at all.
    const shift = digits(bytes) - digits(length);
    if (shift > 0) out.copyWithin(pos + shift, pos, end);
    writeHeader(out, at, 36 /* $ */, bytes);
    end += shift;
  }
  out[end] = 13;
  out[end + 1] = 10;
  return end + 2;
}

/**
 * Whole numbers from 0 up to 2^53 are written digit by digit, in two parts below 10^9 so the arithmetic
 * stays on small integers (timestamps have 13 digits); any other number as `String()` writes it.
 */
const BILLION = 1_000_000_000;
/** The most a number's bulk string can take: `String()` of a double is at most 24 characters. */
const MAX_NUMBER_BULK = 32;

function writeNumber(out: Buffer, at: number, n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) return writeText(out, at, String(n));
  let high = Math.floor(n / BILLION);
  let low = n - high * BILLION;
  const bytes = high > 0 ? digits(high) + 9 : digits(low);
  const pos = writeHeader(out, at, 36 /* $ */, bytes);
  let end = pos + bytes - 1;
  // The low nine digits (zero-padded when there is a high part), then the high ones.
  const lowDigits = high > 0 ? 9 : bytes;
  for (let i = 0; i < lowDigits; i += 1) {
    out[end--] = 48 + (low % 10);
    low = (low / 10) | 0;
  }
  while (end >= pos) {
    out[end--] = 48 + (high % 10);
    high = (high / 10) | 0;
  }
  out[pos + bytes] = 13;
  out[pos + bytes + 1] = 10;
  return pos + bytes + 2;
}
