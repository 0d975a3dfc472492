/**
 * Which peers talk to each other. Every frame carries the wire version `v` ({@link PROTOCOL_VERSION});
 * `agent.hello` also says `protocol` and a client says it in the `Flotilla-Protocol` header of its
 * WebSocket upgrade, so a coordinator can refuse a peer it cannot serve before any work moves, with a
 * message naming both versions and which side to upgrade. A peer that says nothing predates the field
 * and speaks version 1, which every coordinator so far accepts.
 */
import { PROTOCOL_VERSION } from "./primitives.js";

/** The oldest protocol version of an agent or client this build still serves. */
export const MIN_PROTOCOL_VERSION = 1;

/** The header a client's upgrade request says its protocol version in. */
export const PROTOCOL_HEADER = "flotilla-protocol";

/** The header a refused upgrade says why in (HTTP 426). */
export const REFUSAL_HEADER = "flotilla-refusal";

/** The WebSocket close code of a connection refused for its protocol version. */
export const CLOSE_PROTOCOL_VERSION = 4426;

/** A peer as far as compatibility goes. */
export interface ProtocolPeer {
  role: "agent" | "client";
  /** Its protocol version (absent: 1, from before the field). */
  protocol: number | undefined;
  /** Its software, e.g. `flotilla-agent 0.3.0`, when it says. */
  software?: string;
}

/**
 * Undefined when the coordinator (`coordinator`, e.g. `flotilla-coordinator 0.1.0`) serves the peer, else
 * the refusal: both versions and what to upgrade. Short enough for a WebSocket close reason (123 bytes).
 */
export function protocolRefusal(peer: ProtocolPeer, coordinator: string): string | undefined {
  const version = peer.protocol ?? 1;
  if (version >= MIN_PROTOCOL_VERSION && version <= PROTOCOL_VERSION) return undefined;
  const upgrade = version > PROTOCOL_VERSION ? "the coordinator" : `this ${peer.role}`;
  const who = peer.software ?? peer.role;
  return `${who} speaks protocol ${version}, ${coordinator} speaks ${PROTOCOL_VERSION}: upgrade ${upgrade}`;
}
