import { join } from "node:path";
import { describe, expect, expectTypeOf, it } from "vitest";
import { packageRoot, readTree } from "../scripts/write-tree.js";
import * as protocol from "../src/index.js";
import { MESSAGE_SCHEMAS, MESSAGE_TYPES, type MessageOf, type MessageType } from "../src/index.js";

/** `task.submit` -> `TaskSubmit`: the stem of a type's exported names. */
function stem(type: string): string {
  return type
    .split(".")
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("");
}

/**
 * Each type's named export next to `MessageOf` of its type string; the checks below fail to compile if a name is
 * missing or describes another message.
 */
const namedTypes = {
  "agent.hello": {} as { a: protocol.AgentHelloMessage; b: MessageOf<"agent.hello"> },
  "agent.welcome": {} as { a: protocol.AgentWelcomeMessage; b: MessageOf<"agent.welcome"> },
  heartbeat: {} as { a: protocol.HeartbeatMessage; b: MessageOf<"heartbeat"> },
  "agent.bye": {} as { a: protocol.AgentByeMessage; b: MessageOf<"agent.bye"> },
  "discovery.announce": {} as { a: protocol.DiscoveryAnnounceMessage; b: MessageOf<"discovery.announce"> },
  "discovery.query": {} as { a: protocol.DiscoveryQueryMessage; b: MessageOf<"discovery.query"> },
  "discovery.response": {} as { a: protocol.DiscoveryResponseMessage; b: MessageOf<"discovery.response"> },
  broadcast: {} as { a: protocol.BroadcastMessage; b: MessageOf<"broadcast"> },
  direct: {} as { a: protocol.DirectMessage; b: MessageOf<"direct"> },
  "task.submit": {} as { a: protocol.TaskSubmitMessage; b: MessageOf<"task.submit"> },
  "task.submitMany": {} as { a: protocol.TaskSubmitManyMessage; b: MessageOf<"task.submitMany"> },
  "task.accepted": {} as { a: protocol.TaskAcceptedMessage; b: MessageOf<"task.accepted"> },
  "task.assign": {} as { a: protocol.TaskAssignMessage; b: MessageOf<"task.assign"> },
  "task.accept": {} as { a: protocol.TaskAcceptMessage; b: MessageOf<"task.accept"> },
  "task.reject": {} as { a: protocol.TaskRejectMessage; b: MessageOf<"task.reject"> },
  "task.output": {} as { a: protocol.TaskOutputMessage; b: MessageOf<"task.output"> },
  "task.progress": {} as { a: protocol.TaskProgressMessage; b: MessageOf<"task.progress"> },
  "task.finish": {} as { a: protocol.TaskFinishMessage; b: MessageOf<"task.finish"> },
  "task.cancel": {} as { a: protocol.TaskCancelMessage; b: MessageOf<"task.cancel"> },
  "task.done": {} as { a: protocol.TaskDoneMessage; b: MessageOf<"task.done"> },
  "task.event": {} as { a: protocol.TaskEventMessage; b: MessageOf<"task.event"> },
  "steal.request": {} as { a: protocol.StealRequestMessage; b: MessageOf<"steal.request"> },
  "steal.grant": {} as { a: protocol.StealGrantMessage; b: MessageOf<"steal.grant"> },
  "node.drain": {} as { a: protocol.NodeDrainMessage; b: MessageOf<"node.drain"> },
  "node.undrain": {} as { a: protocol.NodeUndrainMessage; b: MessageOf<"node.undrain"> },
  error: {} as { a: protocol.ErrorMessage; b: MessageOf<"error"> },
  "task.watch": {} as { a: protocol.TaskWatchMessage; b: MessageOf<"task.watch"> },
  "task.unwatch": {} as { a: protocol.TaskUnwatchMessage; b: MessageOf<"task.unwatch"> },
  "task.get": {} as { a: protocol.TaskGetMessage; b: MessageOf<"task.get"> },
  "task.events": {} as { a: protocol.TaskEventsMessage; b: MessageOf<"task.events"> },
  "tasks.list": {} as { a: protocol.TasksListMessage; b: MessageOf<"tasks.list"> },
  "nodes.list": {} as { a: protocol.NodesListMessage; b: MessageOf<"nodes.list"> },
  "events.watch": {} as { a: protocol.EventsWatchMessage; b: MessageOf<"events.watch"> },
  "dlq.list": {} as { a: protocol.DlqListMessage; b: MessageOf<"dlq.list"> },
  "dlq.get": {} as { a: protocol.DlqGetMessage; b: MessageOf<"dlq.get"> },
  "dlq.retry": {} as { a: protocol.DlqRetryMessage; b: MessageOf<"dlq.retry"> },
  "dlq.purge": {} as { a: protocol.DlqPurgeMessage; b: MessageOf<"dlq.purge"> },
  "alerts.list": {} as { a: protocol.AlertsListMessage; b: MessageOf<"alerts.list"> },
  "history.get": {} as { a: protocol.HistoryGetMessage; b: MessageOf<"history.get"> },
  reply: {} as { a: protocol.ReplyMessage; b: MessageOf<"reply"> },
  "topic.publish": {} as { a: protocol.TopicPublishMessage; b: MessageOf<"topic.publish"> },
  "topic.read": {} as { a: protocol.TopicReadMessage; b: MessageOf<"topic.read"> },
  "inbox.read": {} as { a: protocol.InboxReadMessage; b: MessageOf<"inbox.read"> },
  "output.read": {} as { a: protocol.OutputReadMessage; b: MessageOf<"output.read"> },
  "projects.list": {} as { a: protocol.ProjectsListMessage; b: MessageOf<"projects.list"> },
  "project.read": {} as { a: protocol.ProjectReadMessage; b: MessageOf<"project.read"> },
  "project.create": {} as { a: protocol.ProjectCreateMessage; b: MessageOf<"project.create"> },
  "project.delete": {} as { a: protocol.ProjectDeleteMessage; b: MessageOf<"project.delete"> },
  "project.addTasks": {} as { a: protocol.ProjectAddTasksMessage; b: MessageOf<"project.addTasks"> },
  "project.finalize": {} as { a: protocol.ProjectFinalizeMessage; b: MessageOf<"project.finalize"> },
  "project.tasks.list": {} as { a: protocol.ProjectTasksListMessage; b: MessageOf<"project.tasks.list"> },
  "project.task.read": {} as { a: protocol.ProjectTaskReadMessage; b: MessageOf<"project.task.read"> },
  "project.task.create": {} as { a: protocol.ProjectTaskCreateMessage; b: MessageOf<"project.task.create"> },
  "project.task.update": {} as { a: protocol.ProjectTaskUpdateMessage; b: MessageOf<"project.task.update"> },
  "project.task.delete": {} as { a: protocol.ProjectTaskDeleteMessage; b: MessageOf<"project.task.delete"> },
  "project.task.approve": {} as {
    a: protocol.ProjectTaskApproveMessage;
    b: MessageOf<"project.task.approve">;
  },
  "project.task.next": {} as { a: protocol.ProjectTaskNextMessage; b: MessageOf<"project.task.next"> },
  "project.task.claim": {} as { a: protocol.ProjectTaskClaimMessage; b: MessageOf<"project.task.claim"> },
} satisfies Record<MessageType, unknown>;

