/**
 * The echo responder of the floor target, run as its own process (so that its CPU is counted
 * apart and it does not share the load generator's event loop): every request on the subject
 * gets its own bytes back. Usage: node --import tsx bench/echoServer.ts <nats-url> <subject>
 */
import { connect } from '@nats-io/transport-node';

const [url, subject] = process.argv.slice(2);
if (!url || !subject) {
  process.stderr.write('usage: echoServer.ts <nats-url> <subject>\n');
  process.exit(2);
}
const nc = await connect({ servers: url, name: 'echo-responder' });
nc.subscribe(subject, {
  callback: (err, msg) => {
    if (!err) msg.respond(msg.data);
  },
});
await nc.flush();
process.stdout.write('echo-ready\n');
const stop = () => {
  nc.drain().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
