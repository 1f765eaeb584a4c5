import type { RefusalReason } from '../contracts/journal-calls';
import type { LessonStatus } from '../contracts/roster';
import type { TemplateDefect } from '../domain/template-check';

/**
 * What the journal page says, in the teacher's words (Russian, as the schools use it). The
 * tables are typed by the contracts' unions, so a new reason or defect fails the build here
 * until it has its sentence.
 */

export const refusalReasons = [
  'anotherCallRunning',
  'lessonNotFound',
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
  lessonNotFound: 'Урок не найден. Обновите страницу: возможно, его удалили из журнала.',
  lessonNotOnline: 'Для урока не включён переключатель «Онлайн-урок».',
  lessonNotInJournal: 'Этот урок относится к другому журналу.',
  noSubjectChat: 'У журнала не включён «Чат по предмету», поэтому видеоурок провести нельзя.',
  noCallRunning: 'Видеоурок сейчас не идёт.',
  platformError: 'Сферум не ответил. Попробуйте ещё раз через минуту.',
};

/** V7: why automatic start and end are off, phrased as what to fill in. */
export const manualOnlyTexts: Record<TemplateDefect, string> = {
  noTemplate: 'у школы нет шаблона расписания',
  noValidityDates: 'в шаблоне расписания не заполнены даты начала и окончания',
  notValidOnDate: 'шаблон расписания не действует на дату урока',
  notSentToPortal:
    'в шаблоне расписания флаг «Этот шаблон должен по умолчанию передаваться на портал „Петербургское образование“» не установлен в «Да»',
  gridWithoutTimes: 'в сетке уроков шаблона не указано время начала и окончания',
  noEntryForJournal: 'в шаблоне расписания нет ни одного урока этого журнала',
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
