#!/usr/bin/env node
// The local Step Functions API: what the CLI (and any AWS SDK or the AWS CLI) calls, served over
// the same interpreter and local Lambda runtime as tests/local/driver.cjs.
//
// - Step Functions over awsJson1_0 (`X-Amz-Target: AWSStepFunctions.<Operation>`), the shapes of
//   the official model: StartExecution, DescribeExecution, GetExecutionHistory, ListExecutions,
//   StopExecution, ListStateMachines, DescribeStateMachine. Errors as `{"__type", "message"}`
//   with the model's error names (ExecutionDoesNotExist, StateMachineDoesNotExist,
//   ExecutionAlreadyExists, InvalidArn, InvalidName, InvalidExecutionInput).
// - CloudFormation `DescribeStacks` (awsQuery, form-encoded in, XML out) for the stack whose
//   outputs name the two state machines, as `sam deploy` leaves them.
//
// History events are the interpreter's, mapped to the model's HistoryEvent types
// (`<Type>StateEntered/Exited` with name and input/output, TaskScheduled with the Lambda
// parameters, TaskSucceeded/TaskFailed, Execution* with input, output, error and cause).
//
// Usage: node tests/local/sfn_server.cjs --stack lattice-db-access --machines '<json>' \
//          --bin-dir target/debug --log-dir <dir> [--wait-ms 20] [--retry-ms 20]
//   <json>: [{"name": "...", "output": "ProvisionStateMachineArn", "definition": "<path>",
//             "functions": {"<Placeholder>": "<binary>"}}]
// Prints `listening on 127.0.0.1:<port>` on stdout when ready.

'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const crypto = require('crypto');
const { StateMachine } = require('aws-local-stepfunctions');
const { LocalFunction, prepareMachine } = require('./driver.cjs');

const ACCOUNT = '123456789012';
const REGION = process.env.AWS_REGION || 'us-east-1';

function parseArgs(argv) {
  const out = { waitMs: 20, retryMs: 20, stack: 'lattice-db-access' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === '--machines') out.machines = JSON.parse(next());
    else if (a === '--stack') out.stack = next();
    else if (a === '--bin-dir') out.binDir = next();
    else if (a === '--log-dir') out.logDir = next();
    else if (a === '--wait-ms') out.waitMs = Number(next());
    else if (a === '--retry-ms') out.retryMs = Number(next());
    else throw new Error(`unknown argument ${a}`);
  }
  for (const k of ['machines', 'binDir', 'logDir']) if (out[k] === undefined) throw new Error(`missing --${k}`);
  return out;
}

class ApiError extends Error {
  constructor(type, message, status = 400) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

const machineArn = (name) => `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${name}`;
const executionArn = (machine, name) => `arn:aws:states:${REGION}:${ACCOUNT}:execution:${machine}:${name}`;
const seconds = (ms) => ms / 1000;

/** One execution: its interpreter run, its history in the model's shape, its outcome. */
class Execution {
  constructor(machine, name, input, args) {
    this.machine = machine;
    this.name = name;
    this.arn = executionArn(machine.name, name);
    this.input = input;
    this.status = 'RUNNING';
    this.startDate = Date.now();
    this.stopDate = null;
    this.output = null;
    this.error = null;
    this.cause = null;
    this.history = [];
    this.args = args;
  }

  push(type, details) {
    const id = this.history.length + 1;
    const ev = { id, previousEventId: id - 1, timestamp: seconds(Date.now()), type, ...details };
    this.history.push(ev);
    return ev;
  }

