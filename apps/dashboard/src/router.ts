/**
 * Paths of the page (`/nodes`, `/tasks/t-…`), kept in the address bar with the History API; the
 * coordinator answers every such path with the page itself, so a reload or a shared link works.
 */
import { useEffect, useState } from "preact/hooks";

const listeners = new Set<() => void>();

export function navigate(path: string): void {
  if (path === location.pathname) return;
  history.pushState(null, "", path);
  for (const listener of listeners) listener();
}

/** Props for an `<a>` that moves within the page without reloading it. */
export function link(path: string): { href: string; onClick: (event: MouseEvent) => void } {
  return {
    href: path,
    onClick: (event) => {
      if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      navigate(path);
    },
  };
}

/** The current path, re-rendering on navigation. */
export function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const update = () => setPath(location.pathname);
    listeners.add(update);
    window.addEventListener("popstate", update);
    return () => {
      listeners.delete(update);
      window.removeEventListener("popstate", update);
    };
  }, []);
  return path;
}
