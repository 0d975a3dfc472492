export type {
  Alert,
  AlertRule,
  FleetHistory,
  FleetSample,
  HistorySample,
  NodeSample,
} from "@flotilla/protocol";
export { type ErrorCode, FlotillaError, isFlotillaError } from "@flotilla/protocol";
export { type BackoffOptions, fullJitterDelay } from "./backoff.js";
export { browserSocket } from "./browser-socket.js";
export type { ChatApi, ReadKeptOptions } from "./chat.js";
export { connect, FlotillaClient } from "./client.js";
export type {
  AlertsOptions,
  ConnectOptions,
  DlqApi,
  HistoryOptions,
  RequestOptions,
  SubmitOptions,
  TaskUpdate,
} from "./client-options.js";
export type { ReconnectOptions, WebSocketFactory, WebSocketLike } from "./connection.js";
export { clientEndpoint, clientEndpoints } from "./endpoints.js";
export { createProjectsApi, type NextTaskResult, type ProjectActor, type ProjectsApi } from "./projects.js";
export { MAX_BATCH_BYTES, type SubmitManyOptions, type SubmitManyResult } from "./submit-many.js";
export { type TaskHandle, type TaskResult, toResult, type WatchOptions } from "./task-handle.js";
export * from "./wire.js";
