'use strict';
// An example observed service for mirante, not the sample app: a small shop API in
// Node.js that honours the observability contract (docs/instrumenting.md). It serves
// /healthcheck, /metrics (prom-client: http_requests_total, http_request_duration_seconds
// with trace-id exemplars for OpenMetrics scrapers), /health/otel, and a few routes;
// its traces and logs go over OTLP (telemetry.js). HOST and PORT say where it listens.
const telemetry = require('./telemetry');
const http = require('node:http');
const { trace } = require('@opentelemetry/api');
const client = require('prom-client');

const HOST = process.env.HOST || '0.0.0.0';
const PORT = Number(process.env.PORT || 8081);

// OpenMetrics: the text format that carries exemplars (prom-client has them nowhere else).
const registry = new client.Registry(client.openMetricsContentType);
const registers = [registry];
const requests = new client.Counter({
  name: 'http_requests_total',
  help: 'HTTP requests served, by method, route template and status code.',
  labelNames: ['method', 'route', 'status'],
  registers,
});
const duration = new client.Histogram({
  name: 'http_request_duration_seconds',
  help: 'Time to serve an HTTP request, by method and route template.',
  labelNames: ['method', 'route'],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  enableExemplars: true,
  registers,
});

const ROUTES = {
  '/healthcheck': async () => [200, { status: 'ok' }],
  '/health/otel': async () => [200, telemetry.report()],
  '/': async () => [200, { service: 'shop', routes: Object.keys(ROUTES) }],
  '/orders': async () => {
    await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 40));
    return [200, { orders: [{ id: 1, item: 'tea', quantity: 2 }] }];
  },
  '/error': async () => [500, { error: 'failed on purpose' }],
};

async function metrics() {
  return [registry.contentType, await registry.metrics()];
}

const server = http.createServer(async (req, res) => {
  const started = process.hrtime.bigint();
  const path = new URL(req.url, 'http://shop').pathname;
  if (path === '/metrics') {
    const [type, body] = await metrics();
    res.writeHead(200, { 'content-type': type });
    res.end(body);
    return;
  }
  const route = ROUTES[path] ? path : 'unmatched';
  const handler = ROUTES[path] || (async () => [404, { error: 'not found' }]);
  const [status, body] = await handler(req);
  const context = trace.getActiveSpan()?.spanContext();
  // Only a trace that is kept is named (in the header and as the exemplar).
  const sampled = context && (context.traceFlags & 1) === 1;
  const headers = { 'content-type': 'application/json' };
  if (sampled) headers['x-trace-id'] = context.traceId;
  res.writeHead(status, headers);
  res.end(JSON.stringify(body));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  requests.inc({ method: req.method, route, status: String(status) });
  duration.observe({
    labels: { method: req.method, route },
    value: seconds,
    exemplarLabels: sampled ? { trace_id: context.traceId } : {},
  });
  if (path !== '/healthcheck' && path !== '/health/otel') {
    telemetry.log('request', { method: req.method, route, status, duration_ms: Math.round(seconds * 1000) },
      status >= 500);
  }
});

server.listen(PORT, HOST, () => {
  telemetry.log(`shop listening on ${HOST}:${PORT}`);
  process.stdout.write(`shop listening on ${HOST}:${PORT}\n`);
});
