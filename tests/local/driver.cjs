#!/usr/bin/env node
// Runs a state machine file on the local stack:
// - the ASL is executed by aws-local-stepfunctions (a third-party ASL interpreter), with the
//   definition's ${...} placeholders substituted exactly as template.yaml's DefinitionSubstitutions;
// - every Lambda Task runs the project's real binary under a local Lambda Runtime API
//   (the protocol Lambda itself speaks: GET /next, POST /response, POST /error), so
//   lambda_runtime, serialization and the errorType of failures are the real ones;
// - the optimized `arn:aws:states:::lambda:invoke` integration is emulated: the Payload
//   wrapper on success, and the function's errorType as the state's Error on failure
//   (what Retry/Catch match in AWS).
//
// Usage: node tests/local/driver.cjs --definition statemachine/provision.asl.json \
//          --functions '{"ValidateInputFunctionArn":"validate-input",...}' --input events/x.json \
//          --bin-dir target/debug --log-dir <dir> [--wait-ms 20] [--retry-ms 20] [--quiet]
//          [--wait-scale 0.05]
// Prints one line per state event on stderr and the execution output (JSON) on stdout, and writes
// <log-dir>/events.json, invocations.json (state, function, payload, start/end ms, outcome) and
// result.json (exit code, output, start/end ms on the same clock as the events' `t`).
// --wait-scale (the benchmark's critical path): Wait states wait for real, for the seconds the
// preceding Task returned × scale, and Retry intervals are scaled alike, instead of --wait-ms/--retry-ms.
// Exit codes: 0 succeeded, 2 execution failed (Error and Cause printed), 1 driver error.

'use strict';
if (typeof Promise.withResolvers !== 'function') {
  // aws-local-stepfunctions 3 uses Promise.withResolvers (Node >= 22); Node 20 lacks it.
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
const T0 = process.hrtime.bigint();
const now = () => Number(process.hrtime.bigint() - T0) / 1e6;

function parseArgs(argv) {
  const out = { waitMs: 20, retryMs: 20, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === '--definition') out.definition = next();
    else if (a === '--functions') out.functions = JSON.parse(next());
    else if (a === '--input') out.input = next();
    else if (a === '--bin-dir') out.binDir = next();
    else if (a === '--log-dir') out.logDir = next();
    else if (a === '--wait-ms') out.waitMs = Number(next());
    else if (a === '--retry-ms') out.retryMs = Number(next());
    else if (a === '--wait-scale') out.waitScale = Number(next());
    else if (a === '--quiet') out.quiet = true;
    else if (a === '--execution-name') out.executionName = next();
    else if (a === '--timeout-after-success') out.timeoutAfterSuccess = next();
    else if (a === '--invoke') out.invoke = next();
    else if (a === '--events') out.events = next();
    else if (a === '--repeat') out.repeat = Number(next());
    else if (a === '--binary') out.binary = next();
    else throw new Error(`unknown argument ${a}`);
  }
  const required = out.invoke ? ['events', 'binDir', 'logDir'] : ['definition', 'functions', 'input', 'binDir', 'logDir'];
  for (const k of required) {
    if (out[k] === undefined) throw new Error(`missing --${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`);
  }
  return out;
}

/** One function: its binary, started on first use, behind its own Runtime API endpoint. */
class LocalFunction {
  constructor(name, binary, logDir, region) {
    this.name = name;
    this.binary = binary;
    this.logDir = logDir;
    this.region = region;
    this.queue = [];        // invocations waiting for the runtime to ask for work
    this.waiter = null;     // the runtime's pending GET /next response
    this.inFlight = new Map();
    this.pending = new Set(); // every invocation not yet answered, queued or running
    this.child = null;
    this.invocations = 0;
  }

  arn() {
    return `arn:aws:lambda:${this.region}:${ACCOUNT}:function:${this.name}`;
  }