  start() {
    const logDir = path.join(this.args.logDir, this.name);
    fs.mkdirSync(logDir, { recursive: true });
    const m = prepareMachine({
      definitionText: fs.readFileSync(this.machine.definition, 'utf8'),
      definitionPath: this.machine.definition,
      functions: this.machine.functions,
      binDir: this.args.binDir,
      logDir,
      region: REGION,
      waitMs: this.args.waitMs,
      retryMs: this.args.retryMs,
      // TaskScheduled/TaskSucceeded/TaskFailed around each Lambda invocation, as Step Functions records them.
      onTask: {
        scheduled: (state, params) => this.push('TaskScheduled', {
          taskScheduledEventDetails: { resourceType: 'lambda', resource: 'invoke', region: REGION, parameters: JSON.stringify(params) },
        }),
        succeeded: (state, output) => this.push('TaskSucceeded', {
          taskSucceededEventDetails: { resourceType: 'lambda', resource: 'invoke', output: JSON.stringify(output) },
        }),
        failed: (state, e) => this.push('TaskFailed', {
          taskFailedEventDetails: { resourceType: 'lambda', resource: 'invoke', error: e.name, cause: e.message },
        }),
      },
    });
    this.functions = m.functions;
    const sm = new StateMachine(m.definition, { validationOptions: { checkArn: true, checkPaths: true } });
    const context = {
      Execution: {
        Id: this.arn, Name: this.name, Input: this.input,
        StartTime: new Date(this.startDate).toISOString(), RoleArn: `arn:aws:iam::${ACCOUNT}:role/local`,
      },
      StateMachine: { Id: this.machine.arn, Name: this.machine.name },
    };
    this.run = sm.run(this.input, {
      context,
      overrides: { taskResourceLocalHandlers: m.handlers, waitTimeOverrides: m.waits, retryIntervalOverrides: m.retries },
    });
    const logged = (async () => {
      for await (const ev of this.run.eventLogs) this.record(ev);
    })().catch(() => {});
    // The history is whole before the outcome shows: the interpreter's event stream ends with
    // the execution (bounded, as the driver does, in case it does not).
    const drained = () => Promise.race([logged, new Promise((r) => setTimeout(r, 2000).unref())]);
    this.run.result.then(
      (output) => drained().then(() => this.finish('SUCCEEDED', { output })),
      (e) => drained().then(() => {
        if (this.status === 'ABORTED') return;
        const failed = [...this.history].reverse().find((h) => h.type === 'ExecutionFailed');
        this.finish('FAILED', {
          error: failed ? failed.executionFailedEventDetails.error : e.name,
          cause: failed ? failed.executionFailedEventDetails.cause : e.message,
        });
      }),
    );
  }

  /** One interpreter event → the model's history event (those with no counterpart are dropped). */
  record(ev) {
    const s = ev.state;
    const json = (v) => JSON.stringify(v === undefined ? null : v);
    switch (ev.type) {
      case 'ExecutionStarted':
        this.push('ExecutionStarted', {
          executionStartedEventDetails: { input: json(ev.input), roleArn: `arn:aws:iam::${ACCOUNT}:role/local` },
        });
        break;
      case 'StateEntered':
        this.push(`${s.type}StateEntered`, { stateEnteredEventDetails: { name: s.name, input: json(s.input) } });
        break;
      case 'StateExited':
        this.push(`${s.type}StateExited`, { stateExitedEventDetails: { name: s.name, output: json(s.output) } });
        break;
      case 'ExecutionFailed': {
        const cause = typeof ev.Cause === 'string' ? ev.Cause : json(ev.Cause);
        this.push('ExecutionFailed', { executionFailedEventDetails: { error: ev.Error, cause } });
        break;
      }
      default:
        break; // retries, catches and branch events: Step Functions shows them through the task events
    }
  }

  finish(status, outcome) {
    if (this.status !== 'RUNNING') return;
    Object.assign(this, outcome);
    this.status = status;
    this.stopDate = Date.now();
    if (status === 'SUCCEEDED') {
      this.push('ExecutionSucceeded', { executionSucceededEventDetails: { output: JSON.stringify(outcome.output) } });
    }
    this.stopFunctions();
  }

  /** Invocations still running end on their own (Lambda cannot be cancelled), then the runtimes stop. */
  stopFunctions() {
    Promise.all([...this.functions.values()].map((f) => f.drain())).then(() => {
      for (const f of this.functions.values()) f.stop();
    });
  }

