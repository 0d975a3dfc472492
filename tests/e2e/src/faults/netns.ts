import { execFileSync } from "node:child_process";

/** One agent's own network: a namespace joined to the host by a veth pair on a /30 of 10.231.0.0/16. */
export interface AgentNetwork {
  namespace: string;
  hostSide: string;
  hostAddress: string;
  agentAddress: string;
}

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** Whether this machine lets us create network namespaces (root, iproute2). */
export function namespacesAvailable(): { ok: true } | { ok: false; why: string } {
  const probe = `flprobe${process.pid}`;
  try {
    ip("netns", "add", probe);
    ip("netns", "del", probe);
    return { ok: true };
  } catch (error) {
    return { ok: false, why: (error as { stderr?: Buffer }).stderr?.toString().trim() || String(error) };
  }
}

/** Creates `count` namespaces, each with a veth pair to the host; returns them for {@link removeNetworks}. */
export function createNetworks(count: number): AgentNetwork[] {
  const networks: AgentNetwork[] = [];
  const tag = (process.pid % 10_000).toString(36);
  for (let index = 0; index < count; index += 1) {
    const subnet = 100 + ((process.pid + index) % 100);
    const network: AgentNetwork = {
      namespace: `fl${tag}n${index}`,
      hostSide: `fl${tag}h${index}`,
      hostAddress: `10.231.${subnet}.1`,
      agentAddress: `10.231.${subnet}.2`,
    };
    const agentSide = `fl${tag}a${index}`;
    ip("netns", "add", network.namespace);
    ip("link", "add", network.hostSide, "type", "veth", "peer", "name", agentSide);
    ip("link", "set", agentSide, "netns", network.namespace);
    ip("addr", "add", `${network.hostAddress}/30`, "dev", network.hostSide);
    ip("link", "set", network.hostSide, "up");
    ip(
      "netns",
      "exec",
      network.namespace,
      "ip",
      "addr",
      "add",
      `${network.agentAddress}/30`,
      "dev",
      agentSide,
    );
    ip("netns", "exec", network.namespace, "ip", "link", "set", agentSide, "up");
    ip("netns", "exec", network.namespace, "ip", "link", "set", "lo", "up");
    networks.push(network);
  }
  return networks;
}

/** Cuts (down) or heals (up) the link between the host and one namespace. */
export function setLink(network: AgentNetwork, up: boolean): void {
  ip("link", "set", network.hostSide, up ? "up" : "down");
}

/** Removes the namespaces and their veth pairs. */
export function removeNetworks(networks: readonly AgentNetwork[]): void {
  for (const network of networks) {
    try {
      ip("link", "del", network.hostSide);
    } catch {}
    try {
      ip("netns", "del", network.namespace);
    } catch {}
  }
}
