import { WebSocketServer } from "ws";

/** A WebSocket server that sends every frame straight back: the floor under any round trip. */
const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
server.on("connection", (socket) => {
  socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
});
server.on("listening", () => {
  const address = server.address();
  if (typeof address === "object" && address !== null) process.stdout.write(`echo ready ${address.port}\n`);
});
