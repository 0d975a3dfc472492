/** The CLI's test harness: `flotilla` run in-process against captured streams and a coordinator double. */
import { FakeCoordinator, type FakeCoordinatorOptions } from "@flotilla/client/testing";
import { afterEach } from "vitest";
import { type CliIo, runMain } from "./cli.js";

export interface Sink {
  text: string;
  isTTY?: boolean;
  write(text: string): boolean;
}

function sink(isTTY = false): Sink {
  const stream: Sink = {
    text: "",
    isTTY,
    write(text) {
      stream.text += text;
      return true;
    },
  };
  return stream;
}

export interface Harness {
  stdout: Sink;
  stderr: Sink;
  interrupt(): void;
  run(...argv: string[]): Promise<number>;
}

export function harness(
  env: Record<string, string> = {},
  options: { tty?: boolean; files?: Record<string, string> } = {},
) {
  const stdout = sink();
  const stderr = sink(options.tty ?? false);
  const handlers = new Set<() => void>();
  const io: CliIo = {
    stdout,
    stderr,
    env,
    homedir: "/home/test",
    readFile: (path) => options.files?.[path],
    onInterrupt(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
  };
  const result: Harness = {
    stdout,
    stderr,
    interrupt: () => {
      for (const handler of handlers) handler();
    },
    run: (...argv) => runMain(argv, io),
  };
  return result;
}

export const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

export async function fleet(options: FakeCoordinatorOptions = {}) {
  const fake = await FakeCoordinator.start(options);
  cleanups.push(() => fake.close());
  return { fake, cli: harness({ FLOTILLA_URL: fake.url }) };
}
