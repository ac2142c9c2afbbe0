// Reads every page of an lmdb store in a process of its own (see lmdbCheck.ts): a damaged store
// can crash the process that reads it (SIGSEGV, SIGBUS), which no JavaScript can catch.
// Plain JavaScript, so that it starts without tsx. Prints the entry count; exits 1 on an error.
import { open } from 'lmdb';

const path = process.argv[2];
try {
  // Binary values: every page is read (overflow pages included) and nothing is decoded.
  const db = open({ path, noSubdir: false, readOnly: true, encoding: 'binary' });
  let entries = 0;
  for (const { value } of db.getRange({})) if (value !== undefined) entries++;
  db.close();
  process.stdout.write(`${entries}\n`);
} catch (err) {
  process.stderr.write(`${err?.message ?? err}\n`);
  process.exit(1);
}
