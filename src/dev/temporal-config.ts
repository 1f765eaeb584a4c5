import { z } from 'zod';

/**
 * The project's own configuration of the local Temporal server (`go.temporal.io/server/cmd/server`)
 * and its Web UI server, replacing what `temporal server start-dev` used to assemble in code.
 * Written as JSON, which is YAML too, so no YAML library is needed; both servers parse it with
 * gopkg.in/yaml.v3.
 */

const port = z.number().int().min(1).max(65535);

/** Every port the server binds: the frontend's given one and the internal ones picked per start. */
export const serverPortsSchema = z.object({
  frontendGrpc: port,
  frontendHttp: port,
  frontendMembership: port,
  historyGrpc: port,
  historyMembership: port,
  matchingGrpc: port,
  matchingMembership: port,
  workerGrpc: port,
  workerMembership: port,
});
export type ServerPorts = z.infer<typeof serverPortsSchema>;

/** The internal ports, kept beside a database file so a restart on it rejoins at the same addresses. */
export const internalPortsSchema = serverPortsSchema.omit({ frontendGrpc: true });
export type InternalPorts = z.infer<typeof internalPortsSchema>;

export const serverConfigOptionsSchema = z.object({
  ip: z.ipv4(),
  ports: serverPortsSchema,
  /** A SQLite file for default and visibility stores; absent: an in-memory database. */
  dbFile: z.string().min(1).optional(),
  /** Names the in-memory database, which lives as long as the process. */
  memoryDbName: z.string().min(1),
  dynamicConfigFile: z.string().min(1),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']),
});
export type ServerConfigOptions = z.infer<typeof serverConfigOptionsSchema>;

const CLUSTER = 'active';

export function serverConfig(input: ServerConfigOptions): Record<string, unknown> {
  const opts = serverConfigOptionsSchema.parse(input);
  const { ip, ports } = opts;
  const service = (grpcPort: number, membershipPort: number, httpPort?: number) => ({
    rpc: { grpcPort, membershipPort, bindOnIP: ip, ...(httpPort ? { httpPort } : {}) },
  });
  // One datastore for both stores, as the CLI's dev server had: the SQLite plugin shares one
  // connection per DSN, so an in-memory database is one database for all services.
  const sql = {
    pluginName: 'sqlite',
    databaseName: opts.dbFile ?? opts.memoryDbName,
    connectAddr: 'localhost',
    connectProtocol: 'tcp',
    connectAttributes: opts.dbFile
      ? // `setup` creates the schema in a new file and ignores the tables of an existing one.
        { mode: 'rwc', setup: 'true', journal_mode: 'wal', synchronous: '2' }
      : { mode: 'memory', cache: 'private' },
    // SQLite takes one writer; and an in-memory database dies with its last connection, so the
    // connection is never recycled (no maxConnLifetime).
    maxConns: 1,
    maxIdleConns: 1,
  };
  return {
    log: { stdout: true, level: opts.logLevel, format: 'json' },
    persistence: {
      defaultStore: 'sqlite',
      visibilityStore: 'sqlite',
      numHistoryShards: 1,
      datastores: { sqlite: { sql } },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: ip } },
    services: {
      frontend: service(ports.frontendGrpc, ports.frontendMembership, ports.frontendHttp),
      history: service(ports.historyGrpc, ports.historyMembership),
      matching: service(ports.matchingGrpc, ports.matchingMembership),
      worker: service(ports.workerGrpc, ports.workerMembership),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: CLUSTER,
      currentClusterName: CLUSTER,
      clusterInformation: {
        [CLUSTER]: {
          enabled: true,
          initialFailoverVersion: 1,
          rpcName: 'frontend',
          rpcAddress: `${ip}:${ports.frontendGrpc}`,
          httpAddress: `${ip}:${ports.frontendHttp}`,
        },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } },
    namespaceDefaults: {
      archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } },
    },
    publicClient: { hostPort: `${ip}:${ports.frontendGrpc}` },
    dynamicConfigClient: { filepath: opts.dynamicConfigFile, pollInterval: '10s' },
  };
}

