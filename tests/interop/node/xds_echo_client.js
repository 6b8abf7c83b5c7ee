// Proxyless gRPC client in Node.js (@grpc/grpc-js-xds) for the interop tests: one
// channel to an xds:/// target, a few concurrent Work calls in a loop, and every
// interval a JSON line {"pods": {pod: ok calls}, "failed": n, "errors": {...}} on stdout.
// The xDS bootstrap comes from GRPC_XDS_BOOTSTRAP, as for any gRPC client.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
require('@grpc/grpc-js-xds').register();

function parseArgs(argv) {
  const args = { target: '', proto: '', intervalMs: 200, concurrency: 4, durationS: 0 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag}: missing value`);
    if (flag === '--target') args.target = value;
    else if (flag === '--proto') args.proto = value;
    else if (flag === '--interval-ms') args.intervalMs = Number(value);
    else if (flag === '--concurrency') args.concurrency = Number(value);
    else if (flag === '--duration-s') args.durationS = Number(value);
    else throw new Error(`unknown flag ${flag}`);
  }
  if (!args.target || !args.proto) throw new Error('--target and --proto are required');
  return args;
}

function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`xds_echo_client.js: ${err.message}\n`);
    process.exit(2);
  }
  const definition = protoLoader.loadSync(path.resolve(args.proto), {
    includeDirs: [path.resolve(path.dirname(args.proto), '../../..')],
  });
  const Echo = grpc.loadPackageDefinition(definition).skewless.lab.v1.Echo;
  const client = new Echo(args.target, grpc.credentials.createInsecure());

  let interval = { pods: {}, failed: 0, errors: {} };
  let stopping = false;
  const loop = () => {
    if (stopping) return;
    const deadline = new Date(Date.now() + 1000);
    client.Work({}, { deadline }, (err, reply) => {
      if (err) {
        interval.failed += 1;
        const key = `${grpc.status[err.code]}: ${err.details}`.slice(0, 120);
        interval.errors[key] = (interval.errors[key] || 0) + 1;
        setTimeout(loop, 20);  // do not spin while the channel has no endpoints
        return;
      }
      interval.pods[reply.pod] = (interval.pods[reply.pod] || 0) + 1;
      setImmediate(loop);
    });
  };
  for (let i = 0; i < args.concurrency; i += 1) loop();

  const timer = setInterval(() => {
    process.stdout.write(`${JSON.stringify(interval)}\n`);
    interval = { pods: {}, failed: 0, errors: {} };
  }, args.intervalMs);
  const stop = () => {
    stopping = true;
    clearInterval(timer);
    client.close();
    setTimeout(() => process.exit(0), 100);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (args.durationS > 0) setTimeout(stop, args.durationS * 1000);
}

main();
