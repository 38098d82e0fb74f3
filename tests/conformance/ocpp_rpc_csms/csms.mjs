// An independent OCPP 1.6J central system for conformance tests: ocpp-rpc's RPCServer in strict
// mode, so every frame in both directions is checked against ocpp-rpc's own OCPP 1.6 JSON schemas
// rather than the Python `ocpp` library Borne itself is built on.
//
// Usage: node csms.mjs [--port N] [--host H] [--heartbeat-interval S]
//   --port 0 (the default) lets the OS choose; the first line printed names the port.
//
// stdout: one JSON object per line, each with "event" and "t" (UTC time of the event):
//   listening                  {port}
//   connected / disconnected   {identity, protocol} / {identity, code, reason}
//   recv_call                  a CALL from the charge point {id, action, payload}
//   sent_response              our answer to it {id, action, kind: "CALLRESULT"|"CALLERROR", payload | error}
//   sent_call                  a CALL we made on a command {ref, id, action, payload}
//   recv_response              the charge point's answer {ref, id, action, kind, payload | error}
//   call_result / call_error   the outcome of a command {ref, action, payload} / {ref, action, cause, code, message, details}
//                              cause: "callerror" (the charge point answered CALLERROR),
//                              "strict_validation" (a schema failure), "timeout", "not_connected", "other"
//   strict_validation_failure  {id, action, origin: "charge_point"|"csms", message_kind: "call"|"result",
//                               params, result, code, message, errors}
//   bad_message                a frame ocpp-rpc could not process {message, error}
//   command_error              a stdin line that is not a valid command {line, error}
//
// stdin: one JSON command per line, run one after the other:
//   {"ref": "any id", "action": "Reset", "payload": {"type": "Soft"}, "timeout_ms": 10000}
// Closing stdin (or SIGTERM) closes the server and ends the process.

import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import ocppRpc from 'ocpp-rpc';

const { RPCServer, TimeoutError } = ocppRpc;

const CALL = 2;
const CALLRESULT = 3;
const CALLERROR = 4;

const { values: args } = parseArgs({
    options: {
        port: { type: 'string', default: '0' },
        host: { type: 'string', default: '127.0.0.1' },
        'heartbeat-interval': { type: 'string', default: '300' },
    },
});
const heartbeatInterval = Number.parseInt(args['heartbeat-interval'], 10);

function emit(event, fields) {
    process.stdout.write(JSON.stringify({ event, t: new Date().toISOString(), ...fields }) + '\n');
}

function errorFields(error) {
    return {
        code: error?.rpcErrorCode ?? error?.code ?? error?.name ?? 'Error',
        message: error?.message ?? String(error),
        details: error?.details ?? {},
    };
}

let transactionIds = 0;

// The answers a CSMS gives to every call a 1.6 charge point may make. Only these actions have a
// handler: ocpp-rpc validates an incoming CALL against its schema only when a handler exists, and
// answers any other action with CALLERROR NotImplemented, which the test reports.
const handlers = {
    BootNotification: () => ({ status: 'Accepted', currentTime: new Date().toISOString(), interval: heartbeatInterval }),
    Heartbeat: () => ({ currentTime: new Date().toISOString() }),
    Authorize: () => ({ idTagInfo: { status: 'Accepted' } }),
    StartTransaction: () => ({ transactionId: ++transactionIds, idTagInfo: { status: 'Accepted' } }),
    StopTransaction: ({ params }) => (params?.idTag !== undefined ? { idTagInfo: { status: 'Accepted' } } : {}),
    MeterValues: () => ({}),
    StatusNotification: () => ({}),
    DataTransfer: () => ({ status: 'UnknownVendorId' }),
    DiagnosticsStatusNotification: () => ({}),
    FirmwareStatusNotification: () => ({}),
    LogStatusNotification: () => ({}),
    SignedFirmwareStatusNotification: () => ({}),
    SecurityEventNotification: () => ({}),
    SignCertificate: () => ({ status: 'Accepted' }),
};

const server = new RPCServer({
    protocols: ['ocpp1.6'],
    strictMode: true,
    // Borne is the side that keeps the connection alive; our pings would only add noise.
    pingIntervalMs: 0,
});
server.on('error', (error) => emit('server_error', errorFields(error)));