  abort(error, cause) {
    if (this.status !== 'RUNNING') return;
    this.status = 'ABORTED';
    this.stopDate = Date.now();
    this.error = error || null;
    this.cause = cause || null;
    this.push('ExecutionAborted', { executionAbortedEventDetails: { error: this.error, cause: this.cause } });
    this.run.abort();
    this.stopFunctions();
  }

  describe() {
    const d = {
      executionArn: this.arn, stateMachineArn: this.machine.arn, name: this.name, status: this.status,
      startDate: seconds(this.startDate), input: JSON.stringify(this.input),
    };
    if (this.stopDate) d.stopDate = seconds(this.stopDate);
    if (this.status === 'SUCCEEDED') d.output = JSON.stringify(this.output);
    if (this.error) d.error = this.error;
    if (this.cause) d.cause = this.cause;
    return d;
  }

  summary() {
    const d = { executionArn: this.arn, stateMachineArn: this.machine.arn, name: this.name, status: this.status, startDate: seconds(this.startDate) };
    if (this.stopDate) d.stopDate = seconds(this.stopDate);
    return d;
  }
}

/** `nextToken` is the index of the next item. `maxResults`: 0 or absent is the default page of
 * 100, at most 1000 (as the Step Functions API reference says). */
function page(items, req, key) {
  const requested = req.maxResults || 0;
  if (requested < 0 || requested > 1000) throw new ApiError('ValidationException', 'maxResults must be between 0 and 1000');
  const max = requested || 100;
  const start = req.nextToken ? Number(req.nextToken) : 0;
  if (!Number.isInteger(start) || start < 0 || start > items.length) throw new ApiError('InvalidToken', `invalid nextToken ${req.nextToken}`);
  const slice = items.slice(start, start + max);
  const out = { [key]: slice };
  if (start + slice.length < items.length) out.nextToken = String(start + slice.length);
  return out;
}

const NAME = /^[A-Za-z0-9_-]{1,80}$/;

class Api {
  constructor(args) {
    this.args = args;
    this.machines = new Map();
    for (const m of args.machines) {
      this.machines.set(machineArn(m.name), { ...m, arn: machineArn(m.name), created: Date.now() });
    }
    this.executions = new Map();
  }

  machine(arn) {
    if (typeof arn !== 'string' || !arn.startsWith('arn:')) throw new ApiError('InvalidArn', `Invalid Arn: '${arn}'`);
    const m = this.machines.get(arn);
    if (!m) throw new ApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
    return m;
  }

