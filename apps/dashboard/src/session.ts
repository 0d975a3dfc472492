/**
 * The token the page works under: asked once, kept in `sessionStorage` (so it goes with the tab), checked
 * with `GET /v1/whoami` before the WebSocket opens, which also says what the token may do. Nothing of the
 * fleet is shown without it.
 */

const STORAGE_KEY = "flotilla.token";

/** Who the token stands for, as the coordinator said. */
export interface Identity {
  token: string;
  name: string;
  scope: "admin" | "submit" | "read" | "agent";
}

/** What a scope may do on the page (the coordinator refuses the rest anyway). */
export interface Abilities {
  /** Cancel tasks: every task for `admin`, its own for `submit`. */
  cancel: boolean;
  /** Retry from the dead-letter queue, drain and undrain, broadcast. */
  admin: boolean;
}

export function abilities(identity: Identity): Abilities {
  return {
    cancel: identity.scope === "admin" || identity.scope === "submit",
    admin: identity.scope === "admin",
  };
}

export function storedToken(): string | undefined {
  return sessionStorage.getItem(STORAGE_KEY) ?? undefined;
}

export function forgetToken(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

/** Checks `token` with the coordinator; keeps it when accepted, or throws with what went wrong. */
export async function signIn(token: string): Promise<Identity> {
  const response = await fetch("/v1/whoami", { headers: { authorization: `Bearer ${token}` } });
  if (response.status === 401) throw new Error("The coordinator does not accept this token.");
  if (response.status === 403) throw new Error("This token may not read the fleet (an agent's token?).");
  if (!response.ok) throw new Error(`The coordinator answered HTTP ${response.status}.`);
  const body = (await response.json()) as { name: string; scope: Identity["scope"] };
  sessionStorage.setItem(STORAGE_KEY, token);
  return { token, name: body.name, scope: body.scope };
}

/** The coordinator's WebSocket address, from the page's own. */
export function coordinatorUrl(): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}`;
}
