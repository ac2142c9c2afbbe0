/**
 * The NATS permissions that fence a dkv cluster (`dkv nats-config`): three roles, as users with
 * passwords in a nats-server `authorization` block. Pure: the caller chooses the passwords.
 *
 * - node: everything under `dkv.<cluster>.>` and the nodes' reply inboxes, and replies to any
 *   request it received (`allow_responses`), which is how it answers clients.
 * - client: publishes only on the public data subjects (DESIGN.md §3); subscribes only to its
 *   own reply inbox, under a prefix of its own (`_INBOX_<user>`), so one client cannot read
 *   another's replies, and to the change feed (`dkv.<cluster>.changes.>`), which only nodes
 *   publish. It cannot reach `dkv.<cluster>.internal.>` nor `dkv.<cluster>.admin.>`.
 * - admin: a client that may also join and remove nodes (`dkv.<cluster>.admin.>`).
 *
 * Nodes also subscribe the micro-service discovery subjects (src/microService.ts), and the admin
 * may send on them: `nats micro ls dkv` under the admin role.
 */
import { MICRO_SERVICE_NAME, microSubjects } from './microService.ts';
import { inboxPrefixFor } from './nats/connectOptions.ts';
import { assertValidName } from './subjects.ts';

export interface RoleUser {
  readonly user: string;
  readonly password: string;
}

export interface ClusterRoles {
  readonly node: RoleUser;
  readonly client: RoleUser;
  readonly admin: RoleUser;
}

export function clientPublishSubjects(cluster: string): string[] {
  const root = `dkv.${cluster}`;
  return [`${root}.get`, `${root}.put`, `${root}.delete`, `${root}.batch`, `${root}.status`, `${root}.ring`, `${root}.keys`, `${root}.node.*.batch`, `${root}.node.*.peek`, `${root}.node.*.metrics`];
}

export interface RolePermissions {
  readonly publish: string[];
  readonly subscribe: string[];
  readonly allowResponses: boolean;
}

export function rolePermissions(cluster: string, roles: ClusterRoles): Record<keyof ClusterRoles, RolePermissions> {
  assertValidName('cluster', cluster);
  const root = `dkv.${cluster}`;
  const discovery = microSubjects(MICRO_SERVICE_NAME, '*').map((s) => s.subject);
  return {
    node: { publish: [`${root}.>`, '_INBOX.>', `${inboxPrefixFor(roles.node.user)}.>`], subscribe: [`${root}.>`, '_INBOX.>', `${inboxPrefixFor(roles.node.user)}.>`, ...discovery], allowResponses: true },
    client: { publish: clientPublishSubjects(cluster), subscribe: [`${inboxPrefixFor(roles.client.user)}.>`, `${root}.changes.>`], allowResponses: false },
    admin: { publish: [...clientPublishSubjects(cluster), `${root}.admin.>`, ...discovery], subscribe: [`${inboxPrefixFor(roles.admin.user)}.>`, `${root}.changes.>`], allowResponses: false },
  };
}

const quote = (s: string) => JSON.stringify(s);

/** A nats-server configuration fragment: the `authorization` block with the three roles. */
export function natsConfig(cluster: string, roles: ClusterRoles): string {
  const perms = rolePermissions(cluster, roles);
  const user = (role: keyof ClusterRoles) => {
    const p = perms[role];
    return [
      `    # ${role}`,
      `    {`,
      `      user: ${quote(roles[role].user)}`,
      `      password: ${quote(roles[role].password)}`,
      `      permissions: {`,
      `        publish: { allow: [${p.publish.map(quote).join(', ')}] }`,
      `        subscribe: { allow: [${p.subscribe.map(quote).join(', ')}] }`,
      ...(p.allowResponses ? ['        allow_responses: true'] : []),
      `      }`,
      `    }`,
    ].join('\n');
  };
  return [
    `# dkv cluster "${cluster}": NATS users for its three roles (dkv nats-config).`,
    `# Nodes:   dkv node --nats-user ${roles.node.user} --nats-pass <node password> ...`,
    `# Clients: dkv get KEY --nats-user ${roles.client.user} --nats-pass <client password>`,
    `#          (the library: DkvClient.connect({ servers, user, pass }); replies arrive under ${inboxPrefixFor(roles.client.user)}.>)`,
    `# Admins:  dkv leave ID --nats-user ${roles.admin.user} --nats-pass <admin password>`,
    `# Add TLS in the server's own tls { } block; keep this file readable by the server only.`,
    `authorization {`,
    `  users = [`,
    user('node'),
    user('client'),
    user('admin'),
    `  ]`,
    `}`,
    ``,
  ].join('\n');
}
