/**
 * The project requests of the client role (`projects.list`, `project.*`): each goes to
 * `ProjectOps.handle` and is answered with `reply`. Added to the client table by `client-handlers.ts`.
 */
import { PROJECT_MESSAGE_TYPES } from "@flotilla/protocol";
import type { CoordinatorContext, CoordinatorParts } from "../context.js";
import type { ProjectRequest } from "../projects/project-ops.js";
import type { HandlerTable } from "./handlers.js";

/** Adds the project requests to the client role's table. */
export function addProjectHandlers(
  table: HandlerTable,
  ctx: CoordinatorContext,
  parts: Pick<CoordinatorParts, "projects">,
): HandlerTable {
  const ops = parts.projects;
  for (const type of PROJECT_MESSAGE_TYPES) {
    table.on(type, async (session, frame) =>
      ctx.out.reply(session, frame.id, await ops.handle(frame as ProjectRequest, session.principal)),
    );
  }
  return table;
}
