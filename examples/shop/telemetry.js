'use strict';
// OpenTelemetry for the example shop: traces and logs over OTLP/HTTP to the stack's
// collector (OTEL_EXPORTER_OTLP_ENDPOINT, http://127.0.0.1:4318 by default), the service
// named by OTEL_SERVICE_NAME (shop). Each exporter records whether its last export worked,
// for GET /health/otel (mirante's observability contract). Loaded before anything else.
const { NodeSDK } = require('@opentelemetry/sdk-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace');
const { BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-http');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { logs, SeverityNumber } = require('@opentelemetry/api');

const SUCCESS = 0; // ExportResultCode.SUCCESS
const endpoint = (process.env.OTEL_EXPORTER_OTLP_ENDPOINT || 'http://127.0.0.1:4318').replace(/\/$/, '');
// The signal-specific variables (full URLs) win, as the OTLP exporter specification says.
const urls = {
  traces: process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || `${endpoint}/v1/traces`,
  logs: process.env.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT || `${endpoint}/v1/logs`,
};
const health = {
  traces: { ok: null, failed: null, error: '' },
  logs: { ok: null, failed: null, error: '' },
};

// An exporter whose outcome is recorded per signal.
function tracked(signal, exporter) {
  const original = exporter.export.bind(exporter);
  exporter.export = (items, done) => original(items, (result) => {
    const state = health[signal];
    if (result.code === SUCCESS) {
      state.ok = Date.now();
    } else {
      state.failed = Date.now();
      state.error = result.error ? String(result.error.message || result.error) : 'failed';
    }
    done(result);
  });
  return exporter;
}

// Metrics are scraped by Prometheus (GET /metrics), never pushed over OTLP.
process.env.OTEL_METRICS_EXPORTER = process.env.OTEL_METRICS_EXPORTER || 'none';

const sdk = new NodeSDK({
  serviceName: process.env.OTEL_SERVICE_NAME || 'shop',
  spanProcessors: [
    new BatchSpanProcessor({
      exporter: tracked('traces', new OTLPTraceExporter({ url: urls.traces })),
      scheduledDelayMillis: 1000,
    }),
  ],
  logRecordProcessors: [
    new BatchLogRecordProcessor({
      exporter: tracked('logs', new OTLPLogExporter({ url: urls.logs })),
      scheduledDelayMillis: 1000,
    }),
  ],
  // /metrics is scraped every few seconds: no trace of it.
  instrumentations: [new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => req.url === '/metrics' })],
  resourceDetectors: [],
});
sdk.start();
process.on('SIGTERM', () => sdk.shutdown().finally(() => process.exit(0)));
process.on('SIGINT', () => sdk.shutdown().finally(() => process.exit(0)));

const logger = logs.getLogger('shop');

// One log record, in the active span's trace (the SDK attaches its context).
function log(body, attributes = {}, error = false) {
  logger.emit({
    body,
    attributes,
    severityNumber: error ? SeverityNumber.ERROR : SeverityNumber.INFO,
    severityText: error ? 'ERROR' : 'INFO',
  });
}

// GET /health/otel: per signal, ok or degraded with the reason.
function report() {
  const signals = {};
  for (const [signal, state] of Object.entries(health)) {
    if (state.failed !== null && (state.ok === null || state.failed > state.ok)) {
      signals[signal] = { status: 'degraded', reason: `last export to ${urls[signal]} failed: ${state.error}` };
    } else if (state.ok === null) {
      signals[signal] = { status: 'ok', reason: 'nothing exported yet' };
    } else {
      signals[signal] = { status: 'ok', reason: `last export ${Math.round((Date.now() - state.ok) / 1000)} s ago` };
    }
  }
  return { signals };
}

module.exports = { log, report };
