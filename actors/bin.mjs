#!/usr/bin/env node
// The `dkv` executable: loads the TypeScript sources through tsx, so no build step is needed. It
// lives with the actors because it hands the CLI (src/cli/main.ts) the one command that starts
// them, `dkv node`; the CLI itself stays free of actors.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv, { runNode: async (o) => (await import('./nodeCommand.ts')).runNode(o) });
