export * from "./agent.js";
export * from "./call.js";
export * from "./exec.js";
export * from "./fingerprint.js";
export * from "./output.js";
export * from "./run.js";
export { AGENT_VERSION } from "./version.js";