  async start() {
    if (this.child) return;
    if (!fs.existsSync(this.binary)) throw new Error(`function binary not found: ${this.binary} (run cargo build)`);
    this.server = http.createServer((req, res) => this.route(req, res));
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const port = this.server.address().port;
    const log = fs.openSync(path.join(this.logDir, `${this.name}.log`), 'a');
    this.child = spawn(this.binary, [], {
      stdio: ['ignore', log, log],
      env: {
        ...process.env,
        // One access key per function: the local IAM gate (tests/local/iam_gate.py) authorizes each
        // request against this function's policy; LOCAL_IAM_KEY_SUFFIX selects a mutated policy.
        AWS_ACCESS_KEY_ID: `lda-${this.name}` + (process.env.LOCAL_IAM_KEY_SUFFIX ? `+${process.env.LOCAL_IAM_KEY_SUFFIX}` : ''),
        AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${port}`,
        AWS_LAMBDA_FUNCTION_NAME: this.name,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
        AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
        AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${this.name}`,
        AWS_LAMBDA_LOG_STREAM_NAME: 'local',
        AWS_LAMBDA_LOG_FORMAT: 'JSON',
        AWS_LAMBDA_LOG_LEVEL: process.env.AWS_LAMBDA_LOG_LEVEL || 'INFO',
      },
    });
    this.child.on('exit', (code, signal) => {
      const err = new Error(`${this.name} exited (${signal || code}); see ${this.name}.log`);
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
    this.invocations++;
    const p = new Promise((resolve, reject) => {
      const inv = { id: crypto.randomUUID(), payload, resolve, reject };
      this.queue.push(inv);
      this.dispatch();
    });
    this.pending.add(p);
    const done = () => this.pending.delete(p);
    p.then(done, done);
    return p;
  }

  /** Like Lambda, an invocation runs to its end even when the execution no longer waits for it
   * (a Parallel branch stopped by a sibling's failure); settles when none is left. */
  async drain() {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
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
        this.waiter = res;           // long poll until an invocation arrives
        this.dispatch();
        return;
      }
      const m = url.match(/\/runtime\/invocation\/([^/]+)\/(response|error)$/);
      if (req.method === 'POST' && m) {
        const inv = this.inFlight.get(m[1]);
        this.inFlight.delete(m[1]);
        res.writeHead(202).end('{"status":"OK"}');
        if (!inv) return;
        if (m[2] === 'response') {
          inv.resolve(body ? JSON.parse(body) : null);
        } else {
          let d = {};
          try { d = JSON.parse(body); } catch { d = { errorMessage: body }; }
          const err = new Error(d.errorMessage || '');
          err.name = d.errorType || 'Lambda.Unknown';
          inv.reject(err);
        }
        return;
      }
      if (req.method === 'POST' && url.endsWith('/runtime/init/error')) {
        res.writeHead(202).end('{"status":"OK"}');
        return;
      }
      res.writeHead(404).end();
    });
  }
}

function collectStates(states, visit) {
  for (const [name, s] of Object.entries(states)) {
    visit(name, s);
    for (const b of s.Branches || []) collectStates(b.States, visit);
  }
}

// Check* state name → the poll member its Choice reads (e.g. "gatewayPoll"), for progress lines.
const pollKeyOf = {};

function describe(ev) {
  const s = ev.state ? ev.state.name : '';
  switch (ev.type) {
    case 'ExecutionStarted': return 'execution started';
    case 'StateEntered': return `→ ${s}`;
    case 'StateExited': {
      const o = ev.state.output;
      const key = pollKeyOf[ev.state.name];
      const poll = key && o && typeof o === 'object' ? o[key] : null;
      return poll ? `✓ ${s} (${poll.status}, attempt ${poll.attempt})` : `✓ ${s}`;
    }
    case 'StateRetried': return `↻ ${s} retry ${ev.retry.attempt}`;
    case 'StateFailed': return `✗ ${s}: ${ev.Error}: ${ev.Cause}`;
    case 'StateCaught': return `⤷ ${s} caught`;
    case 'ExecutionSucceeded': return 'execution succeeded';
    case 'ExecutionFailed': return `execution failed: ${ev.Error}: ${ev.Cause}`;
    default: return null;
  }
}

/** `--invoke <binary> --events <file>`: invoke one function with each event (×repeat), like an
 * asynchronous EventBridge delivery would, and report each result and its latency. */
async function invokeMode(args, region) {
  // `--binary`: another executable for the same function (its name still picks its access key).
  const fn = new LocalFunction(args.invoke, args.binary || path.join(args.binDir, args.invoke), args.logDir, region);
  let events = JSON.parse(fs.readFileSync(args.events, 'utf8'));
  if (!Array.isArray(events)) events = [events];
  const results = [];
  try {
    await fn.start();
    for (let r = 0; r < (args.repeat || 1); r++) {
      for (const ev of events) {
        const t0 = process.hrtime.bigint();
        try {
          const out = await fn.invoke(ev);
          results.push({ ok: true, ms: Number(process.hrtime.bigint() - t0) / 1e6, output: out });
        } catch (e) {
          results.push({ ok: false, ms: Number(process.hrtime.bigint() - t0) / 1e6, errorType: e.name, errorMessage: e.message });
        }
      }
    }
  } finally {
    fn.stop();
  }
  // A file, not stdout: process.exit() would cut a large piped write short.
  fs.writeFileSync(path.join(args.logDir, 'results.json'), JSON.stringify(results));
  return 0;
}