export const postgresPersistenceOptionsSchema = z.object({
  host: z.string().min(1),
  port,
  user: z.string().min(1),
  database: z.string().min(1),
  visibilityDatabase: z.string().min(1),
  /** Fixed when the database is created: the server refuses to start on another count. */
  numHistoryShards: z.number().int().min(1),
  /** Per store and per service: the four services in one process open up to 4 × 2 × this. */
  maxConns: z.number().int().min(1),
});
export type PostgresPersistenceOptions = z.infer<typeof postgresPersistenceOptionsSchema>;

/**
 * The `persistence` section for PostgreSQL (the `postgres12` plugin, what production runs in
 * docker-compose.yml): the history store and the visibility store in databases of their own,
 * their schemas set up beforehand by `temporal-sql-tool` (src/dev/cluster.ts).
 */
export function postgresPersistence(input: PostgresPersistenceOptions): Record<string, unknown> {
  const opts = postgresPersistenceOptionsSchema.parse(input);
  const sql = (databaseName: string) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${opts.host}:${opts.port}`,
      connectProtocol: 'tcp',
      user: opts.user,
      password: '',
      maxConns: opts.maxConns,
      maxIdleConns: opts.maxConns,
      maxConnLifetime: '1h',
    },
  });
  return {
    defaultStore: 'postgres',
    visibilityStore: 'postgres-visibility',
    numHistoryShards: opts.numHistoryShards,
    datastores: {
      postgres: sql(opts.database),
      'postgres-visibility': sql(opts.visibilityDatabase),
    },
  };
}

/**
 * Dynamic configuration: what `temporal server start-dev` v1.5.1 set on top of the server's
 * defaults (temporalcli/commands.server.go and devserver/server.go), plus what the SDK's
 * `createLocal` passes, so the tests see the dev server they were written against. Every start
 * checks the keys with `server validate-dynamic-config`.
 */
export function dynamicConfig(
  opts: { ip: string; frontendHttpPort: number },
  extra: Readonly<Record<string, unknown>> = {},
): Record<string, { value: unknown; constraints: Record<string, never> }[]> {
  const http = `${opts.ip}:${opts.frontendHttpPort}`;
  const values: Record<string, unknown> = {
    // New search attributes are visible at once instead of after the cache's refresh.
    'system.forceSearchAttributesCacheRefreshOnRead': true,
    // The cache bypass above costs reads: the CLI raised these in the same ratio as the defaults.
    'frontend.persistenceMaxQPS': 10_000,
    'history.persistenceMaxQPS': 45_000,
    'history.hostLevelCacheMaxSize': 8096,
    // The tests poll list queries; the default 10/s per namespace throttles them.
    'frontend.namespaceRPS.visibility': 100,
    'component.nexusoperations.callback.endpoint.template': `http://${http}/namespaces/{{.NamespaceName}}/nexus/callback`,
    'callback.allowedAddresses': [{ Pattern: http, AllowInsecure: true }],
    // No internet here: the periodic call home only fails and logs.
    'frontend.enableServerVersionCheck': false,
    // On by default in 1.32 already; pinned because the workflows depend on them (updates,
    // update-with-start, eager start). `frontend.enableExecuteMultiOperation` is gone in 1.32:
    // multi-operations are always on.
    'frontend.enableUpdateWorkflowExecution': true,
    'frontend.enableUpdateWorkflowExecutionAsyncAccepted': true,
    'system.enableEagerWorkflowStart': true,
    ...extra,
  };
  return Object.fromEntries(
    Object.entries(values).map(([key, value]) => [key, [{ value, constraints: {} }]]),
  );
}

export const uiConfigOptionsSchema = z.object({
  ip: z.ipv4(),
  port,
  temporalGrpcAddress: z.string().min(1),
  namespace: z.string().min(1),
});
export type UiConfigOptions = z.infer<typeof uiConfigOptionsSchema>;

export function uiConfig(input: UiConfigOptions): Record<string, unknown> {
  const opts = uiConfigOptionsSchema.parse(input);
  return {
    temporalGrpcAddress: opts.temporalGrpcAddress,
    host: opts.ip,
    port: opts.port,
    publicPath: '',
    enableUi: true,
    defaultNamespace: opts.namespace,
    // Plain HTTP on loopback, as the CLI's embedded UI ran.
    cors: { cookieInsecure: true, allowOrigins: [], unsafeAllowAllOrigins: false },
    // No internet here: no news feed, no new-version banner.
    disableNewsFetch: true,
    notifyOnNewVersion: false,
    hideLogs: true,
    auth: { enabled: false },
  };
}
