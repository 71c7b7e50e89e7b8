// SPDX-License-Identifier: MIT
// Test harness for the dashboard tests (tests/web/*.test.mjs) and the dashboard benchmark. The
// daemons are the real ones (build/bin/monitor-agent, build/bin/monitor-aggregator) on
// 127.0.0.1 ports from freePort(); what the harness stands in for is their surroundings:
// - LiveProc: the kernel's /proc for the agent (its procfs_root): a copy of
//   tests/fixtures/proc/<fixture>/ whose /proc/stat counters advance every 0.2 s like real
//   jiffies, rewritten in place because the agent keeps the file open.
// - Agent: an installed agent: the config.yaml an operator writes (/etc/monitor-agent/ in
//   docs/operations.md), with NVIDIA's driver library replaced by the fake libnvidia-ml.so.1
//   (tests/fakes/fake_nvml.c, FAKE_NVML_* variables) and nvidia-smi absent.
// - DBusMock: systemd on the system bus (python3-dbusmock's systemd template on a private bus,
//   tests/dbus/start-mock.sh), for the agent's unit states.
// - Aggregator: an installed aggregator: its config.yaml (/etc/monitor-aggregator/), a fresh
//   SQLite database made by --init-db, sql() to seed the history a running system would have
//   accumulated (hourly rows, usage), web_root = the build's copy of web/src (build/web).
//   Servers are polled over plain HTTP (tls: false): the test agents have no TLS section.
// - Fleet: many agents at once (build/bin/fleet, tests/fakes/fleet.c) on a loopback address.
// - launchBrowser: a user's browser: Debian's /usr/bin/chromium driven by playwright-core from
//   web/node_modules (never a downloaded browser).
// Agents that reply with a scripted snapshot (GPU processes, usage) are plain node:http servers
// in the tests that need them (gpus, usage, security). Mirrors the process/config side of
// tests/integration/lanmon_testlib.py (free_port, wait_until, LiveProc, Agent, DBusMock,
// Aggregator); keep the two in step when a daemon's config or startup changes.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '..', '..');
export const BIN_DIR = process.env.LANMON_BIN_DIR || path.join(REPO, 'build', 'bin');
export const FAKES_DIR = process.env.LANMON_FAKES_DIR || path.join(REPO, 'build', 'lib');
export const FIXTURES = process.env.LANMON_FIXTURES || path.join(REPO, 'tests', 'fixtures');
export const TESTS_DIR = process.env.LANMON_TESTS_DIR || path.join(REPO, 'tests');
export const WEB_ROOT = process.env.LANMON_WEB_ROOT || path.join(REPO, 'build', 'web');
export const CHROMIUM = process.env.LANMON_CHROMIUM || '/usr/bin/chromium';

// playwright-core lives in web/node_modules (npm ci in web/).
export function playwright() {
  const req = createRequire(path.join(REPO, 'web', 'package.json'));
  return req('playwright-core');
}

export async function launchBrowser() {
  const { chromium } = playwright();
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
  });
}