/** `$.a.b` on a value (the only JSONPath shape the Wait states use). */
function simplePath(doc, p) {
  let v = doc;
  for (const k of p.replace(/^\$\.?/, '').split('.').filter(Boolean)) v = v == null ? undefined : v[k];
  return v;
}

/** Real, scaled Wait durations: the interpreter reads its wait override when a Wait starts, and
 * each Wait's `SecondsPath` is in the output of the Task before it (directly or through a Choice),
 * so `after(task, output)` records the next wait of the Waits that can follow that Task. */
function scaledWaits(definition, scale) {
  const all = {};
  collectStates(definition.States, (name, s) => { all[name] = s; });
  const waitPath = {}, waitsAfter = {}, waitMs = {};
  for (const [name, s] of Object.entries(all)) {
    if (s.Type !== 'Wait') continue;
    waitPath[name] = s;
    if (typeof s.Seconds === 'number') waitMs[name] = s.Seconds * 1000 * scale;
  }
  for (const [name, s] of Object.entries(all)) {
    if (s.Type !== 'Task') continue;
    const nexts = [s.Next];
    const choice = all[s.Next];
    if (choice && choice.Type === 'Choice') nexts.push(choice.Default, ...choice.Choices.map((c) => c.Next));
    waitsAfter[name] = nexts.filter((n) => n && waitPath[n]);
  }
  const waits = new Proxy({}, {
    get: (_, name) => (typeof name === 'string' && name in waitPath ? (waitMs[name] ?? 0) : undefined),
    has: (_, name) => name in waitPath,
  });
  const after = (task, output) => {
    for (const w of waitsAfter[task] || []) {
      const p = waitPath[w].SecondsPath;
      const secs = p ? simplePath(output, p) : undefined;
      if (typeof secs === 'number') waitMs[w] = secs * 1000 * scale;
    }
  };
  return { waits, after };
}

/** A state machine ready to run on the local runtime: the definition with its ${...} placeholders
 * replaced by the functions' ARNs (as sam deploy does), a LocalFunction per function, and the
 * interpreter's overrides: Task handlers that invoke the functions (emulating the optimized
 * lambda:invoke integration), Wait and Retry durations. `onTask` (optional) hears each Task's
 * invocation start, success and failure (the local Step Functions API records them as history). */
