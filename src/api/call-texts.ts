import type { RefusalReason } from '../contracts/journal-calls';
import type { CallsUnavailableReason } from '../domain/call-plan';
import type { LessonStatus } from '../contracts/roster';
import type { GridGapKind, TemplateDefect } from '../domain/template-check';

/**
 * What the journal page says, in the teacher's words (Russian, as the schools use it). The
 * tables are typed by the contracts' unions, so a new reason or defect fails the build here
 * until it has its sentence.
 */

export const refusalReasons = [
  'anotherCallRunning',
  'callsNotAvailable',
  'lessonNotFound',
  'lessonNotTodayOrTomorrow',
  'lessonNotOnline',
  'lessonNotInJournal',
  'noSubjectChat',
  'noCallRunning',
  'platformError',
] as const satisfies readonly RefusalReason[];

/** Compiles only while the list above names every reason of the contract. */
export const everyRefusalReasonListed: Exclude<
  RefusalReason,
  (typeof refusalReasons)[number]
> extends never
  ? true
  : never = true;

export const refusalTexts: Record<RefusalReason, string> = {
  anotherCallRunning:
    'В журнале уже идёт видеоурок. Сферум разрешает только один звонок на журнал: сначала завершите текущий.',
  callsNotAvailable:
    'Видеоуроки проводятся только в журналах общего образования с включённым «Чатом по предмету». В этом журнале их нет.',
  lessonNotFound: 'Урок не найден. Обновите страницу: возможно, его удалили из журнала.',
  lessonNotTodayOrTomorrow:
    'Видеоурок можно начать только для урока на сегодня или на завтра. Этот урок в другой день.',
  lessonNotOnline: 'Для урока не включён переключатель «Онлайн-урок».',
  lessonNotInJournal: 'Этот урок относится к другому журналу.',
  noSubjectChat: 'У журнала не включён «Чат по предмету», поэтому видеоурок провести нельзя.',
  noCallRunning: 'Видеоурок сейчас не идёт.',
  platformError: 'Сферум не ответил. Попробуйте ещё раз через минуту.',
};

/** V1, C2: why the journal has no online switch and no calls at all. */
export const callsUnavailableTexts: Record<CallsUnavailableReason, string> = {
  callsNotAvailable:
    'Видеоуроки есть только в журналах общего образования с включённым «Чатом по предмету». В этом журнале переключателя «Онлайн-урок» и видеоуроков нет.',
  noSubjectChat:
    'У журнала не включён «Чат по предмету», поэтому переключателя «Онлайн-урок» и видеоуроков в нём нет.',
};

/** V7: why automatic start and end are off, phrased as what to fill in. */
export const manualOnlyTexts: Record<TemplateDefect, string> = {
  noTemplate: 'у школы нет шаблона расписания',
  noStartDate: 'в шаблоне расписания не заполнена дата начала',
  noEndDate: 'в шаблоне расписания не заполнена дата окончания',
  notValidOnDate: 'шаблон расписания не действует на дату урока',
  notSentToPortal:
    'в шаблоне расписания флаг «Этот шаблон должен по умолчанию передаваться на портал „Петербургское образование“» не установлен в «Да»',
  gridWithoutTimes: 'в сетке уроков шаблона ни у одного урока не указано время начала и окончания',
  lessonNotInGrid: 'в сетке уроков шаблона нет строки для урока этого журнала',
  lessonWithoutTimes: 'в сетке уроков шаблона у урока этого журнала не указано время',
  noEntryForJournal: 'в шаблоне расписания нет ни одного урока этого журнала',
};

/**
 * V7: what a grid row of the journal's lesson lacks; the page puts the lesson number in front
 * ("3-й урок: …"), so the teacher knows which row to fill in.
 */
export const gridGapTexts: Record<GridGapKind, string> = {
  row: 'в сетке уроков нет такой строки',
  start: 'не указано время начала',
  end: 'не указано время окончания',
  startAndEnd: 'не указано время начала и окончания',
  endNotAfterStart: 'время окончания не позже времени начала',
};

export const statusTexts: Record<LessonStatus, string> = {
  draft: 'Не опубликован',
  published: 'Опубликован',
  conducted: 'Проведён',
};

export const nextActionTexts = {
  start: 'Автозапуск',
  end: 'Автозавершение',
  carryOver: 'Продолжение звонка на следующем уроке',
} as const;

export const warningTexts = {
  earlierUnpublished:
    'Более ранний онлайн-урок не опубликован, поэтому автоматически будет запущен более поздний. Порядок уроков восстановить будет нельзя.',
} as const;

/** V2: a lesson published (or switched online) more than 20 minutes after its start. */
export const tooLateText =
  'опубликован позже чем через 20 минут после начала, поэтому автоматически видеоурок не начнётся: начните его кнопкой «Начать видеоурок»';

/** V5: the automatic end failed; the page adds the platform's reason and what happens next. */
export const endFailureTexts = {
  retrying: 'Не удалось завершить видеоурок',
  retryAt: 'Следующая попытка в',
  gaveUp:
    'Не удалось завершить видеоурок, попытки прекращены: журнал считает его завершённым. Если звонок ещё идёт в Сферуме, завершите его там.',
} as const;

/** V4: what the e-diary has of the running call's link, per lesson. */
export const diaryTexts = {
  delivered: 'ссылка передана в электронный дневник',
  pending: 'ссылка передаётся в электронный дневник',
  failing: 'ссылка ещё не в электронном дневнике',
  rejected: 'портал электронного дневника отклонил ссылку',
  feedOnly: 'ссылка выложена для электронного дневника (портал забирает её сам)',
  since: 'с',
} as const;
