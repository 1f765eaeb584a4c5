import { spawn, spawnSync } from 'node:child_process';
import { chmod, cp, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';

/**
 * Finds or builds the local tools the embedded system runs on: the Temporal server and its Web UI
 * server, FerretDB and Temporal's Java time-skipping test server. Builds go into a git-ignored
 * tools folder once and are reused; versions are pinned here (docs/platform.md).
 */

export const TOOL_VERSIONS = {
  temporalServer: 'v1.32.1',
  // v2.58.x cannot be built from the module proxy here: it requires
  // github.com/labstack/echo/v4@v4.16.1 and go.temporal.io/api@v1.64.0, which the proxy refuses
  // ("403 Forbidden: This module version is not available"). v2.56.4 is the newest that builds.
  temporalUi: 'v2.56.4',
  ferretdb: 'v1.24.2',
  temporalTestServer: '1.38.0',
} as const;

const GO_PACKAGES = {
  'temporal-server': `go.temporal.io/server/cmd/server@${TOOL_VERSIONS.temporalServer}`,
  'temporal-ui-server': `github.com/temporalio/ui-server/v2/cmd/server@${TOOL_VERSIONS.temporalUi}`,
  // Temporal's schema tool of the same release (the admin-tools image's `temporal-sql-tool`); its
  // schemas are embedded, so `--schema-name postgresql/v12/temporal` needs no checkout.
  'temporal-sql-tool': `go.temporal.io/server/cmd/tools/sql@${TOOL_VERSIONS.temporalServer}`,
  ferretdb: `github.com/FerretDB/FerretDB/cmd/ferretdb@${TOOL_VERSIONS.ferretdb}`,
} as const;

export const projectRoot = resolve(__dirname, '..', '..');

export function toolsDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.SFERUM_TOOLS_DIR ?? join(projectRoot, '.tools'));
}

export function dataDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.SFERUM_DATA_DIR ?? join(projectRoot, '.data'));
}

export class MissingToolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MissingToolError';
  }
}

export type Progress = (line: string) => void;

export const consoleProgress: Progress = (line) => process.stderr.write(`${line}\n`);

/** The first executable named `name` on PATH, or undefined. */
export function onPath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

async function stamped(path: string, version: string): Promise<boolean> {
  if (!existsSync(path)) return false;
  try {
    return (await readFile(`${path}.version`, 'utf8')).trim() === version;
  } catch {
    return false;
  }
}

/**
 * Runs a long build, echoing its output prefixed and a heartbeat every 15 s, because the first
 * `go install` of the Temporal server takes minutes and silence looks like a hang.
 */
async function runBuild(
  label: string,
  command: string,
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; progress: Progress },
): Promise<void> {
  const started = Date.now();
  opts.progress(
    `[tools] building ${label}: ${command} ${args.join(' ')} (first time only; takes minutes)`,
  );
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let lines = 0;
  let tail: string[] = [];
  const onData = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      lines += 1;
      tail = [...tail.slice(-19), line];
      if (lines % 25 === 1) opts.progress(`[tools] ${label}: ${line.trim()}`);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const heartbeat = setInterval(() => {
    const seconds = Math.round((Date.now() - started) / 1000);
    opts.progress(
      `[tools] ${label}: still building, ${seconds}s elapsed, ${lines} lines of output`,
    );
  }, 15_000);
  try {
    const code = await new Promise<number | null>((resolveExit, reject) => {
      child.on('error', reject);
      child.on('exit', resolveExit);
    });
    if (code !== 0) {
      throw new Error(`building ${label} failed (exit ${String(code)}):\n${tail.join('\n')}`);
    }
  } finally {
    clearInterval(heartbeat);
  }
  opts.progress(`[tools] ${label} built in ${Math.round((Date.now() - started) / 1000)}s`);
}

function requireGo(what: string): string {
  const go = onPath('go');
  if (!go) {
    throw new MissingToolError(
      `Go (1.21 or newer; it fetches the newer toolchain the modules ask for) is needed to build ` +
        `${what}. Install it (https://go.dev/dl or your package manager).`,
    );
  }
  return go;
}

/**
 * `go install` of a pinned main package into the tools folder. Both Temporal packages are named
 * `cmd/server`, so each is installed into a folder of its own and moved to its real name.
 * GOTOOLCHAIN=auto lets the go command fetch, through the module proxy, the toolchain a module's
 * go.mod asks for (the UI server wants a newer patch release than a machine may have).
 */
