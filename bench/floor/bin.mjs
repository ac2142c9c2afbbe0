#!/usr/bin/env node
// The replication floor's node program (bench/floor/node.ts), loaded like dkv's own bin: through tsx.
import { register } from 'tsx/esm/api';

register();
await import('./node.ts');
