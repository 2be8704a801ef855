/** Outputs go to a temporary name and are renamed into place, so a failed run never leaves a half-written file. */
import { LatheError } from "../ir/errors.ts";

export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${Deno.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new LatheError("io", `cannot write: ${(e as Error).message}`, { file: path });
  }
}

export async function ensureDir(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new LatheError("io", `cannot create folder: ${(e as Error).message}`, { file: dir });
  }
}