async function goInstall(
  name: 'temporal-server' | 'temporal-ui-server' | 'temporal-sql-tool',
  progress: Progress,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  const binDir = join(toolsDir(env), 'bin');
  const target = join(binDir, name);
  const version = GO_PACKAGES[name];
  if (await stamped(target, version)) return target;
  const go = requireGo(name);
  const staging = join(toolsDir(env), `.build-${name}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  await mkdir(binDir, { recursive: true });
  // -v names each package as it compiles: the progress lines of a build that is silent otherwise.
  await runBuild(name, go, ['install', '-v', version], {
    env: { ...env, GOBIN: staging, GOFLAGS: '-mod=mod', CGO_ENABLED: '0', GOTOOLCHAIN: 'auto' },
    progress,
  });
  const built = (await readdir(staging))[0];
  if (!built) throw new Error(`go install ${version} produced no binary`);
  await rename(join(staging, built), target);
  await rm(staging, { recursive: true, force: true });
  await writeFile(`${target}.version`, `${version}\n`);
  return target;
}

export interface TemporalServerTools {
  readonly server: string;
  readonly ui: string;
}

/** The pinned Temporal server and Web UI server, built once. */
export async function ensureTemporalServer(
  progress: Progress = consoleProgress,
  env: NodeJS.ProcessEnv = process.env,
): Promise<TemporalServerTools> {
  const server = await goInstall('temporal-server', progress, env);
  const ui = await goInstall('temporal-ui-server', progress, env);
  return { server, ui };
}

/** Temporal's SQL schema tool, for the PostgreSQL-backed cluster (src/dev/cluster.ts), built once. */
export async function ensureTemporalSqlTool(
  progress: Progress = consoleProgress,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  return goInstall('temporal-sql-tool', progress, env);
}

/**
 * FerretDB's `cmd/ferretdb` panics at start unless `build/version/version.txt` was generated
 * before the build, and `go install pkg@version` cannot add it. So: download the pinned module,
 * copy its source into the tools folder, write the version file, and `go build` it there.
 */
export async function ensureFerretDb(
  progress: Progress = consoleProgress,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const fromPath = onPath('ferretdb', env);
  if (fromPath) return fromPath;
  const binDir = join(toolsDir(env), 'bin');
  const target = join(binDir, 'ferretdb');
  const version = GO_PACKAGES.ferretdb;
  if (await stamped(target, version)) return target;
  const go = requireGo('FerretDB');
  const goEnv = { ...env, GOFLAGS: '-mod=mod', CGO_ENABLED: '0' };
  progress(`[tools] downloading ${version}`);
  const module = `github.com/FerretDB/FerretDB@${TOOL_VERSIONS.ferretdb}`;
  const download = spawnSync(go, ['mod', 'download', '-json', module], {
    env: goEnv,
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  if (download.status !== 0) {
    throw new Error(`go mod download ${module} failed:\n${download.stderr || download.stdout}`);
  }
  const moduleDir = (JSON.parse(download.stdout) as { Dir?: string }).Dir;
  if (!moduleDir) throw new Error(`go mod download ${module} did not report a directory`);
  const sourceDir = join(toolsDir(env), 'src', 'ferretdb');
  await rm(sourceDir, { recursive: true, force: true });
  await mkdir(join(toolsDir(env), 'src'), { recursive: true });
  await cp(moduleDir, sourceDir, { recursive: true });
  await chmodTree(sourceDir);
  await writeFile(
    join(sourceDir, 'build', 'version', 'version.txt'),
    `${TOOL_VERSIONS.ferretdb}\n`,
  );
  await mkdir(binDir, { recursive: true });
  await runBuild('ferretdb', go, ['build', '-o', target, './cmd/ferretdb'], {
    cwd: sourceDir,
    env: goEnv,
    progress,
  });
  await writeFile(`${target}.version`, `${version}\n`);
  return target;
}

/** The module cache is read-only; the copy must be writable to add the version file and clean up. */
async function chmodTree(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await chmodTree(path);
    else await chmod(path, 0o644);
  }
}

const TEST_SERVER_POM = (
  version: string,
): string => `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>sferum-sync.tools</groupId>
  <artifactId>temporal-test-server-runtime</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>io.temporal</groupId>
      <artifactId>temporal-test-server</artifactId>
      <version>${version}</version>
    </dependency>
  </dependencies>
</project>
`;

/**
 * Resolves Temporal's Java time-skipping test server with Maven and writes a wrapper script that
 * `exec`s java, so the SDK's kill of the PID it spawned reaches the JVM itself.
 */
export async function ensureTestServer(
  progress: Progress = consoleProgress,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const home = join(toolsDir(env), 'temporal-test-server');
  const wrapper = join(home, 'temporal-test-server');
  const version = TOOL_VERSIONS.temporalTestServer;
  if (await stamped(wrapper, version)) return wrapper;
  const java = onPath('java', env);
  const mvn = onPath('mvn', env);
  if (!java || !mvn) {
    throw new MissingToolError(
      `Java (17 or newer) and Maven are needed for Temporal's time-skipping test server ` +
        `(missing: ${[java ? '' : 'java', mvn ? '' : 'mvn'].filter(Boolean).join(', ')}). ` +
        `On Debian: apt-get install default-jdk-headless maven.`,
    );
  }
  await rm(join(home, 'lib'), { recursive: true, force: true });
  await mkdir(home, { recursive: true });
  await writeFile(join(home, 'pom.xml'), TEST_SERVER_POM(version));
  await runBuild(
    `temporal-test-server ${version}`,
    mvn,
    ['-B', '-q', 'dependency:copy-dependencies', '-DoutputDirectory=lib'],
    { cwd: home, env, progress },
  );
  // Tiered C1 and serial GC roughly halve JVM start-up on two cores; the SDK waits only 5 s.
  await writeFile(
    wrapper,
    `#!/bin/sh\nexec "${java}" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto ` +
      `-cp "${join(home, 'lib')}/*" io.temporal.testserver.TestServer "$@"\n`,
  );
  await chmod(wrapper, 0o755);
  await writeFile(`${wrapper}.version`, `${version}\n`);
  return wrapper;
}

/** `mongod` on PATH, if any: preferred over building FerretDB. */
export function findMongod(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return onPath('mongod', env);
}

/** Fails early with a clear message instead of a stack trace deep inside a spawn. */
export function assertRunnable(path: string, args: readonly string[] = ['--version']): void {
  const result = spawnSync(path, args, { stdio: 'ignore', timeout: 20_000 });
  if (result.error) throw new MissingToolError(`${path} cannot run: ${result.error.message}`);
}