let current = null;       // the connected charge point (the latest connection)
let outgoing = null;      // the command whose CALL is in flight: {ref, action, id, reply, validationFailed}
const actionsById = new Map();  // message id of a charge point's CALL -> action

function attach(client) {
    client.on('call', ({ outbound, payload }) => {
        const [, id, action, params] = payload;
        if (outbound) {
            if (outgoing !== null) {
                outgoing.id = id;
                emit('sent_call', { ref: outgoing.ref, id, action, payload: params });
            }
            return;
        }
        actionsById.set(id, action);
        emit('recv_call', { id, action, payload: params });
    });

    client.on('response', ({ outbound, payload }) => {
        const [type, id, ...rest] = payload;
        const kind = type === CALLRESULT ? 'CALLRESULT' : type === CALLERROR ? 'CALLERROR' : String(type);
        const body = type === CALLERROR
            ? { error: { code: rest[0], description: rest[1], details: rest[2] } }
            : { payload: rest[0] };
        if (outbound) {
            emit('sent_response', { id, action: actionsById.get(id) ?? null, kind, ...body });
            actionsById.delete(id);
        } else {
            const mine = outgoing !== null && outgoing.id === id;
            if (mine) {
                outgoing.reply = kind;
            }
            emit('recv_response', { ref: mine ? outgoing.ref : null, id, action: mine ? outgoing.action : null, kind, ...body });
        }
    });

    client.on('strictValidationFailure', ({ messageId, method, params, result, error, outbound, isCall }) => {
        // outbound is relative to this CSMS: a CALL we send or a result we send.
        const origin = outbound ? 'csms' : 'charge_point';
        if (outgoing !== null && (outgoing.id === messageId || (outbound && isCall))) {
            outgoing.validationFailed = true;
        }
        emit('strict_validation_failure', {
            id: messageId,
            action: method,
            origin,
            message_kind: isCall ? 'call' : 'result',
            params,
            result,
            ...errorFields(error),
            errors: error?.details?.errors ?? [],
        });
    });

    client.on('badMessage', ({ buffer, error, response }) => {
        emit('bad_message', { message: buffer?.toString(), error: errorFields(error), response });
    });

    client.on('close', ({ code, reason }) => {
        emit('disconnected', { identity: client.identity, code, reason: reason?.toString() ?? '' });
        if (current === client) {
            current = null;
        }
    });

    for (const [action, handler] of Object.entries(handlers)) {
        client.handle(action, handler);
    }
}

server.on('client', (client) => {
    current = client;
    attach(client);
    emit('connected', { identity: client.identity, protocol: client.protocol });
});

async function runCommand(command) {
    const { ref = null, action, payload = {}, timeout_ms: timeoutMs = 10000 } = command;
    if (current === null) {
        emit('call_error', { ref, action, cause: 'not_connected', code: 'NotConnected', message: 'no charge point connected', details: {} });
        return;
    }
    outgoing = { ref, action, id: null, reply: null, validationFailed: false };
    try {
        const result = await current.call(action, payload, { callTimeoutMs: timeoutMs });
        emit('call_result', { ref, action, payload: result });
    } catch (error) {
        let cause = 'other';
        if (outgoing.validationFailed) {
            cause = 'strict_validation';
        } else if (outgoing.reply === 'CALLERROR') {
            cause = 'callerror';
        } else if (error instanceof TimeoutError) {
            cause = 'timeout';
        }
        emit('call_error', { ref, action, cause, ...errorFields(error) });
    } finally {
        outgoing = null;
    }
}

let queue = Promise.resolve();
const input = createInterface({ input: process.stdin, crlfDelay: Infinity });
input.on('line', (line) => {
    if (!line.trim()) {
        return;
    }
    let command;
    try {
        command = JSON.parse(line);
        if (typeof command !== 'object' || command === null || typeof command.action !== 'string') {
            throw new Error('a command is an object with a string "action"');
        }
    } catch (error) {
        emit('command_error', { line, error: error.message });
        return;
    }
    queue = queue.then(() => runCommand(command));
});

async function shutdown() {
    await server.close({ code: 1001, force: true });
    process.exit(0);
}
// End of input: finish the commands already given, then stop. SIGTERM: stop at once.
input.on('close', () => queue.then(shutdown));
process.on('SIGTERM', shutdown);

const httpServer = await server.listen(Number.parseInt(args.port, 10), args.host);
emit('listening', { port: httpServer.address().port });
