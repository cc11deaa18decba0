#!/usr/bin/env node
// Benchmark runner for a state machine on the local stack (not used by the tests).
//
// Same execution model as tests/local/driver.cjs (aws-local-stepfunctions runs the ASL; each Lambda
// Task runs the real binary under a local Lambda Runtime API, with the optimized lambda:invoke
// integration's Payload wrapper), with two differences for the critical-path benchmark:
// - Wait states wait for real, scaled: `--wait-scale 0.05` makes a `SecondsPath` of 30 wait 1.5 s.
//   (The interpreter reads its wait overrides per state when the Wait starts; the value is taken
//   from the output of the Task that precedes it, i.e. the `waitSeconds` the status Lambda chose.)
//   Retry intervals are scaled the same way.
// - every invocation is recorded (state, function, payload, start/end ms, outcome) in
//   <log-dir>/invocations.json, beside events.json, so the benchmark can replay realistic payloads.
//
// Usage: node bench/sfn_run.cjs --definition statemachine/provision.asl.json --functions '{...}'
//          --input in.json --bin-dir <dir> --log-dir <dir> --wait-scale 0.05 [--execution-name n]

'use strict';
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = () => {
    let resolve, reject;
    const promise = new Promise((a, b) => { resolve = a; reject = b; });
    return { promise, resolve, reject };
  };
}

const fs = require('fs');
const http = require('http');
const path = require('path');
const crypto = require('crypto');
const { spawn } = require('child_process');
const { StateMachine } = require('aws-local-stepfunctions');

const ACCOUNT = '123456789012';

function parseArgs(argv) {
  const out = { waitScale: 0.001 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === '--definition') out.definition = next();
    else if (a === '--functions') out.functions = JSON.parse(next());
    else if (a === '--input') out.input = next();
    else if (a === '--bin-dir') out.binDir = next();
    else if (a === '--log-dir') out.logDir = next();
    else if (a === '--wait-scale') out.waitScale = Number(next());
    else if (a === '--execution-name') out.executionName = next();
    else throw new Error(`unknown argument ${a}`);
  }
  for (const k of ['definition', 'functions', 'input', 'binDir', 'logDir']) {
    if (out[k] === undefined) throw new Error(`missing --${k}`);
  }
  return out;
}

const T0 = process.hrtime.bigint();
const now = () => Number(process.hrtime.bigint() - T0) / 1e6;

class LocalFunction {
  constructor(name, binary, logDir, region) {
    Object.assign(this, { name, binary, logDir, region });
    this.queue = [];
    this.waiter = null;
    this.inFlight = new Map();
    this.child = null;
  }

  arn() { return `arn:aws:lambda:${this.region}:${ACCOUNT}:function:${this.name}`; }

  async start() {
    if (this.child) return;
    if (!fs.existsSync(this.binary)) throw new Error(`function binary not found: ${this.binary}`);
    this.server = http.createServer((req, res) => this.route(req, res));
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const port = this.server.address().port;
    const log = fs.openSync(path.join(this.logDir, `${this.name}.log`), 'a');
    this.child = spawn(this.binary, [], {
      stdio: ['ignore', log, log],
      env: {
        ...process.env,
        AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${port}`,
        AWS_LAMBDA_FUNCTION_NAME: this.name,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
        AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
        AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${this.name}`,
        AWS_LAMBDA_LOG_STREAM_NAME: 'bench',
        AWS_LAMBDA_LOG_FORMAT: 'JSON',
        AWS_LAMBDA_LOG_LEVEL: 'WARN',
      },
    });
    this.child.on('exit', (code, signal) => {
      const err = new Error(`${this.name} exited (${signal || code})`);
      err.name = 'Runtime.ExitError';
      for (const inv of this.inFlight.values()) inv.reject(err);
      this.inFlight.clear();
      this.child = null;
      if (this.server) this.server.close();
    });
  }

  stop() {
    if (this.child) this.child.kill('SIGTERM');
    if (this.server) this.server.close();
  }