type Same<X, Y> = (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;
/** The message types whose named export differs from `MessageOf` (must be none). */
type Mismatched = {
  [T in MessageType]: Same<(typeof namedTypes)[T]["a"], (typeof namedTypes)[T]["b"]> extends true ? never : T;
}[MessageType];

const vectors = [...readTree(join(packageRoot, "vectors")).values()].map(
  (text) => JSON.parse(text) as { type: string; valid: boolean },
);
const schemaFiles = readTree(join(packageRoot, "schemas"));

describe("every message type", () => {
  it("has an exported type equal to MessageOf<type>", () => {
    expectTypeOf<Mismatched>().toEqualTypeOf<never>();
    expect(Object.keys(namedTypes).sort()).toEqual([...MESSAGE_TYPES].sort());
  });

  it.each(MESSAGE_TYPES)("%s has a schema export, a JSON Schema and valid and invalid vectors", (type) => {
    const exports = protocol as unknown as Record<string, unknown>;
    expect(exports[`${stem(type)}MessageSchema`]).toBe(MESSAGE_SCHEMAS[type]);
    expect(protocol.MESSAGE_CATALOG[type].summary).not.toBe("");
    const schema = JSON.parse(schemaFiles.get(`messages/${type}.json`) ?? "null") as {
      properties: { type: { const: string } };
    };
    expect(schema.properties.type.const).toBe(type);
    const mine = vectors.filter((vector) => vector.type === type);
    expect(mine.some((vector) => vector.valid)).toBe(true);
    expect(mine.some((vector) => !vector.valid)).toBe(true);
  });

  it("has a vector for each frame-level error code", () => {
    const frameCodes = new Set(
      vectors.filter((vector) => !vector.valid).map((vector) => (vector as { code?: string }).code),
    );
    for (const code of protocol.PROTOCOL_ERROR_CODES) expect(frameCodes).toContain(code);
  });

  it("is listed once in MESSAGE_TYPES and in the MessageSchema union", () => {
    expect(new Set(MESSAGE_TYPES).size).toBe(MESSAGE_TYPES.length);
    expect(protocol.MessageSchema.options.map((option) => option.shape.type.value).sort()).toEqual(
      [...MESSAGE_TYPES].sort(),
    );
  });
});
