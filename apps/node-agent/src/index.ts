export * from "./exec.js";
export * from "./output.js";
export * from "./run.js";
