import assert from 'node:assert/strict';
import { test } from 'node:test';
import { idSchema } from '../../src/contracts/roster';
import { journalOfWorkflowId, recordIds, workflowIds } from '../../src/contracts/ids';

void test('IDs are per school: two schools with the same journal and lesson IDs get different workflow IDs and record keys', () => {
  const a = { schoolId: 'school-a', journalId: 'j-1' };
  const b = { schoolId: 'school-b', journalId: 'j-1' };
  assert.notEqual(workflowIds.journalCalls(a), workflowIds.journalCalls(b));
  assert.notEqual(
    recordIds.call({ schoolId: 'school-a', callKey: 'j-1:l-1:1' }),
    recordIds.call({ schoolId: 'school-b', callKey: 'j-1:l-1:1' }),
  );
  assert.notEqual(
    recordIds.lessonLink({ schoolId: 'school-a', lessonId: 'l-1' }),
    recordIds.lessonLink({ schoolId: 'school-b', lessonId: 'l-1' }),
  );
});

void test('IDs are per school: the separators cannot occur in a roster ID, so no two (school, ID) pairs share a key', () => {
  for (const separator of ['@', '/']) {
    assert.equal(idSchema.safeParse(`a${separator}b`).success, false, separator);
  }
  // Without an unambiguous separator ("a-b" + "c" and "a" + "b-c") these would meet.
  assert.notEqual(
    workflowIds.journalCalls({ schoolId: 'a-b', journalId: 'c' }),
    workflowIds.journalCalls({ schoolId: 'a', journalId: 'b-c' }),
  );
});

void test('IDs are per school: the audit finds the journal in both workflow ID forms', () => {
  assert.equal(
    journalOfWorkflowId(workflowIds.journalCalls({ schoolId: 's-1', journalId: 'j:7' })),
    'j:7',
  );
  assert.equal(journalOfWorkflowId(workflowIds.legacyJournalCalls('j-7')), 'j-7');
  assert.equal(journalOfWorkflowId(workflowIds.schoolSync('s-1')), null);
});
