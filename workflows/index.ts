export { schoolSyncWorkflow } from './school-sync';
export { journalCallsWorkflow } from './journal-calls';
export { historyArchiverWorkflow } from './archiver';
export { diaryDeliveryWorkflow } from './diary-delivery';
export { platformEventsWorkflow } from './platform-events';