  invoke(payload) {
    return new Promise((resolve, reject) => {
      this.queue.push({ id: crypto.randomUUID(), payload, resolve, reject });
      this.dispatch();
    });
  }

  dispatch() {
    if (!this.waiter || this.queue.length === 0) return;
    const inv = this.queue.shift();
    const res = this.waiter;
    this.waiter = null;
    this.inFlight.set(inv.id, inv);
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Lambda-Runtime-Aws-Request-Id': inv.id,
      'Lambda-Runtime-Deadline-Ms': String(Date.now() + 60_000),
      'Lambda-Runtime-Invoked-Function-Arn': this.arn(),
      'Lambda-Runtime-Trace-Id': `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${crypto.randomBytes(12).toString('hex')};Sampled=0`,
    });
    res.end(JSON.stringify(inv.payload));
  }

  route(req, res) {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const url = req.url || '';
      if (req.method === 'GET' && url.endsWith('/runtime/invocation/next')) {
        this.waiter = res;
        this.dispatch();
        return;
      }
      const m = url.match(/\/runtime\/invocation\/([^/]+)\/(response|error)$/);
      if (req.method === 'POST' && m) {
        const inv = this.inFlight.get(m[1]);
        this.inFlight.delete(m[1]);
        res.writeHead(202).end('{"status":"OK"}');
        if (!inv) return;
        if (m[2] === 'response') inv.resolve(body ? JSON.parse(body) : null);
        else {
          let d = {};
          try { d = JSON.parse(body); } catch { d = { errorMessage: body }; }
          const err = new Error(d.errorMessage || '');
          err.name = d.errorType || 'Lambda.Unknown';
          inv.reject(err);
        }
        return;
      }
      res.writeHead(202).end('{"status":"OK"}');
    });
  }
}

function collectStates(states, visit) {
  for (const [name, s] of Object.entries(states)) {
    visit(name, s);
    for (const b of s.Branches || []) collectStates(b.States, visit);
  }
}