const children = new Set();
function track(proc) {
  children.add(proc);
  proc.on('exit', () => children.delete(proc));
  return proc;
}
// Whatever happens, no daemon outlives the test process.
process.on('exit', () => {
  for (const p of children) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function waitUntil(pred, { timeout = 10000, step = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await pred();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(step);
  }
  throw new Error(`timed out after ${timeout / 1000}s waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

export async function http(method, url, { headers = {}, body, timeout = 5000 } = {}) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeout);
  try {
    const r = await fetch(url, {
      method,
      headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: ctrl.signal,
    });
    const text = await r.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    return { status: r.status, headers: r.headers, text, json };
  } finally {
    clearTimeout(timer);
  }
}

function mkdtemp(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

function yaml(v) {
  return JSON.stringify(v); // JSON is valid YAML flow syntax
}

async function waitExit(proc, ms) {
  if (proc.exitCode !== null || proc.signalCode !== null) return true;
  return Promise.race([new Promise((r) => proc.once('exit', () => r(true))), sleep(ms).then(() => false)]);
}

// A copy of a fixture procfs whose /proc/stat advances every 0.2 s with busyPct % busy jiffies,
// rewritten in place with fixed-width numbers (the agent keeps the file open).
export class LiveProc {
  constructor({ fixture = 'basic', busyPct = 25, ncpu = 4 } = {}) {
    this.dir = mkdtemp('lanmon-proc-');
    const src = path.join(FIXTURES, 'proc', fixture);
    for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(this.dir, f));
    this.busyPct = busyPct;
    this.ncpu = ncpu;
    this.user = 1000000;
    this.idle = 9000000;
    this.write();
    this.timer = setInterval(() => {
      const busy = Math.floor((this.busyPct * 20) / 100);
      this.user += busy;
      this.idle += 20 - busy;
      this.write();
    }, 200);
  }

  text() {
    const pad = (n) => String(n).padStart(12, '0');
    let s = `cpu  ${pad(this.user)} 000000000000 000000000000 ${pad(this.idle)} 000000000000 0 0 0 0 0\n`;
    for (let i = 0; i < this.ncpu; i++) {
      s += `cpu${i} ${pad(Math.floor(this.user / this.ncpu))} 0 0 ${pad(Math.floor(this.idle / this.ncpu))} 0 0 0 0 0 0\n`;
    }
    return `${s}intr 0\nctxt 0\nbtime 1768600000\nprocesses 1\n`;
  }

  write() {
    const p = path.join(this.dir, 'stat');
    const data = Buffer.from(this.text());
    const fd = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_CREAT);
    try {
      fs.writeSync(fd, data, 0, data.length, 0);
      fs.ftruncateSync(fd, data.length);
    } finally {
      fs.closeSync(fd);
    }
  }

  close() {
    clearInterval(this.timer);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export class Agent {
  constructor({ procfs, token = 'test-token-0123456789', extra = {}, env = {}, nodeId = 'srv-test', gpus = 2, port } = {}) {
    this.dir = mkdtemp('lanmon-agent-');
    this.port = port;
    this.token = token;
    this.configPath = path.join(this.dir, 'config.yaml');
    this.logPath = path.join(this.dir, 'agent.log');
    this.settings = {
      node_id: nodeId,
      token,
      disks: ['/'],
      services_allowlist: [],
      gpu: 'auto',
      nvml_library: path.join(FAKES_DIR, 'libnvidia-ml.so.1'),
      nvidia_smi: '/nonexistent/nvidia-smi',
      procfs_root: procfs,
      cpu_window: '1s',
      ...extra,
    };
    this.env = { ...process.env, FAKE_NVML_GPUS: String(gpus), ASAN_OPTIONS: process.env.ASAN_OPTIONS || 'detect_leaks=0:abort_on_error=0', ...env };
    this.proc = null;
  }

  get base() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    if (!this.port) this.port = await freePort();
    const lines = Object.entries({ ...this.settings, listen: `127.0.0.1:${this.port}` })
      .filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => `${k}: ${yaml(v)}`);
    fs.writeFileSync(this.configPath, `${lines.join('\n')}\n`);
    const log = fs.openSync(this.logPath, 'a');
    this.proc = track(spawn(path.join(BIN_DIR, 'monitor-agent'), ['--config', this.configPath], { env: this.env, stdio: ['ignore', log, log] }));
    fs.closeSync(log);
    await waitUntil(async () => this.proc.exitCode === null && [200, 503].includes((await http('GET', `${this.base}/v1/health`, { timeout: 1000 })).status),
      { timeout: 15000, what: `agent on port ${this.port}` });
    return this;
  }

  async stop(signal = 'SIGTERM') {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill(signal);
    if (!(await waitExit(this.proc, 5000))) {
      this.proc.kill('SIGKILL');
      await waitExit(this.proc, 5000);
    }
  }

  output() {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  async close() {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// A private dbus-daemon with python-dbusmock's systemd template (tests/dbus/start-mock.sh).
export class DBusMock {
  constructor() {
    this.dir = mkdtemp('lanmon-dbus-');
    this.script = path.join(TESTS_DIR, 'dbus', 'start-mock.sh');
    const r = spawnSync(this.script, [this.dir], { timeout: 30000, encoding: 'utf8', env: { ...process.env, LANMON_MOCK_WATCH_PID: String(process.pid) } });
    if (r.status !== 0) throw new Error(`start-mock.sh failed: ${r.stderr || r.error}`);
    this.address = fs.readFileSync(path.join(this.dir, 'bus-address'), 'utf8').trim();
  }

  close() {
    spawnSync(this.script, ['--stop', this.dir], { timeout: 30000 });
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export class Aggregator {
  // extra: more config lines (e.g. 'gpu_state: { idle_after: 2s }').
  constructor({ servers = [], interval = '1s', timeout = '500ms', adminToken = 'admin-token-0123456789', webRoot = WEB_ROOT, env = {}, extra = [] } = {}) {
    this.dir = mkdtemp('lanmon-agg-');
    this.adminToken = adminToken;
    this.db = path.join(this.dir, 'data', 'monitor.db');
    this.configPath = path.join(this.dir, 'config.yaml');
    this.logPath = path.join(this.dir, 'aggregator.log');
    this.servers = servers;
    this.interval = interval;
    this.timeout = timeout;
    this.webRoot = webRoot;
    this.extra = extra;
    this.env = { ...process.env, ASAN_OPTIONS: process.env.ASAN_OPTIONS || 'detect_leaks=0:abort_on_error=0', ...env };
    this.port = null;
    this.proc = null;
  }

  get base() {
    return `http://127.0.0.1:${this.port}`;
  }

  async writeConfig() {
    if (!this.port) this.port = await freePort();
    const lines = [
      `listen: ${yaml(`127.0.0.1:${this.port}`)}`,
      `database: ${yaml(this.db)}`,
      `poll: { interval: ${this.interval}, timeout: ${this.timeout}, max_response_bytes: 1048576 }`,
      'history: { retention_days: 30, bucket: 1h, checkpoint: 2s }',
      `web_root: ${yaml(this.webRoot)}`,
    ];
    if (this.adminToken) lines.push(`admin_token: ${yaml(this.adminToken)}`);
    lines.push(...this.extra);
    if (this.servers.length) {
      lines.push('servers:');
      // Servers new to a database poll over TLS by default; these agents speak plain HTTP.
      for (const s of this.servers) lines.push(`  - ${JSON.stringify({ tls: false, ...s })}`);
    }
    fs.writeFileSync(this.configPath, `${lines.join('\n')}\n`);
  }

  // Creates the schema and imports the configured servers without starting the daemon.
  async initDb() {
    await this.writeConfig();
    const r = spawnSync(path.join(BIN_DIR, 'monitor-aggregator'), ['--config', this.configPath, '--init-db'], { env: this.env, encoding: 'utf8', timeout: 30000 });
    if (r.status !== 0) throw new Error(`--init-db failed: ${r.stdout}${r.stderr}`);
  }

  sql(statements) {
    const r = spawnSync('sqlite3', ['-bail', this.db], { input: statements, encoding: 'utf8', timeout: 30000 });
    if (r.status !== 0) throw new Error(`sqlite3 failed: ${r.stderr}`);
    return r.stdout.trim();
  }

  async start() {
    if (!this.port || !fs.existsSync(this.configPath)) await this.writeConfig();
    const log = fs.openSync(this.logPath, 'a');
    this.proc = track(spawn(path.join(BIN_DIR, 'monitor-aggregator'), ['--config', this.configPath], { env: this.env, stdio: ['ignore', log, log] }));
    fs.closeSync(log);
    await waitUntil(async () => this.proc.exitCode === null && (await http('GET', `${this.base}/api/health`, { timeout: 1000 })).status === 200,
      { timeout: 20000, what: 'aggregator health endpoint' });
    return this;
  }

  async stop(signal = 'SIGTERM') {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill(signal);
    if (!(await waitExit(this.proc, 10000))) {
      this.proc.kill('SIGKILL');
      await waitExit(this.proc, 5000);
    }
  }

  async api(method, p, body, { admin = true } = {}) {
    const headers = admin && this.adminToken ? { 'X-Admin-Token': this.adminToken } : {};
    return http(method, this.base + p, { headers, body, timeout: 10000 });
  }

  async serversByName() {
    const r = await this.api('GET', '/api/servers');
    return Object.fromEntries(r.json.map((s) => [s.name, s]));
  }

  output() {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  async close() {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// The fleet simulator (build/bin/fleet): count fake agents on a loopback address of its own
// (127.R.S.1 with random R and S, so that parallel runs and other programs' listeners on
// 127.0.0.1 never collide), ports 20000.. on it. servers(): entries for Aggregator({servers}).
export class Fleet {
  constructor({ count, token = 'fleet-token-0123' }) {
    this.count = count;
    this.token = token;
    this.dir = mkdtemp('lanmon-fleet-');
    this.address = `127.${100 + Math.floor(Math.random() * 150)}.${Math.floor(Math.random() * 250)}.1`;
    this.proc = null;
  }

  async start() {
    const cfg = path.join(this.dir, 'servers.yaml');
    const log = fs.openSync(path.join(this.dir, 'fleet.log'), 'a');
    this.proc = track(spawn(path.join(BIN_DIR, 'fleet'), ['--base-port', '20000', '--count', String(this.count),
      '--address', this.address, '--ports-per-address', '40000', '--token', this.token, '--print-config', cfg],
    { env: { ...process.env, ASAN_OPTIONS: process.env.ASAN_OPTIONS || 'detect_leaks=0:abort_on_error=0' }, stdio: ['ignore', 'pipe', log] }));
    fs.closeSync(log);
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('fleet not ready within 30 s')), 30000);
      this.proc.stdout.on('data', (d) => {
        if (String(d).includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      this.proc.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`fleet exited with ${code}: ${fs.readFileSync(path.join(this.dir, 'fleet.log'), 'utf8')}`));
      });
    });
    return this;
  }

  servers() {
    return Array.from({ length: this.count }, (_, k) => ({
      name: `fleet-${k}`, host: this.address, agent_port: 20000 + k, token: this.token,
    }));
  }

  async close() {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM');
      if (!(await waitExit(this.proc, 5000))) this.proc.kill('SIGKILL');
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// Tiny sequential runner: each case runs even if an earlier one failed; prints a summary
// "N passed, N failed" and sets the exit code.
export function runner() {
  const cases = [];
  return {
    test(name, fn, timeoutMs = 120000) {
      cases.push({ name, fn, timeoutMs });
    },
    async run({ before, after } = {}) {
      let passed = 0;
      let failed = 0;
      const t0 = Date.now();
      try {
        if (before) await before();
      } catch (e) {
        console.log(`FAIL setup: ${e && e.stack ? e.stack : e}`);
        if (after) await after().catch(() => {});
        console.log(`0 passed, ${cases.length} failed`);
        process.exitCode = 1;
        return;
      }
      for (const c of cases) {
        const start = Date.now();
        let timer;
        try {
          await Promise.race([
            c.fn(),
            new Promise((_, rej) => {
              timer = setTimeout(() => rej(new Error(`timed out after ${c.timeoutMs / 1000}s`)), c.timeoutMs);
            }),
          ]);
          passed++;
          console.log(`ok   ${c.name} (${((Date.now() - start) / 1000).toFixed(1)} s)`);
        } catch (e) {
          failed++;
          console.log(`FAIL ${c.name} (${((Date.now() - start) / 1000).toFixed(1)} s)\n     ${(e && e.stack ? e.stack : String(e)).split('\n').join('\n     ')}`);
        } finally {
          clearTimeout(timer);
        }
      }
      try {
        if (after) await after();
      } catch (e) {
        console.log(`warning: teardown: ${e}`);
      }
      console.log(`${passed} passed, ${failed} failed (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      process.exitCode = failed ? 1 : 0;
    },
  };
}
