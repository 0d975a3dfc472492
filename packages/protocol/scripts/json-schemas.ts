/**
 * Builds the JSON Schemas other languages validate against: one file per message type, one per record,
 * one for any message, and an index. Kept apart from the writer so a test can rebuild them in memory and
 * compare with what is committed.
 */
import { z } from "zod";
import { MESSAGE_CATALOG } from "../src/catalog.js";
import { MESSAGE_SCHEMAS, MESSAGE_TYPES, MessageSchema } from "../src/messages.js";
import { FingerprintSchema } from "../src/node.js";
import { PROTOCOL_VERSION } from "../src/primitives.js";
import { ProjectSchema, ProjectTaskSchema, ProjectTaskUpdateEventSchema } from "../src/projects.js";
import { EventRecordSchema, LeaseSchema, NodeRecordSchema, TaskRecordSchema } from "../src/records.js";
import { ExecTaskSpecSchema } from "../src/task.js";

/** The records Redis holds, by file name. */
export const RECORD_SCHEMAS = {
  task: { schema: TaskRecordSchema, summary: "A task as stored in task:{id}, discriminated on state." },
  node: {
    schema: NodeRecordSchema,
    summary: "A node of the registry agent:{id}, in object form (see nodeRecordToHash for the hash form).",
  },
  lease: { schema: LeaseSchema, summary: "A lease: node runs taskId under epoch until expiresAt." },
  event: { schema: EventRecordSchema, summary: "A task state change as stored in task:{id}:events." },
  fingerprint: { schema: FingerprintSchema, summary: "What a machine is, as its agent measured it." },
  project: {
    schema: ProjectSchema,
    summary: "A project with its tasks in order, as project.read returns it.",
  },
  "project-task": {
    schema: ProjectTaskSchema,
    summary: "A project task (work item) as stored in the projects:tasks hash and every read returns it.",
  },
  "project-task-update": {
    schema: ProjectTaskUpdateEventSchema,
    summary: "A project task change as published on events:tasks:updates.",
  },
} as const;

/** Schemas are written for what a sender may put on the wire: defaults optional, extra fields allowed. */
function toJsonSchema(schema: z.ZodType, title: string, description: string): Record<string, unknown> {
  const json = z.toJSONSchema(schema, {
    target: "draft-2020-12",
    io: "input",
    unrepresentable: "any",
    override: (ctx) => {
      // A refinement does not survive conversion; spell out "exactly one of argv and shell" for bridges.
      // Each branch names its property as well as requiring it, which some validators need to see it.
      if (ctx.zodSchema === ExecTaskSpecSchema) {
        ctx.jsonSchema.oneOf = ["argv", "shell"].map((key) => ({
          type: "object",
          properties: { [key]: {} },
          required: [key],
        }));
      }
    },
  }) as Record<string, unknown>;
  const { $schema, ...rest } = json;
  return { $schema, title, description, ...rest };
}

function text(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Every schema file by its path below `schemas/`. */
export function buildJsonSchemaFiles(): Map<string, string> {
  const files = new Map<string, string>();
  const index: {
    protocolVersion: number;
    message: string;
    messages: Record<
      string,
      { file: string; from: readonly string[]; to: readonly string[]; summary: string }
    >;
    records: Record<string, { file: string; summary: string }>;
  } = { protocolVersion: PROTOCOL_VERSION, message: "message.json", messages: {}, records: {} };

  files.set(
    "message.json",
    text(toJsonSchema(MessageSchema, "Flotilla message", "Any Flotilla message, discriminated on type.")),
  );
  for (const type of MESSAGE_TYPES) {
    const info = MESSAGE_CATALOG[type];
    const file = `messages/${type}.json`;
    const description = `${info.summary} (${info.from.join("|")} -> ${info.to.join("|")})`;
    files.set(file, text(toJsonSchema(MESSAGE_SCHEMAS[type], type, description)));
    index.messages[type] = { file, from: info.from, to: info.to, summary: info.summary };
  }
  for (const [name, { schema, summary }] of Object.entries(RECORD_SCHEMAS)) {
    const file = `records/${name}.json`;
    files.set(file, text(toJsonSchema(schema, `${name} record`, summary)));
    index.records[name] = { file, summary };
  }
  files.set("index.json", text(index));
  return files;
}
