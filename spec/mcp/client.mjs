// client.mjs: drives `tasknum mcp` with the official MCP TypeScript SDK
// clients, for spec/mcp_spec.lua. Prints one JSON document on stdout with
// what it saw; the spec asserts on it and on the state file.
//   node client.mjs session BIN CWD          one client: list, call every tool
//   node client.mjs race BIN CWD N K         N clients at once, K allocations each
//   node client.mjs roots BIN CWD ROOT       a client that offers ROOT as its root
//   node client.mjs modern BIN CWD           @modelcontextprotocol/client (v2), 2026-07-28
//   node client.mjs agent FILE               an agent file's YAML front matter and body
// BIN is started as `BIN mcp` in CWD with this process's environment (the
// spec leaves TASKNUM_STATE out; the sanitizer settings of `make test
// SANITIZE=1` get through), its stderr collected.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const [scenario, bin, cwd, ...rest] = process.argv.slice(2);

function transport(Transport) {
  const t = new Transport({ command: bin, args: ['mcp'], cwd, env: { ...process.env }, stderr: 'pipe' });
  let stderr = '';
  t.stderr.on('data', (d) => { stderr += d; });
  return { t, stderr: () => stderr };
}

async function connect(capabilities = {}, setup = () => {}) {
  const { t, stderr } = transport(StdioClientTransport);
  const client = new Client({ name: 'tasknum-spec', version: '1.0.0' }, { capabilities });
  setup(client);
  await client.connect(t);
  return { client, stderr };
}

// A call's outcome: the result as the SDK returned it (after checking
// structuredContent against the tool's outputSchema), or the error it threw.
async function call(client, name, args) {
  try {
    return { result: await client.callTool({ name, arguments: args }) };
  } catch (e) {
    return { thrown: { name: e.constructor.name, code: e.code, message: e.message } };
  }
}

async function session() {
  const { client, stderr } = await connect();
  const out = { server: client.getServerVersion(), capabilities: client.getServerCapabilities(),
                instructions: client.getInstructions() };
  out.tools = (await client.listTools()).tools;
  out.allocate = await call(client, 'allocate', { count: 2, purpose: 'spec: two numbers' });
  out.plain = await call(client, 'allocate', { format: 'plain' });
  const fields = { language: 'lean4', dependencies: [58, 68], nested: { a: 'x/y' } };
  const description = 'From MCP: `rm -rf $HOME` "quoted" \'single\'\nsecond line, ünïcode';
  out.add = await call(client, 'add_task', { name: 'mcp_task', description, fields, if_absent: true });
  out.again = await call(client, 'add_task', { name: 'mcp_task', description: 'retry', if_absent: true });
  out.bad_count = await call(client, 'allocate', { count: 11 });
  out.zero = await call(client, 'allocate', { count: 0 });
  out.string_count = await call(client, 'allocate', { count: 'two' });
  out.unknown_arg = await call(client, 'allocate', { cuont: 2 });
  out.bad_name = await call(client, 'add_task', { name: 'has space' });
  out.no_name = await call(client, 'add_task', {});
  out.missing_state = await call(client, 'allocate', { state: '/nonexistent/specs/state.json' });
  out.status = await call(client, 'status', {});
  out.check = await call(client, 'check', {});
  out.unknown_tool = await call(client, 'no_such_tool', {});
  out.ping = await client.ping();
  await client.close();
  out.stderr = stderr();
  return out;
}

async function race(n, k) {
  const clients = await Promise.all(Array.from({ length: n }, () => connect()));
  const numbers = await Promise.all(clients.map(async ({ client }) => {
    const got = [];
    for (let i = 0; i < k; i++) {
      const r = await client.callTool({ name: 'allocate', arguments: { purpose: 'race' } });
      if (r.isError) throw new Error(JSON.stringify(r.structuredContent));
      got.push(...r.structuredContent.allocated_numbers);
    }
    return got;
  }));
  await Promise.all(clients.map(({ client }) => client.close()));
  return { numbers };
}

async function roots(root) {
  let asked = 0;
  const { client, stderr } = await connect({ roots: { listChanged: true } }, (c) => {
    c.setRequestHandler(ListRootsRequestSchema, async () => {
      asked++;
      return { roots: [{ uri: 'file://' + encodeURI(root), name: 'project' }] };
    });
  });
  const out = { allocate: await call(client, 'allocate', { purpose: 'from the root' }) };
  out.status = await call(client, 'status', {});
  out.asked = asked;
  await client.close();
  out.stderr = stderr();
  return out;
}

async function modern() {
  const v2 = await import('@modelcontextprotocol/client');
  const stdio = await import('@modelcontextprotocol/client/stdio');
  const { t, stderr } = transport(stdio.StdioClientTransport);
  const client = new v2.Client({ name: 'tasknum-spec-v2', version: '1.0.0' },
    { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(t);
  const out = { server: client.getServerVersion() };
  out.tools = (await client.listTools()).tools.map((tool) => tool.name);
  out.allocate = await call(client, 'allocate', { purpose: 'modern era' });
  out.bad_count = await call(client, 'allocate', { count: 11 });
  await client.close();
  out.stderr = stderr();
  return out;
}

// The front matter as Claude Code and OpenCode read it: YAML between the
// first two `---` lines (parsed strictly: a duplicate key is an error).
async function agent(file) {
  const { parse } = await import('yaml');
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(file, 'utf8');
  const m = text.match(/^---\n([\s\S]*?)\n---\n([\s\S]*)$/);
  if (!m) throw new Error(`${file}: no front matter between --- lines`);
  return { front: parse(m[1], { strict: true, uniqueKeys: true }), body: m[2] };
}

const scenarios = {
  session,
  race: () => race(Number(rest[0]), Number(rest[1])),
  roots: () => roots(rest[0]),
  modern,
  agent: () => agent(bin),
};

try {
  const out = await scenarios[scenario]();
  process.stdout.write(JSON.stringify(out) + '\n');
} catch (e) {
  process.stderr.write(`client.mjs ${scenario}: ${e.stack || e}\n`);
  process.exit(1);
}
