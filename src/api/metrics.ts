/**
 * Prometheus metrics for the API in the text exposition format (version 0.0.4). Hand-rolled
 * because the API needs only two families plus a counter, and labels are limited to the route
 * pattern, method and status, so the series count stays bounded whatever the URLs carry.
 */

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

interface Histogram {
  buckets: number[];
  sum: number;
  count: number;
}

export interface ApiMetrics {
  observeRequest(args: { method: string; route: string; status: number; seconds: number }): void;
  authFailure(outcome: 'invalid' | 'blocked'): void;
  render(): string;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labels(pairs: Record<string, string>): string {
  return Object.entries(pairs)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(',');
}

export function createApiMetrics(): ApiMetrics {
  const requests = new Map<string, number>();
  const durations = new Map<string, Histogram>();
  const authFailures = new Map<string, number>();

  return {
    observeRequest({ method, route, status, seconds }) {
      const key = labels({ method, route, status: String(status) });
      requests.set(key, (requests.get(key) ?? 0) + 1);
      let h = durations.get(key);
      if (!h) {
        h = { buckets: DURATION_BUCKETS.map(() => 0), sum: 0, count: 0 };
        durations.set(key, h);
      }
      DURATION_BUCKETS.forEach((le, i) => {
        if (seconds <= le && h) h.buckets[i] = (h.buckets[i] ?? 0) + 1;
      });
      h.sum += seconds;
      h.count += 1;
    },

    authFailure(outcome) {
      const key = labels({ outcome });
      authFailures.set(key, (authFailures.get(key) ?? 0) + 1);
    },

    render() {
      const lines: string[] = [
        '# HELP sferum_api_requests_total HTTP requests served, by route pattern, method and status.',
        '# TYPE sferum_api_requests_total counter',
      ];
      for (const [key, value] of requests) lines.push(`sferum_api_requests_total{${key}} ${value}`);
      lines.push(
        '# HELP sferum_api_request_duration_seconds Time to serve an HTTP request.',
        '# TYPE sferum_api_request_duration_seconds histogram',
      );
      for (const [key, h] of durations) {
        DURATION_BUCKETS.forEach((le, i) => {
          lines.push(
            `sferum_api_request_duration_seconds_bucket{${key},le="${le}"} ${h.buckets[i] ?? 0}`,
          );
        });
        lines.push(`sferum_api_request_duration_seconds_bucket{${key},le="+Inf"} ${h.count}`);
        lines.push(`sferum_api_request_duration_seconds_sum{${key}} ${h.sum}`);
        lines.push(`sferum_api_request_duration_seconds_count{${key}} ${h.count}`);
      }
      lines.push(
        '# HELP sferum_api_auth_failures_total Refused credentials, and requests refused for too many failures.',
        '# TYPE sferum_api_auth_failures_total counter',
      );
      for (const [key, value] of authFailures)
        lines.push(`sferum_api_auth_failures_total{${key}} ${value}`);
      return `${lines.join('\n')}\n`;
    },
  };
}
