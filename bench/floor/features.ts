/**
 * What the harness needs to know of the replication floor (bench/floor/node.ts) without running
 * it: its program, and the parts of dkv it can be run with (see node.ts for each).
 */
import { fileURLToPath } from 'node:url';

export const FLOOR_BIN = fileURLToPath(new URL('./bin.mjs', import.meta.url));

export const FLOOR_FEATURES = ['dvv', 'parse', 'merkle', 'engine', 'feed'] as const;
export type FloorFeature = (typeof FLOOR_FEATURES)[number];

/** `--floor-features` and FLOOR_FEATURES: a comma-separated list of FLOOR_FEATURES; `parse` and `feed` need `dvv`. */
export function parseFloorFeatures(text: string): FloorFeature[] {
  const list = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const f of list) {
    if (!(FLOOR_FEATURES as readonly string[]).includes(f)) throw new Error(`unknown floor feature ${JSON.stringify(f)}: expected some of ${FLOOR_FEATURES.join(',')}`);
  }
  // Without dvv a context is only echoed back; parse makes it a version vector, for dvv.
  if (list.includes('parse') && !list.includes('dvv')) throw new Error('floor feature parse needs dvv');
  // The feed's event is a version set's live values and context (src/changeFeed.ts).
  if (list.includes('feed') && !list.includes('dvv')) throw new Error('floor feature feed needs dvv');
  return [...new Set(list)] as FloorFeature[];
}
