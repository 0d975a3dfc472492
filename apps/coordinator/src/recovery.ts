/**
 * Starting again from Redis. `recover` rebuilds the in-memory picture after a start or restart: a node
 * for each Flotilla agent in `agents:active` (its registry record, its breaker, its queue depth and its
 * running count), each waiting for its agent to reconnect within the heartbeat timeout (the failure
 * detector declares it dead after `deadAfterMs` without a hello, so a node that died while the coordinator
 * was down has its work requeued then). Nodes in `nodes:known` but not in `agents:active` that still hold
 * leases or queued tasks were left there by a crash in the middle of declaring them dead: they are
 * recovered too and returned, for the caller to declare dead at once. It runs once, in the server's
 * `start()`, before any connection is accepted; it adds nodes to `ctx.nodes` and restores breakers, and
 * holds no state afterwards.
 */
import type { NodeInfo } from "@flotilla/protocol";
import type { CoordinatorContext } from "./context.js";
import { type FleetNode, newFleetNode } from "./fleet.js";

/**
 * Rebuilds the fleet's nodes, breakers and counts from Redis. Returns the nodes that are not active but
 * hold work: the caller declares them dead (their work is requeued).
 */
export async function recover(ctx: CoordinatorContext, now: number): Promise<FleetNode[]> {
  const redis = ctx.redisClient;
  const keys = ctx.keys.redis;
  const [active, known] = await Promise.all([
    redis.smembers(keys.agentsActive),
    redis.smembers(ctx.keys.nodesKnown),
  ]);
  const activeSet = new Set(active);
  const inactive = known.filter((id) => !activeSet.has(id));
  const orphans: FleetNode[] = [];
  for (const id of [...active, ...inactive]) {
    const hash = await redis.hgetall(keys.agent(id));
    if (hash.type !== undefined && hash.type !== "flotilla") continue;
    const node = newFleetNode(id, now);
    node.host = hash.host ?? id;
    node.slots = Number(hash.slots ?? 1) || 1;
    try {
      node.capabilities = JSON.parse(hash.capabilities ?? "[]") as string[];
      node.labels = JSON.parse(hash.labels ?? "{}") as Record<string, string>;
      if (hash.fingerprint) node.fingerprint = JSON.parse(hash.fingerprint) as NodeInfo["fingerprint"];
    } catch {
      ctx.log.warn({ node: id }, "unreadable registry record; waiting for the agent's hello");
    }
    node.draining = hash.draining === "true";
    // Its agent has not reconnected yet: give it the heartbeat timeout to do so, not the suspect grace.
    node.disconnectedAt = undefined;
    if (!activeSet.has(id)) {
      const [running, queued] = await Promise.all([
        redis.scard(ctx.keys.store.running(id)),
        redis.zcard(ctx.keys.store.queue(id)),
      ]);
      // Out of the fleet with nothing left behind: it stays out until its agent says hello.
      if (running === 0 && queued === 0) continue;
      orphans.push(node);
    }
    ctx.nodes.set(id, node);
    const breaker = await redis.get(keys.breaker(id));
    if (breaker) ctx.breakers.restore(id, breaker);
  }
  const depths = await ctx.db.queueDepths([...ctx.nodes.keys()]);
  for (const [id, depth] of depths) {
    const node = ctx.nodes.get(id);
    if (node) node.queued = depth;
  }
  for (const node of ctx.nodes.values()) {
    const running = await ctx.db.runningIds(node.id);
    node.inflight = running.length;
  }
  if (ctx.nodes.size > 0) {
    ctx.log.info(
      { nodes: [...ctx.nodes.keys()], orphaned: orphans.map((node) => node.id) },
      "recovered fleet from Redis; waiting for agents to reconnect",
    );
  }
  return orphans;
}
