import { connect, type WebSocketFactory } from "@flotilla/client";
import { CLOSE_PROTOCOL_VERSION, isFlotillaError, PROTOCOL_VERSION } from "@flotilla/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { COORDINATOR_VERSION } from "../src/version.js";
import { startFleet, type TestFleet } from "./fleet.js";
import { agentHello, rawSocket } from "./raw.js";

const COORDINATOR = `flotilla-coordinator ${COORDINATOR_VERSION}`;

describe("protocol versions", () => {
  let fleet: TestFleet;
  beforeAll(async () => {
    fleet = await startFleet();
  });
  afterAll(async () => {
    await fleet?.dispose();
  });

  it("welcomes an older agent whose hello says no protocol, and a current one that says it", async () => {
    const older = await rawSocket(fleet, "/v1/agent");
    const hello = agentHello("older", "h1") as Record<string, unknown>;
    expect(hello.protocol).toBeUndefined();
    older.socket.send(JSON.stringify(hello));
    await older.next((reply) => reply.type === "agent.welcome");
    older.socket.close();

    const agent = await fleet.addAgent({ id: "current" });
    const client = await fleet.client();
    expect((await client.nodes()).find((node) => node.id === "current")?.version).toBe("0.1.0");
    expect(agent.id).toBe("current");
  });

  it("refuses an agent of a newer protocol, naming both versions and what to upgrade", async () => {
    const newer = await rawSocket(fleet, "/v1/agent");
    const hello = agentHello("newer", "h2") as unknown as { node: { version: string } } & Record<
      string,
      unknown
    >;
    hello.node.version = "9.0.0";
    newer.socket.send(JSON.stringify({ ...hello, protocol: PROTOCOL_VERSION + 1 }));
    const refusal = await newer.next((reply) => reply.replyTo === "h2");
    expect(refusal).toMatchObject({ type: "error", code: "E_VERSION" });
    expect((refusal as { message?: string }).message).toBe(
      `flotilla-agent 9.0.0 speaks protocol ${PROTOCOL_VERSION + 1}, ${COORDINATOR} speaks ${PROTOCOL_VERSION}: upgrade the coordinator`,
    );
    expect(await newer.closed).toBe(CLOSE_PROTOCOL_VERSION);

    // A hello whose very frame format is newer gets the same answer.
    const newerWire = await rawSocket(fleet, "/v1/agent");
    newerWire.socket.send(JSON.stringify({ ...agentHello("newer", "h3"), v: PROTOCOL_VERSION + 1 }));
    const wire = await newerWire.next((reply) => reply.code === "E_VERSION");
    expect((wire as { message?: string }).message).toBe(
      `agent speaks protocol ${PROTOCOL_VERSION + 1}, ${COORDINATOR} speaks ${PROTOCOL_VERSION}: upgrade the coordinator`,
    );
    expect(await newerWire.closed).toBe(CLOSE_PROTOCOL_VERSION);
    const client = await fleet.client();
    expect((await client.nodes()).map((node) => node.id)).not.toContain("newer");
  });

  it("refuses a client whose upgrade says a protocol it cannot serve, and the client library says why", async () => {
    const olderClient: WebSocketFactory = (url, options) =>
      new WebSocket(url, { ...options, headers: { ...options.headers, "flotilla-protocol": "0" } });
    const error = await connect({
      url: fleet.coordinator.url,
      token: fleet.token,
      WebSocket: olderClient,
      reconnect: false,
    }).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(isFlotillaError(error) && error.code).toBe("E_VERSION");
    expect((error as Error).message).toBe(
      `client speaks protocol 0, ${COORDINATOR} speaks ${PROTOCOL_VERSION}: upgrade this client`,
    );
    // The library's own upgrade says the current version, which is served.
    const client = await connect({ url: fleet.coordinator.url, token: fleet.token });
    expect(await client.nodes()).toBeInstanceOf(Array);
    client.close();
  });
});
