import type { Message, MessageType } from "./messages.js";

/** Hand-written validators for the hottest message types; filled in once measured. */
export const fastPaths: Partial<
  Record<MessageType, (value: Record<string, unknown>) => Message | undefined>
> = {};
