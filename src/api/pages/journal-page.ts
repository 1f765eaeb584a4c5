import {
  callsUnavailableTexts,
  endFailureTexts,
  diaryTexts,
  gridGapTexts,
  manualOnlyTexts,
  nextActionTexts,
  refusalTexts,
  statusTexts,
  tooLateText,
  warningTexts,
} from '../call-texts';
import { CREDENTIAL_SCRIPT, inlineJson, page } from './layout';

/**
 * The journal's call buttons (V2, V5, V6) and what the call workflow will do next, for the
 * teacher. Element IDs are stable because the end-to-end test drives the page by them.
 */
export function journalPage({ journalId, nonce }: { journalId: string; nonce: string }): string {
  const texts = {
    refusal: refusalTexts,
    manualOnly: manualOnlyTexts,
    status: statusTexts,
    next: nextActionTexts,
    warning: warningTexts,
    unavailable: callsUnavailableTexts,
    gridGap: gridGapTexts,
    tooLate: tooLateText,
    endFailure: endFailureTexts,
    diary: diaryTexts,
  };
  const body = `
<h1 id="title">Журнал</h1>
<div id="message" class="notice info" role="status" hidden></div>
<div id="calls-unavailable" class="notice warn" hidden></div>
<section>
  <h2>Уроки на сегодня и завтра</h2>
  <table>
    <thead><tr><th></th><th>Дата</th><th>Урок</th><th>Время</th><th>Онлайн-урок</th><th>Урок проведён</th></tr></thead>
    <tbody id="lessons"></tbody>
  </table>
  <p id="no-lessons" class="muted" hidden>На сегодня и завтра уроков нет.</p>
</section>
<section>
  <h2>Видеоурок</h2>
  <p id="call-status" class="muted">Загрузка…</p>
  <p id="join" hidden>Ссылка на видеоурок: <a id="join-link" href="#" target="_blank" rel="noopener noreferrer"></a></p>
  <div class="actions">
    <button id="start" type="button" disabled>Начать видеоурок</button>
    <button id="end" type="button" class="secondary" disabled>Завершить видеоурок</button>
    <a id="join-button" class="button" href="#" target="_blank" rel="noopener noreferrer" hidden>Подключиться</a>
  </div>
  <p id="next-action"></p>
  <ul id="diary" class="muted"></ul>
  <div id="end-failure" class="notice error" role="alert" hidden></div>
  <div id="manual-only" class="notice warn" hidden></div>
  <div id="too-late"></div>
  <div id="warnings"></div>
</section>`;

  const script = `
const JOURNAL_ID = ${inlineJson(journalId)};
const TEXTS = ${inlineJson(texts)};
${CREDENTIAL_SCRIPT}
const base = '/journals/' + encodeURIComponent(JOURNAL_ID);
let view = null;
let state = null;
let selectedLessonId = null;

function explainError(result) {
  if (result.status === 401) return 'Нет доступа: откройте журнал по ссылке с вашим ключом.';
  if (result.status === 403) return 'Этот журнал вам не назначен.';
  if (result.status === 429) return 'Слишком много неудачных попыток входа. Подождите минуту.';
  if (result.data && result.data.error) return 'Ошибка: ' + result.data.error.message;
  return 'Сервер недоступен. Попробуйте ещё раз.';
}

function timeIn(epoch) {
  const zone = view ? view.timeZone : undefined;
  const fmt = new Intl.DateTimeFormat('ru-RU', { timeZone: zone, hour: '2-digit', minute: '2-digit' });
  const day = new Intl.DateTimeFormat('sv-SE', { timeZone: zone }).format(new Date(epoch));
  const prefix = view && day === view.tomorrow ? 'завтра в ' : view && day === view.today ? '' : day + ' в ';
  return prefix + fmt.format(new Date(epoch));
}

function lessonLabel(id) {
  const lesson = view && view.lessons.find((l) => l.id === id);
  if (!lesson) return 'урок ' + id;
  const day = lesson.date === view.today ? 'сегодня' : lesson.date === view.tomorrow ? 'завтра' : lesson.date;
  return lesson.number + '-й урок ' + day;
}

async function patchLesson(lesson, patch) {
  const result = await api('PATCH', '/lessons/' + encodeURIComponent(lesson.id), patch);
  if (result.status === 409 && result.data && result.data.reason) show(TEXTS.refusal[result.data.reason] || 'Изменение отклонено.', 'warn');
  else if (result.status !== 200) show(explainError(result), 'error');
  await refresh();
}

function renderLessons() {
  const body = document.getElementById('lessons');
  body.replaceChildren();
  document.getElementById('no-lessons').hidden = view.lessons.length > 0;
  if (selectedLessonId === null || !view.lessons.some((l) => l.id === selectedLessonId)) {
    const running = state && state.running ? state.running.lessonId : null;
    const firstOnline = view.lessons.find((l) => l.online);
    selectedLessonId = running || (firstOnline ? firstOnline.id : view.lessons[0] ? view.lessons[0].id : null);
  }
  for (const lesson of view.lessons) {
    const radio = el('input', { type: 'radio', name: 'lesson', value: lesson.id, checked: lesson.id === selectedLessonId,
      'aria-label': 'Выбрать урок', onchange: () => { selectedLessonId = lesson.id; render(); } });
    // V1, C2: the switch exists only in journals that have calls.
    const online = view.callsUnavailable ? el('span', { class: 'muted', text: '—' }) :
      el('input', { type: 'checkbox', checked: lesson.online, 'aria-label': 'Онлайн-урок',
        onchange: (e) => patchLesson(lesson, { online: e.target.checked }) });
    const status = el('select', { onchange: (e) => patchLesson(lesson, { status: e.target.value }) },
      ...Object.entries(TEXTS.status).map(([value, text]) => el('option', { value, text, selected: value === lesson.status })));
    const when = lesson.date === view.today ? 'Сегодня' : 'Завтра';
    const time = lesson.start && lesson.end ? lesson.start + '–' + lesson.end : '—';
    body.append(el('tr', { 'data-lesson-id': lesson.id, class: lesson.id === selectedLessonId ? 'selected' : null },
      el('td', {}, radio), el('td', { text: when }), el('td', { text: String(lesson.number) }), el('td', { text: time }),
      el('td', {}, online), el('td', {}, status)));
  }
}

function renderCall() {
  const running = state ? state.running : null;
  const status = document.getElementById('call-status');
  const link = document.getElementById('join-link');
  const joinButton = document.getElementById('join-button');
  if (running) {
    status.textContent = 'Идёт видеоурок: ' + lessonLabel(running.lessonId) + '.' +
      (running.autoEndAt ? ' Автозавершение в ' + timeIn(running.autoEndAt) + '.' : ' Завершится только вручную.');
    link.textContent = running.joinLink;
    link.href = running.joinLink;
    joinButton.href = running.joinLink;
  } else if (state && state.lastEnded && state.lastEnded.endedBy === 'platform') {
    // V5: the call was ended in Sferum; the teacher may start again at once.
    status.textContent = 'Видеоурок завершён в Сферуме в ' + timeIn(state.lastEnded.at) + ' (' +
      lessonLabel(state.lastEnded.lessonId) + '). Можно начать снова.';
    link.textContent = '';
    link.removeAttribute('href');
  } else {
    status.textContent = 'Видеоурок не идёт.';
    link.textContent = '';
    link.removeAttribute('href');
  }
  document.getElementById('join').hidden = !running;
  joinButton.hidden = !running;
  const unavailable = view ? view.callsUnavailable : null;
  const unavailableBox = document.getElementById('calls-unavailable');
  unavailableBox.hidden = !unavailable;
  unavailableBox.textContent = unavailable ? TEXTS.unavailable[unavailable] : '';
  document.getElementById('start').disabled = Boolean(running) || selectedLessonId === null || Boolean(unavailable);
  document.getElementById('end').disabled = !running;

  const next = state ? state.next : null;
  document.getElementById('next-action').textContent = next
    ? TEXTS.next[next.kind] + ' в ' + timeIn(next.at) + ' (' + lessonLabel(next.lessonId) + ')'
    : '';
  const manual = document.getElementById('manual-only');
  const reasons = state && state.manualOnly ? state.manualOnly.reasons : [];
  manual.hidden = reasons.length === 0;
  manual.textContent = reasons.length === 0 ? '' :
    'Автозапуск недоступен: ' + manualOnlyWords(reasons, state.manualOnly.gridGaps || []).join('; ') + '. Видеоурок можно начать кнопкой.';
  document.getElementById('too-late').replaceChildren(...(state ? state.tooLateForAutoStart : []).map((id) =>
    el('div', { class: 'notice warn', text: capitalize(lessonLabel(id)) + ' ' + TEXTS.tooLate + '.' })));
  renderEndFailure(state ? state.endFailure : null);
  renderDiary(state ? state.diary : []);
  const warnings = document.getElementById('warnings');
  warnings.replaceChildren(...(state ? state.warnings : []).map((w) =>
    el('div', { class: 'notice warn', text: (TEXTS.warning[w.kind] || w.kind) + ' (' + lessonLabel(w.skippedLessonId) + ')' })));
}

// V7: the grid's row defects name the lesson number and what its row lacks.
function manualOnlyWords(reasons, gaps) {
  const rowDefects = ['lessonNotInGrid', 'lessonWithoutTimes'];
  const words = reasons.filter((r) => gaps.length === 0 || !rowDefects.includes(r)).map((r) => TEXTS.manualOnly[r] || r);
  return words.concat(gaps.map((g) => 'в сетке уроков у ' + g.number + '-го урока ' + (g.lacks === 'row' ? 'нет строки' : TEXTS.gridGap[g.lacks])));
}

function capitalize(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// V4: whether the e-diary has the link; a failing delivery says what the portal answered since when.
function renderDiary(links) {
  document.getElementById('diary').replaceChildren(...links.map((d) => {
    const failing = d.state === 'failing' && d.failingSince
      ? ': ' + (d.lastError || '') + ', ' + TEXTS.diary.since + ' ' + timeIn(d.failingSince)
      : '';
    return el('li', { class: d.state === 'failing' || d.state === 'rejected' ? 'error' : '',
      text: capitalize(lessonLabel(d.lessonId)) + ': ' + TEXTS.diary[d.state] + failing });
  }));
}

function renderEndFailure(failure) {
  const box = document.getElementById('end-failure');
  box.hidden = !failure;
  if (!failure) { box.textContent = ''; return; }
  box.textContent = failure.gaveUp
    ? TEXTS.endFailure.gaveUp + ' Причина: ' + failure.error + ' (' + lessonLabel(failure.lessonId) + ').'
    : TEXTS.endFailure.retrying + ': ' + failure.error + ' (' + lessonLabel(failure.lessonId) + '). ' +
      (failure.retryAt ? TEXTS.endFailure.retryAt + ' ' + timeIn(failure.retryAt) + '.' : '');
}

function render() {
  if (!view) return;
  document.getElementById('title').textContent = view.subject;
  renderLessons();
  renderCall();
}

async function refresh() {
  const [lessons, call] = await Promise.all([api('GET', base + '/lessons'), api('GET', base + '/call')]);
  if (lessons.status !== 200) { show(explainError(lessons), 'error'); return; }
  view = lessons.data;
  state = call.status === 200 ? call.data : null;
  render();
}

document.getElementById('start').addEventListener('click', async () => {
  if (selectedLessonId === null) return;
  const button = document.getElementById('start');
  button.disabled = true;
  show('Запускаем видеоурок…');
  const result = await api('POST', base + '/call/start', { lessonId: selectedLessonId });
  if (result.status === 200) {
    // Show the link from the reply at once; the refresh below only confirms it.
    state = Object.assign({}, state, { running: { lessonId: result.data.lessonId, joinLink: result.data.joinLink,
      lessonIds: [result.data.lessonId], startedAt: Date.now(), startedBy: 'auto', autoEndAt: null } });
    renderCall();
    show(result.data.linkPublished ? 'Видеоурок начат.' :
      'Видеоурок начат. Обучающиеся увидят ссылку, когда урок будет опубликован.');
  } else if (result.status === 409) {
    show(TEXTS.refusal[result.data.reason] || 'Запуск отклонён.', 'warn');
  } else {
    show(explainError(result), 'error');
  }
  await refresh();
});

document.getElementById('end').addEventListener('click', async () => {
  const button = document.getElementById('end');
  button.disabled = true;
  show('Завершаем видеоурок…');
  const result = await api('POST', base + '/call/end');
  if (result.status === 200) {
    state = Object.assign({}, state, { running: null, lastEnded: null });
    renderCall();
    show('Видеоурок завершён.');
  } else if (result.status === 409) {
    show(TEXTS.refusal[result.data.reason] || 'Завершение отклонено.', 'warn');
  } else {
    show(explainError(result), 'error');
  }
  await refresh();
});

void refresh();
setInterval(() => { void refresh(); }, 30000);
`;
  return page({ title: 'Видеоуроки журнала', nonce, body, script });
}
