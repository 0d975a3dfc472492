export { type Coordinator, createCoordinator, publicTask } from "./coordinator.js";
export type { CoordinatorOptions } from "./options.js";
