export { type Coordinator, createCoordinator } from "./coordinator.js";
export type { CoordinatorOptions } from "./options.js";
export { publicTask } from "./records.js";
