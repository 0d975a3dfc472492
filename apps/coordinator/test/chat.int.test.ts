import { connect } from "@flotilla/client";
import { waitFor } from "@flotilla/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFleet, type TestFleet } from "./fleet.js";

describe("kept chat: inboxes, broadcasts and named topics", () => {
  let fleet: TestFleet;
  let redis: Redis;

  beforeAll(async () => {
    fleet = await startFleet();
    redis = new Redis(fleet.redis.url);
  });
  afterAll(async () => {
    redis.disconnect();
    await fleet.dispose();
  });

  it("keeps direct messages and broadcasts for a reader who comes later, in order, after a cursor", async () => {
    const sender = await fleet.client();
    await sender.chat.send("mac-mini", "build the docs", { branch: "main" });
    await sender.chat.broadcast("deploy at 5");
    // A bridge that speaks only Redis writes to the inbox channel; the coordinator keeps that too.
    await redis.publish("agent:mac-mini:messages", JSON.stringify({ from: "py-bridge", message: "ping" }));
    const late = await connect({ url: fleet.coordinator.url, token: fleet.token });
    fleet.clients.push(late);
    const inbox = await waitFor(
      async () => {
        const read = await late.chat.inbox("mac-mini");
        return read.messages.length >= 3 ? read : undefined;
      },
      { what: "the bridge's message in the inbox" },
    );
    expect(inbox.messages.map((message) => [message.channel, message.message])).toEqual([
      ["direct", "build the docs"],
      ["broadcast", "deploy at 5"],
      ["direct", "ping"],
    ]);
    expect(inbox.messages[0]).toMatchObject({
      from: sender.clientId,
      to: "mac-mini",
      data: { branch: "main" },
    });
    expect(inbox.messages[2]?.from).toBe("py-bridge");
    const first = inbox.messages[0]?.seq ?? "";
    const after = await late.chat.inbox("mac-mini", { since: first });
    expect(after.messages.map((message) => message.message)).toEqual(["deploy at 5", "ping"]);
    const noBroadcasts = await late.chat.inbox("mac-mini", { broadcasts: false });
    expect(noBroadcasts.messages.map((message) => message.message)).toEqual(["build the docs", "ping"]);
    expect((await late.chat.inbox("linux-box", { broadcasts: false })).messages).toEqual([]);
  });

  it("publishes a topic live on agents:topic:{name} and keeps it in a bounded stream", async () => {
    const listener = redis.duplicate();
    const heard: string[] = [];
    await listener.subscribe("agents:topic:builds");
    listener.on("message", (_channel, raw) => heard.push(raw));
    const client = await fleet.client();
    const published = await client.chat.publish("builds", "main is green", { sha: "4cc2d3f" });
    // The listener here and the coordinator's own relay, which keeps what bridges publish on topics.
    expect(published.receivers).toBe(2);
    await client.chat.publish("builds", "release cut");
    const all = await client.chat.topic("builds");
    expect(all.messages.map((message) => message.message)).toEqual(["main is green", "release cut"]);
    expect(all.messages[0]).toMatchObject({ seq: published.seq, topic: "builds", data: { sha: "4cc2d3f" } });
    expect(all.next).toBe(all.messages[1]?.seq);
    expect((await client.chat.topic("builds", { since: all.next })).messages).toEqual([]);
    expect(await redis.xlen("agents:topic:builds")).toBe(2);
    // A bridge that publishes on the topic's channel itself is kept too.
    await redis.publish("agents:topic:builds", JSON.stringify({ from: "py-bridge", message: "nightly red" }));
    const kept = await waitFor(
      async () => {
        const read = await client.chat.topic("builds", { since: all.next });
        return read.messages.length > 0 ? read : undefined;
      },
      { what: "the bridge's topic message kept" },
    );
    expect(kept.messages).toMatchObject([{ from: "py-bridge", message: "nightly red", topic: "builds" }]);
    expect(JSON.parse(heard[0] ?? "{}")).toMatchObject({
      type: "topic",
      topic: "builds",
      message: "main is green",
    });
    listener.disconnect();
  });
});
