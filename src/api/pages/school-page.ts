import { CREDENTIAL_SCRIPT, inlineJson, page } from './layout';

/** The school admin's page: last sync, a held plan to approve, people without a VK ID per chat. */
export function schoolPage({ schoolId, nonce }: { schoolId: string; nonce: string }): string {
  const body = `
<h1>Синхронизация чатов Сферума</h1>
<div id="message" class="notice info" role="status" hidden></div>
<section>
  <h2>Последняя синхронизация</h2>
  <p id="last-run" class="muted">Загрузка…</p>
  <details id="run-incidents" hidden><summary></summary><ul></ul></details>
  <p id="next-run"></p>
  <div id="blocked" class="notice error" hidden></div>
  <div class="actions"><button id="sync-now" type="button">Синхронизировать сейчас</button></div>
</section>
<section id="held" hidden>
  <h2>План ожидает одобрения</h2>
  <p id="held-text"></p>
  <ul id="held-chats"></ul>
  <div class="actions">
    <button id="show-plan" type="button" class="secondary">Показать план</button>
    <button id="approve" type="button">Одобрить</button>
  </div>
  <pre id="plan" hidden></pre>
</section>
<section>
  <h2>Не привязан VK ID</h2>
  <p class="muted">Эти люди не попадут в чаты, пока не привяжут VK ID на портале «Петербургское образование».</p>
  <div id="no-vk-id"></div>
</section>
<section id="diary" hidden>
  <h2>Электронный дневник</h2>
  <p id="diary-text"></p>
  <ul id="diary-failing"></ul>
</section>
<p><a id="audit-link" href="#">Журнал аудита видеоуроков</a></p>`;

  const script = `
const SCHOOL_ID = ${inlineJson(schoolId)};
${CREDENTIAL_SCRIPT}
const base = '/schools/' + encodeURIComponent(SCHOOL_ID);
document.getElementById('audit-link').href = base + '/audit';
const REASONS = { massRemoval: 'запуск удалил бы слишком много участников', chatRemoval: 'запуск удалил бы чат целиком' };
const KINDS = { staffRoom: 'Учительская', classParents: 'Родительский чат', classStudents: 'Чат класса', subject: 'Предметный чат' };
let heldPlanId = null;
// Chat titles of the held plan, by key: the status names chats by key only.
let heldTitles = { planId: null, byKey: {} };
// A plan approved from this page stays out of sight until the workflow has applied it: the
// workflow reports it as held until its next run has planned, a moment after the approval.
let approvedPlanId = null;
let timer = null;

function explainError(result) {
  if (result.status === 401) return 'Нет доступа: откройте страницу по ссылке с ключом администратора школы.';
  if (result.status === 403) return 'Нет доступа к этой школе.';
  if (result.status === 429) return 'Слишком много неудачных попыток входа. Подождите минуту.';
  if (result.data && result.data.error) return 'Ошибка: ' + result.data.error.message;
  return 'Сервер недоступен. Попробуйте ещё раз.';
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString('ru-RU') : '—';
}

function renderStatus(s) {
  const run = s.lastRun;
  document.getElementById('last-run').textContent = run
    ? 'Завершена ' + when(run.finishedAt) + ': создано чатов ' + run.chatsCreated + ', добавлено участников ' + run.membersAdded +
      ', удалено ' + run.membersRemoved + ', изменено прав ' + run.adminsChanged + ', без VK ID ' + run.skippedNoVkId + ', ошибок ' + run.errors + '.'
    : s.workflowStarted ? 'Синхронизация ещё не выполнялась.' : 'Синхронизация ещё не запускалась для этой школы.';
  const incidents = (run && run.incidents) || [];
  const box = document.getElementById('run-incidents');
  box.hidden = incidents.length === 0;
  box.querySelector('summary').textContent = 'Сбои, которые запуск пережил (' + incidents.length + ')';
  box.querySelector('ul').replaceChildren(...incidents.map((i) => el('li', { text: when(i.at) + ': ' + i.text })));
  document.getElementById('next-run').textContent = s.nextRunAt ? 'Следующая: ' + when(s.nextRunAt) : '';
  const blocked = document.getElementById('blocked');
  blocked.hidden = !s.blocked;
  blocked.textContent = s.blocked ? 'Синхронизация остановлена: ' + s.blocked.message : '';
  const held = s.heldPlan && s.heldPlan.planId !== approvedPlanId ? s.heldPlan : null;
  heldPlanId = held ? held.planId : null;
  document.getElementById('held').hidden = !held;
  if (held) {
    document.getElementById('held-text').textContent = 'План ' + held.planId + ' остановлен: ' + (REASONS[held.reason] || held.reason) +
      ' (удалений: ' + held.removals + ' из ' + held.managedMembers + (held.people === undefined ? '' : ', людей: ' + held.people) +
      ', чатов: ' + held.chatsRemoved + ').' + (held.chats ? ' Остальные изменения (новые участники, права администраторов) уже применены; ждёт одобрения только это:' : '');
  }
  renderHeldChats(held);
}

function heldChatName(chat) {
  const title = heldTitles.planId === heldPlanId ? heldTitles.byKey[chat.chatKey] : undefined;
  const kind = KINDS[chat.kind] || chat.kind;
  return title ? (title === kind ? title : kind + ' «' + title + '»') : kind + ' (' + chat.chatKey + ')';
}

function renderHeldChats(held) {
  const list = document.getElementById('held-chats');
  const chats = (held && held.chats) || [];
  list.replaceChildren(...chats.map((c) => el('li', { text: heldChatName(c) + ': ' + (c.retire
    ? 'чата больше нет в данных школы, из него будут удалены все добавленные нами участники (' + c.removals + ')'
    : 'будут удалены участники: ' + c.removals) })));
  if (chats.length > 0 && heldTitles.planId !== held.planId) void loadHeldTitles(held);
}

async function loadHeldTitles(held) {
  const result = await api('GET', base + '/plans/' + encodeURIComponent(held.planId));
  if (result.status !== 200) return;
  const byKey = {};
  for (const chat of result.data.chats || []) byKey[chat.key] = chat.title;
  heldTitles = { planId: held.planId, byKey };
  renderHeldChats(held);
}

function renderNoVkId(data) {
  const box = document.getElementById('no-vk-id');
  if (data.chats.length === 0) { box.replaceChildren(el('p', { text: 'У всех участников чатов привязан VK ID.' })); return; }
  box.replaceChildren(...data.chats.map((chat) => el('details', {},
    el('summary', { text: (KINDS[chat.kind] === chat.title ? chat.title : (KINDS[chat.kind] || chat.kind) + ' «' + chat.title + '»') + ': ' + chat.people.length + ' без VK ID (в чате ' + chat.members + ')' }),
    el('ul', {}, ...chat.people.map((p) => el('li', { text: (p.name || p.personId) + ' (' + p.personId + ')' }))))));
}

// Every 30 s; every second while a run is going or an approval is being applied.
function schedule(ms) {
  clearTimeout(timer);
  timer = setTimeout(() => { void refresh(); }, ms);
}

// V4: links the e-diary has not got, with what the portal answered and since when.
function renderDiary(d) {
  document.getElementById('diary').hidden = !d.webhook && d.undelivered === 0;
  document.getElementById('diary-text').textContent = d.undelivered === 0
    ? 'Все ссылки на видеоуроки переданы в электронный дневник.'
    : 'Не переданы в электронный дневник: ' + d.undelivered + '.';
  document.getElementById('diary-failing').replaceChildren(...d.failing.map((f) => el('li', { class: 'error',
    text: 'Урок ' + f.lessonId + ': ' + (f.lastError || 'нет ответа') + (f.failingSince ? ', с ' + when(new Date(f.failingSince).toISOString()) : '') +
      ' (попыток: ' + f.attempts + ')' })));
}

async function refresh() {
  const [status, noVk, diary] = await Promise.all([
    api('GET', base + '/status'), api('GET', base + '/no-vk-id'), api('GET', base + '/diary/status'),
  ]);
  if (diary.status === 200) renderDiary(diary.data);
  if (status.status !== 200) { show(explainError(status), 'error'); schedule(30000); return; }
  const s = status.data;
  if (approvedPlanId && !(s.heldPlan && s.heldPlan.planId === approvedPlanId)) approvedPlanId = null;
  renderStatus(s);
  if (noVk.status === 200) renderNoVkId(noVk.data);
  schedule(approvedPlanId || s.state === 'running' ? 1000 : 30000);
}

document.getElementById('sync-now').addEventListener('click', async () => {
  const result = await api('POST', base + '/sync');
  show(result.status === 200 ? 'Синхронизация запущена.' : explainError(result), result.status === 200 ? 'info' : 'error');
  await refresh();
});

// The plan is fetched rather than linked: a plain link could not carry the Authorization header.
document.getElementById('show-plan').addEventListener('click', async () => {
  if (!heldPlanId) return;
  const result = await api('GET', base + '/plans/' + encodeURIComponent(heldPlanId));
  const box = document.getElementById('plan');
  box.hidden = result.status !== 200;
  box.textContent = result.status === 200 ? JSON.stringify(result.data, null, 2) : '';
  if (result.status !== 200) show(explainError(result), 'error');
});

document.getElementById('approve').addEventListener('click', async () => {
  if (!heldPlanId) return;
  const result = await api('POST', base + '/plans/' + encodeURIComponent(heldPlanId) + '/approve');
  if (result.status === 200) { approvedPlanId = heldPlanId; show('План одобрен и применяется.'); }
  else if (result.status === 409) show('План не одобрен: ' + result.data.reason, 'warn');
  else show(explainError(result), 'error');
  await refresh();
});

void refresh();
`;
  return page({ title: 'Синхронизация чатов', nonce, body, script });
}
