import type { NodeView, TaskView } from "../types.js";
import { type BalancingStrategy, isAvailable, type StrategyOptions } from "./strategy.js";

/** A 32-bit hash of a string (FNV-1a followed by a murmur3 finaliser for avalanche). */
export function hash32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

interface Ring {
  signature: string;
  points: Uint32Array;
  owners: string[];
}

/**
 * Consistent hashing with bounded loads. Each node owns `virtualNodes` points on a hash ring; a task goes to
 * the first node clockwise from the hash of its `affinityKey` (its id when it has none) whose load (running
 * plus queued) is below `ceil(c × (total load + 1) / nodes)`. The same key keeps landing on the same node
 * (warm caches, build directories) unless that node is overloaded; when a node joins only about `1/n` of
 * the keys move. The ring is rebuilt only when the set of candidate ids changes.
 */
export class ConsistentHashStrategy implements BalancingStrategy {
  readonly name = "consistent_hash" as const;
  readonly #factor: number;
  readonly #virtualNodes: number;
  #ring: Ring | undefined;

  constructor(options: StrategyOptions = {}) {
    this.#factor = options.boundedLoadFactor ?? 1.25;
    this.#virtualNodes = options.virtualNodes ?? 64;
    if (!(this.#factor >= 1)) throw new RangeError("boundedLoadFactor must be >= 1");
    if (!(this.#virtualNodes >= 1)) throw new RangeError("virtualNodes must be >= 1");
  }

  select(nodes: readonly NodeView[], task: TaskView): NodeView | undefined {
    const byId = new Map<string, NodeView>();
    let totalLoad = 0;
    for (const node of nodes) {
      if (!isAvailable(node)) continue;
      byId.set(node.id, node);
      totalLoad += node.slotsUsed + node.queued;
    }
    if (byId.size === 0) return undefined;
    const ring = this.#ringFor([...byId.keys()]);
    const cap = Math.ceil((this.#factor * (totalLoad + 1)) / byId.size);
    const start = lowerBound(ring.points, hash32(task.affinityKey ?? task.id));
    const count = ring.points.length;
    for (let step = 0; step < count; step++) {
      const owner = ring.owners[(start + step) % count] as string;
      const node = byId.get(owner) as NodeView;
      if (node.slotsUsed + node.queued < cap) return node;
    }
    return undefined;
  }

  /** The node a key maps to with no load bound (for tests and diagnostics). */
  ownerOf(nodeIds: readonly string[], key: string): string | undefined {
    if (nodeIds.length === 0) return undefined;
    const ring = this.#ringFor(nodeIds);
    return ring.owners[lowerBound(ring.points, hash32(key)) % ring.points.length];
  }

  #ringFor(ids: readonly string[]): Ring {
    // The cache key keeps the caller's order (no sort per decision); a reordered list only costs a rebuild.
    const signature = ids.join("\u0000");
    if (this.#ring?.signature === signature) return this.#ring;
    const sorted = [...ids].sort();
    const entries: [number, string][] = [];
    for (const id of sorted) {
      for (let v = 0; v < this.#virtualNodes; v++) entries.push([hash32(`${id}#${v}`), id]);
    }
    entries.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1));
    this.#ring = {
      signature,
      points: Uint32Array.from(entries, (entry) => entry[0]),
      owners: entries.map((entry) => entry[1]),
    };
    return this.#ring;
  }
}

/** Index of the first point >= value, wrapping to 0 past the end. */
function lowerBound(points: Uint32Array, value: number): number {
  let low = 0;
  let high = points.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if ((points[mid] as number) < value) low = mid + 1;
    else high = mid;
  }
  return low === points.length ? 0 : low;
}
