export * from "./fleet.js";
export * from "./ports.js";
export * from "./process.js";
export * from "./redis.js";
export * from "./tls.js";
