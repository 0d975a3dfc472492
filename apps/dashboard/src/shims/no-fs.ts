/** Stands in for `node:fs/promises` in the browser bundle: nothing on the page reads files. */
export function readFile(): Promise<never> {
  return Promise.reject(new Error("files cannot be read in a browser"));
}