/** `$.a.b` on a value (the only JSONPath shape the Wait states use). */
function simplePath(doc, p) {
  let v = doc;
  for (const k of p.replace(/^\$\.?/, '').split('.').filter(Boolean)) v = v == null ? undefined : v[k];
  return v;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const region = process.env.AWS_REGION || 'us-east-1';
  fs.mkdirSync(args.logDir, { recursive: true });

  let text = fs.readFileSync(args.definition, 'utf8');
  const functions = new Map();
  for (const [placeholder, binary] of Object.entries(args.functions)) {
    const fn = new LocalFunction(binary, path.join(args.binDir, binary), args.logDir, region);
    functions.set(fn.arn(), fn);
    text = text.split('${' + placeholder + '}').join(fn.arn());
  }
  const left = text.match(/\$\{[A-Za-z0-9]+\}/);
  if (left) throw new Error(`no substitution for ${left[0]}`);
  const definition = JSON.parse(text);

  // Wait state → the SecondsPath it reads, and Task state → the Wait states that follow it
  // (directly or through a Choice), so a Task's output sets the next Wait's duration.
  const all = {};
  collectStates(definition.States, (name, s) => { all[name] = s; });
  const waitPath = {};
  const waitsAfter = {};
  for (const [name, s] of Object.entries(all)) {
    if (s.Type === 'Wait') waitPath[name] = s;
  }
  for (const [name, s] of Object.entries(all)) {
    if (s.Type !== 'Task') continue;
    const nexts = [s.Next];
    const choice = all[s.Next];
    if (choice && choice.Type === 'Choice') nexts.push(choice.Default, ...choice.Choices.map((c) => c.Next));
    waitsAfter[name] = nexts.filter((n) => n && waitPath[n]);
  }
  const waitMs = {};  // current scaled duration of each Wait state
  const waits = new Proxy({}, {
    get: (_, name) => (typeof name === 'string' && name in waitPath ? (waitMs[name] ?? 0) : undefined),
    has: (_, name) => name in waitPath,
  });
  for (const [name, s] of Object.entries(waitPath)) {
    if (typeof s.Seconds === 'number') waitMs[name] = s.Seconds * 1000 * args.waitScale;
  }
  const retries = {};
  for (const [name, s] of Object.entries(all)) {
    if (s.Retry) retries[name] = (s.Retry[0].IntervalSeconds ?? 1) * 1000 * args.waitScale;
  }

  const invocations = [];
  const handlers = {};
  for (const [name, s] of Object.entries(all)) {
    if (s.Type !== 'Task') continue;
    if (s.Resource !== 'arn:aws:states:::lambda:invoke') throw new Error(`${name}: only lambda:invoke tasks are supported`);
    handlers[name] = async (input) => {
      const fn = functions.get(input.FunctionName);
      if (!fn) {
        const e = new Error(`Function not found: ${input.FunctionName}`);
        e.name = 'Lambda.ResourceNotFoundException';
        throw e;
      }
      const rec = { state: name, function: fn.name, payload: input.Payload, startMs: now() };
      invocations.push(rec);
      try {
        await fn.start();
        rec.invokeMs = now();
        const payload = await fn.invoke(input.Payload);
        rec.endMs = now();
        rec.ok = true;
        for (const w of waitsAfter[name] || []) {
          const p = waitPath[w].SecondsPath;
          const secs = p ? simplePath(payload, p) : undefined;
          if (typeof secs === 'number') waitMs[w] = secs * 1000 * args.waitScale;
        }
        return { ExecutedVersion: '$LATEST', StatusCode: 200, Payload: payload };
      } catch (e) {
        rec.endMs = now();
        rec.ok = false;
        rec.error = e.name;
        throw e;
      }
    };
  }

  const input = JSON.parse(fs.readFileSync(args.input, 'utf8'));
  const sm = new StateMachine(definition, { validationOptions: { checkArn: true, checkPaths: true } });
  const executionName = args.executionName || `bench-${Date.now()}`;
  const smName = path.basename(args.definition).replace(/\.asl\.json$/, '');
  const context = {
    Execution: {
      Id: `arn:aws:states:${region}:${ACCOUNT}:execution:${smName}:${executionName}`,
      Name: executionName,
      Input: input,
      StartTime: new Date().toISOString(),
      RoleArn: `arn:aws:iam::${ACCOUNT}:role/local`,
    },
    StateMachine: { Id: `arn:aws:states:${region}:${ACCOUNT}:stateMachine:${smName}`, Name: smName },
  };
  const events = [];
  const startedMs = now();
  const exec = sm.run(input, { context, overrides: { taskResourceLocalHandlers: handlers, waitTimeOverrides: waits, retryIntervalOverrides: retries } });
  const logging = (async () => {
    for await (const ev of exec.eventLogs) {
      // Wall-clock timestamps of the interpreter, plus our monotonic clock for precise spans.
      events.push({ ...ev, t: now() });
    }
  })();
  let code = 0;
  let output = null;
  try {
    output = await exec.result;
  } catch (e) {
    code = 2;
    output = { error: e.name, cause: e.message };
  }
  const endedMs = now();
  // The event stream ends with the execution; do not hang on it if it does not.
  await Promise.race([logging.catch(() => {}), new Promise((r) => setTimeout(r, 2000))]);
  for (const fn of functions.values()) fn.stop();
  fs.writeFileSync(path.join(args.logDir, 'events.json'), JSON.stringify(events));
  fs.writeFileSync(path.join(args.logDir, 'invocations.json'), JSON.stringify(invocations));
  fs.writeFileSync(path.join(args.logDir, 'result.json'), JSON.stringify({ code, output, startedMs, endedMs, waitScale: args.waitScale }));
  process.exit(code);
}

main().catch((e) => {
  process.stderr.write(`sfn_run error: ${e.stack || e}\n`);
  process.exit(1);
});
