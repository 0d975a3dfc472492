/** Controls several views share. */
import type { RefObject } from "preact";
import { useEffect, useState } from "preact/hooks";

/** A button that runs an action, shows it is busy, and says when it failed. */
export function ActionButton({
  label,
  run,
  after,
  danger = false,
}: {
  label: string;
  run: () => Promise<unknown>;
  after?: () => unknown;
  danger?: boolean;
}) {
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | undefined>(undefined);
  return (
    <span class="action">
      <button
        type="button"
        class={danger ? "danger" : ""}
        disabled={busy}
        data-action={label.toLowerCase()}
        onClick={async () => {
          setBusy(true);
          setFailure(undefined);
          try {
            await run();
            await after?.();
          } catch (error) {
            setFailure((error as Error).message);
          } finally {
            setBusy(false);
          }
        }}
      >
        {label}
      </button>
      {failure ? <span class="error">{failure}</span> : null}
    </span>
  );
}

/** A coloured task state. */
export function StateBadge({ state }: { state: string }) {
  return <span class={`state ${state}`}>{state}</span>;
}

/** A search field that reports each keystroke. */
export function SearchBox({
  label,
  placeholder,
  value,
  onChange,
}: {
  label: string;
  placeholder: string;
  value: string;
  onChange: (value: string) => void;
}) {
  return (
    <input
      type="search"
      aria-label={label}
      placeholder={placeholder}
      value={value}
      onInput={(event) => onChange(event.currentTarget.value)}
    />
  );
}

/**
 * Rewrites in place, once a second, the text of the cells under `root` that match `selector` (an age that
 * ticks with the clock), so that rows need not be drawn again only because time passed.
 */
export function useTickingText(
  root: RefObject<HTMLElement | null>,
  selector: string,
  textOf: (cell: HTMLElement) => string,
): void {
  useEffect(() => {
    const timer = setInterval(() => {
      for (const cell of root.current?.querySelectorAll<HTMLElement>(selector) ?? []) {
        const text = textOf(cell);
        const node = cell.firstChild;
        if (node instanceof Text && node.data !== text) node.data = text;
      }
    }, 1000);
    return () => clearInterval(timer);
  }, [root, selector, textOf]);
}
