import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuditRow } from '../../src/audit/explain';
import { formatCsv, formatText } from '../../src/audit/report';
import type { AuditReport } from '../../src/audit/replay-audit';

const at = (time: string): number => Date.parse(`2026-12-01T${time}:00+03:00`);

function row(lessonId: string, diary: AuditRow['diary']): AuditRow {
  return {
    journalId: 'j-1',
    lessonId,
    date: '2026-12-01',
    number: 3,
    plannedStart: '10:00',
    plannedEnd: '10:45',
    online: true,
    status: 'published',
    started: { how: 'auto', at: at('09:40'), by: 'auto', lateMs: null },
    ended: { how: 'auto', at: at('11:05'), by: 'auto', lateMs: null },
    missed: null,
    causes: [],
    diary,
  };
}

const report = (rows: AuditRow[]): AuditReport => ({
  schoolId: 's-1',
  journalId: null,
  from: '2026-12-01',
  to: '2026-12-01',
  timeZone: 'Europe/Moscow',
  rows,
  incidents: [],
  histories: 1,
  storedReplays: 0,
  failures: [],
});

void test('V4: the audit says the diary was not updated, with what the portal answered and since when', () => {
  const text = formatText(
    report([
      row('l-1', {
        state: 'failing',
        lastError: 'portal answered 503',
        failingSince: at('09:40'),
        deliveredAt: null,
      }),
      row('l-2', {
        state: 'delivered',
        lastError: null,
        failingSince: null,
        deliveredAt: at('09:40'),
      }),
      row('l-3', null),
    ]),
  );
  assert.match(text, /l-1 .*diary not updated: portal answered 503 since 09:40/);
  assert.match(text, /l-2 .*delivered 09:40/);
  assert.match(formatCsv(report([row('l-1', null)])).split('\n')[0] ?? '', /,diary$/);
});