function prepareMachine({
  definitionText, definitionPath, functions: subs, binDir, logDir, region,
  waitMs = 20, retryMs = 20, waitScale, timeoutAfterSuccess, onTask,
}) {
  const once = { timeoutAfterSuccess };
  // Substitute ${Name} placeholders with ARNs of the functions, as sam deploy does.
  let text = definitionText;
  const functions = new Map();
  for (const [placeholder, binary] of Object.entries(subs)) {
    const fn = new LocalFunction(binary, path.join(binDir, binary), logDir, region);
    functions.set(fn.arn(), fn);
    text = text.split('${' + placeholder + '}').join(fn.arn());
  }
  const left = text.match(/\$\{[A-Za-z0-9]+\}/);
  if (left) throw new Error(`no substitution for ${left[0]} in ${definitionPath}`);
  const definition = JSON.parse(text);

  const handlers = {}, retries = {}, invocations = [];
  let waits = {};
  const scaled = waitScale === undefined ? null : scaledWaits(definition, waitScale);
  if (scaled) waits = scaled.waits;
  collectStates(definition.States, (name, s) => {
    if (s.Type === 'Task') {
      if (s.Resource !== 'arn:aws:states:::lambda:invoke') throw new Error(`${name}: only lambda:invoke tasks are supported locally`);
      handlers[name] = async (input) => {
        const fn = functions.get(input.FunctionName);
        if (!fn) {
          const e = new Error(`Function not found: ${input.FunctionName}`);
          e.name = 'Lambda.ResourceNotFoundException';
          throw e;
        }
        const rec = { state: name, function: fn.name, payload: input.Payload, startMs: now() };
        invocations.push(rec);
        if (onTask) onTask.scheduled(name, input);
        let payload;
        try {
          await fn.start();
          rec.invokeMs = now();
          payload = await fn.invoke(input.Payload);
          Object.assign(rec, { endMs: now(), ok: true });
        } catch (e) {
          Object.assign(rec, { endMs: now(), ok: false, error: e.name });
          if (onTask) onTask.failed(name, e);
          throw e;
        }
        if (scaled) scaled.after(name, payload);
        if (once.timeoutAfterSuccess === name) {
          // Simulates a Lambda that did its work but timed out before answering (once).
          once.timeoutAfterSuccess = undefined;
          const e = new Error(`Task timed out after 60.00 seconds (simulated after a successful ${name})`);
          e.name = 'Sandbox.Timedout';
          if (onTask) onTask.failed(name, e);
          throw e;
        }
        const result = { ExecutedVersion: '$LATEST', StatusCode: 200, Payload: payload };
        if (onTask) onTask.succeeded(name, result);
        return result;
      };
    }
    if (s.Type === 'Wait' && !scaled) waits[name] = waitMs;
    if (s.Type === 'Choice') {
      const m = /^\$\.([A-Za-z]+)\.state$/.exec((s.Choices[0] || {}).Variable || '');
      if (m) {
        collectStates(definition.States, (n2, s2) => { if (s2.Next === name) pollKeyOf[n2] = m[1]; });
      }
    }
    if (s.Retry) retries[name] = scaled ? (s.Retry[0].IntervalSeconds ?? 1) * 1000 * waitScale : retryMs;
  });

  return { definition, functions, handlers, waits, retries, invocations };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const region = process.env.AWS_REGION || 'us-east-1';
  fs.mkdirSync(args.logDir, { recursive: true });
  if (args.invoke) process.exit(await invokeMode(args, region));

  const { definition, functions, handlers, waits, retries, invocations } = prepareMachine({
    definitionText: fs.readFileSync(args.definition, 'utf8'),
    definitionPath: args.definition,
    functions: args.functions,
    binDir: args.binDir,
    logDir: args.logDir,
    region,
    waitMs: args.waitMs,
    retryMs: args.retryMs,
    waitScale: args.waitScale,
    timeoutAfterSuccess: args.timeoutAfterSuccess,
  });

  const input = JSON.parse(fs.readFileSync(args.input, 'utf8'));
  const sm = new StateMachine(definition, { validationOptions: { checkArn: true, checkPaths: true } });
  const executionName = args.executionName || `local-${Date.now()}`;
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
  const exec = sm.run(input, { context, overrides: { taskResourceLocalHandlers: handlers, waitTimeOverrides: waits, retryIntervalOverrides: retries } });
  const started = Date.now();
  const startedMs = now();
  const events = [];
  const logging = (async () => {
    for await (const ev of exec.eventLogs) {
      events.push({ ...ev, t: now() });
      const line = describe(ev);
      if (line && !args.quiet) process.stderr.write(`[${((ev.timestamp - started) / 1000).toFixed(2)}s] ${line}\n`);
    }
  })();

  let code = 0;
  let output = null;
  let failure = null;
  try {
    output = await exec.result;
  } catch (e) {
    failure = e;
    output = { error: e.name, cause: e.message };
    code = 2;
  }
  const endedMs = now();
  // The event stream ends with the execution (ExecutionSucceeded/Failed); do not hang on it.
  await Promise.race([logging.catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
  if (failure) {
    const failed = [...events].reverse().find((ev) => ev.type === 'ExecutionFailed' || ev.type === 'StateFailed');
    const error = failed ? failed.Error : failure.name;
    const cause = failed ? failed.Cause : failure.message;
    process.stderr.write(`EXECUTION FAILED\nError: ${error}\nCause: ${typeof cause === 'string' ? cause : JSON.stringify(cause)}\n`);
  } else {
    process.stdout.write(JSON.stringify(output, null, 2) + '\n');
  }
  // Invocations still running after the execution ended (bounded by their 60 s deadline).
  const drained = Promise.all([...functions.values()].map((fn) => fn.drain()));
  await Promise.race([drained, new Promise((r) => setTimeout(r, 70_000).unref())]);
  for (const fn of functions.values()) fn.stop();
  const summary = { events: events.length, invocations: Object.fromEntries([...functions.values()].map((f) => [f.name, f.invocations])) };
  fs.writeFileSync(path.join(args.logDir, 'summary.json'), JSON.stringify(summary, null, 2));
  fs.writeFileSync(path.join(args.logDir, 'events.json'), JSON.stringify(events, null, 1));
  fs.writeFileSync(path.join(args.logDir, 'invocations.json'), JSON.stringify(invocations));
  fs.writeFileSync(path.join(args.logDir, 'result.json'),
    JSON.stringify({ code, output, startedMs, endedMs, waitScale: args.waitScale ?? null }));
  process.exit(code);
}

module.exports = { LocalFunction, collectStates, prepareMachine };

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`driver error: ${e.stack || e}\n`);
    process.exit(1);
  });
}
