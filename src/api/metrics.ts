/**
 * Prometheus metrics (/metrics) with prom-client: HTTP request rate and latency by route,
 * jobs by status, worker occupancy, webhook outcomes, and Node's own (event-loop lag, heap).
 * Gauges read their value at scrape time, so nothing is double-counted across restarts.
 */
import client from 'prom-client';

export interface MetricsSources {
  readonly jobCounts: () => Promise<Record<string, number>>;
  readonly workers: () => { readonly busy: number; readonly size: number };
  readonly webhooksPending: () => Promise<number>;
}

export class Metrics {
  readonly registry = new client.Registry();
  readonly requests: client.Histogram<'method' | 'route' | 'status'>;
  readonly jobsFinished: client.Counter<'status'>;
  readonly webhookAttempts: client.Counter<'outcome'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry, prefix: 'pixelift_' });
    this.requests = new client.Histogram({
      name: 'pixelift_http_request_duration_seconds',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.jobsFinished = new client.Counter({
      name: 'pixelift_jobs_finished_total',
      help: 'Jobs that reached a final status in this process',
      labelNames: ['status'],
      registers,
    });
    this.webhookAttempts = new client.Counter({
      name: 'pixelift_webhook_attempts_total',
      help: 'Webhook delivery attempts by outcome',
      labelNames: ['outcome'],
      registers,
    });
    new client.Gauge({
      name: 'pixelift_jobs',
      help: 'Jobs in the store by status',
      labelNames: ['status'],
      registers,
      async collect() {
        for (const [status, n] of Object.entries(await sources.jobCounts())) this.set({ status }, n);
      },
    });
    new client.Gauge({
      name: 'pixelift_workers',
      help: 'Worker processes: configured size and busy',
      labelNames: ['state'],
      registers,
      collect() {
        const w = sources.workers();
        this.set({ state: 'size' }, w.size);
        this.set({ state: 'busy' }, w.busy);
      },
    });
    new client.Gauge({
      name: 'pixelift_webhooks_pending',
      help: 'Webhook deliveries waiting to be sent or retried',
      registers,
      async collect() {
        this.set(await sources.webhooksPending());
      },
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