  execution(arn) {
    if (typeof arn !== 'string' || !arn.startsWith('arn:')) throw new ApiError('InvalidArn', `Invalid Arn: '${arn}'`);
    const e = this.executions.get(arn);
    if (!e) throw new ApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`);
    return e;
  }

  StartExecution(req) {
    const m = this.machine(req.stateMachineArn);
    const name = req.name || crypto.randomUUID();
    if (!NAME.test(name)) throw new ApiError('InvalidName', `Invalid Name: '${name}'`);
    let input;
    try {
      input = JSON.parse(req.input === undefined ? '{}' : req.input);
    } catch (e) {
      throw new ApiError('InvalidExecutionInput', `Invalid State Machine Execution Input: '${e.message}'`);
    }
    const arn = executionArn(m.name, name);
    const existing = this.executions.get(arn);
    if (existing) {
      // Idempotent only for the same input while running, as Step Functions (standard).
      if (existing.status === 'RUNNING' && JSON.stringify(existing.input) === JSON.stringify(input)) {
        return { executionArn: arn, startDate: seconds(existing.startDate) };
      }
      throw new ApiError('ExecutionAlreadyExists', `Execution Already Exists: '${arn}'`);
    }
    const e = new Execution(m, name, input, this.args);
    this.executions.set(arn, e);
    e.start();
    return { executionArn: arn, startDate: seconds(e.startDate) };
  }

  DescribeExecution(req) {
    return this.execution(req.executionArn).describe();
  }

  GetExecutionHistory(req) {
    const e = this.execution(req.executionArn);
    let events = e.history.slice();
    if (req.reverseOrder) events.reverse();
    if (req.includeExecutionData === false) {
      events = events.map((ev) => JSON.parse(JSON.stringify(ev, (k, v) => (['input', 'output', 'parameters'].includes(k) ? undefined : v))));
    }
    return page(events, req, 'events');
  }

  ListExecutions(req) {
    const m = this.machine(req.stateMachineArn);
    const list = [...this.executions.values()]
      .filter((e) => e.machine.arn === m.arn && (!req.statusFilter || e.status === req.statusFilter))
      .sort((a, b) => b.startDate - a.startDate)
      .map((e) => e.summary());
    return page(list, req, 'executions');
  }

  StopExecution(req) {
    const e = this.execution(req.executionArn);
    e.abort(req.error, req.cause);
    return { stopDate: seconds(e.stopDate || Date.now()) };
  }

  ListStateMachines(req) {
    const list = [...this.machines.values()].map((m) => ({
      stateMachineArn: m.arn, name: m.name, type: 'STANDARD', creationDate: seconds(m.created),
    }));
    return page(list, req, 'stateMachines');
  }

  DescribeStateMachine(req) {
    const m = this.machine(req.stateMachineArn);
    return {
      stateMachineArn: m.arn, name: m.name, status: 'ACTIVE', type: 'STANDARD', creationDate: seconds(m.created),
      definition: fs.readFileSync(m.definition, 'utf8'), roleArn: `arn:aws:iam::${ACCOUNT}:role/local`,
    };
  }

  /** CloudFormation DescribeStacks (awsQuery). */
  describeStacks(form) {
    const name = form.get('StackName');
    const id = `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/${this.args.stack}/00000000-0000-4000-8000-000000000000`;
    if (name && name !== this.args.stack && name !== id) {
      return [400, `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id ${xml(name)} does not exist</Message></Error><RequestId>${crypto.randomUUID()}</RequestId></ErrorResponse>`];
    }
    const outputs = [...this.machines.values()].filter((m) => m.output)
      .map((m) => `<member><OutputKey>${xml(m.output)}</OutputKey><OutputValue>${xml(m.arn)}</OutputValue></member>`).join('');
    return [200, `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member><StackName>${xml(this.args.stack)}</StackName><StackId>${id}</StackId><CreationTime>${new Date(0).toISOString()}</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus><Outputs>${outputs}</Outputs></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>${crypto.randomUUID()}</RequestId></ResponseMetadata></DescribeStacksResponse>`];
  }
}

function xml(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  fs.mkdirSync(args.logDir, { recursive: true });
  const api = new Api(args);
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const target = req.headers['x-amz-target'] || '';
      if (target.startsWith('AWSStepFunctions.')) {
        const op = target.slice('AWSStepFunctions.'.length);
        const send = (status, obj) => {
          res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.0', 'x-amzn-RequestId': crypto.randomUUID() });
          res.end(JSON.stringify(obj));
        };
        const handler = Api.prototype.hasOwnProperty(op) && /^[A-Z]/.test(op) ? api[op] : null;
        if (!handler) return send(400, { __type: 'UnknownOperationException', message: `${op} is not served locally` });
        try {
          send(200, handler.call(api, body ? JSON.parse(body) : {}));
        } catch (e) {
          if (e instanceof ApiError) send(e.status, { __type: e.type, message: e.message });
          else send(500, { __type: 'InternalServerError', message: String(e && e.stack || e) });
        }
        return;
      }
      const form = new URLSearchParams(body);
      if (form.get('Action') === 'DescribeStacks') {
        const [status, text] = api.describeStacks(form);
        res.writeHead(status, { 'Content-Type': 'text/xml' });
        return res.end(text);
      }
      res.writeHead(400, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ __type: 'UnknownOperationException', message: 'not served locally' }));
    });
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`listening on 127.0.0.1:${server.address().port}\n`);
  });
  const stop = () => {
    for (const e of api.executions.values()) for (const f of (e.functions || new Map()).values()) f.stop();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
