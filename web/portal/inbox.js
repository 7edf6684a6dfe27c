// inbox.html, "Inkorg" (staff): the active care unit's conversations with patients
// (GET /api/v1/staff/inbox: open or closed, only those with messages unread by me, only those
// assigned to me); one conversation's full history, marked read for me when shown (the patient's
// own read mark is theirs and does not move); a reply with images or PDFs; assigning it to me or
// to a colleague of the unit; closing it. Every read of a conversation or file is written to the
// patient's PDL access log by the server, so the page reads a conversation only when asked to.
//
// Colleagues to assign to are the active unit's clinicians (GET /api/v1/staff/colleagues); the
// server refuses one who has left the unit since (`not_a_clinician_of_unit`), shown on the choice.
//
// `?conversation=ID` shows one conversation, otherwise the list (history.pushState, so Back works).

import { api, ApiError } from './api.js';
import { $, fullName, leaveOnError, markReady, say, startPage } from './page.js';
import { formatPersonnummer, has, onLanguageChange, portalHref, t } from './i18n-portal.js';
import { factList, stockholmNow } from './bookings-common.js';
import {
  Composer, fieldProblem, historyView, localWhen, messageErrorText, sentStatus, statusWord, unreadText,
} from './messages-common.js';

const ctx = await startPage({ titleKey: 'title_inbox', realm: 'staff' });
if (ctx) {
  const { session } = ctx;
  const me = session.staff ?? {};
  let conversations = null;
  /** The conversation shown (`StaffConversation`), or null. */
  let conversation = null;
  let status = null;
  let problem = null;
  let assignProblem = null;
  let confirmingClose = false;
  let focusAfter = null;
  /** The unit's other clinicians (`[{id, given_name, family_name}]`), or an error if they could not be read. */
  let colleagues = [];
  let colleaguesError = null;

  const pathOf = (id) => `/api/v1/staff/conversations/${encodeURIComponent(id)}`;
  const text = (value) => (value === null ? '' : value.key ? t(value.key, value.vars) : messageErrorText(value.error));
  const route = () => new URLSearchParams(location.search);
  const stockholmWhen = (unix) => localWhen(stockholmNow(new Date(unix * 1000)));
  const staffName = (ref) => (ref ? (ref.staff_id === me.id ? t('inbox_assigned_me', { name: fullName(me) }) : ref.name ?? ref.staff_id) : t('inbox_assigned_nobody'));
  const patientText = (p) => `${fullName(p)}, ${formatPersonnummer(p?.personnummer)}`;

  const composer = new Composer({
    path: () => pathOf(conversation.id),
    sent: async ({ message, attached }) => {
      if (message) {
        status = sentStatus(attached.length);
      } else if (attached.length) {
        status = { key: 'msg_retry_attached' };
      }
      problem = null;
      await loadConversation(conversation.id);
      render();
    },
    failed: async (error) => {
      if (leaveOnError(error)) return;
      status = null;
      problem = { error };
      if (error instanceof ApiError && error.code === 'conversation_closed') await loadConversation(conversation.id).catch(() => {});
      render();
    },
  });

  async function loadList() {
    const query = new URLSearchParams({ status: $('filter-status').value });
    if ($('filter-unread').checked) query.set('unread', 'true');
    if ($('filter-assigned').checked) query.set('assigned', 'me');
    const answer = await api('GET', `/api/v1/staff/inbox?${query}`);
    conversations = Array.isArray(answer) ? answer : [];
  }

  async function loadConversation(id) {
    conversation = await api('GET', pathOf(id));
  }

  /** Moves my own read mark to the last message shown (`204`); the patient's mark stays theirs. */
  async function markRead() {
    const last = conversation.messages?.at(-1);
    if (!last || conversation.unread === 0) return;
    await api('POST', `${pathOf(conversation.id)}/read`, { seq: last.seq });
    conversation.unread = 0;
  }

  function listItem(c) {
    const item = document.createElement('li');
    item.className = 'booking conversation';
    item.dataset.conversationId = c.id;
    item.dataset.status = c.status;
    item.dataset.unread = String(c.unread);
    const heading = document.createElement('h3');
    const link = document.createElement('a');
    link.href = portalHref(`inbox.html?conversation=${encodeURIComponent(c.id)}`);
    link.textContent = c.subject;
    link.addEventListener('click', (event) => {
      if (event.ctrlKey || event.metaKey || event.shiftKey) return;
      event.preventDefault();
      navigate(link.href);
    });
    heading.append(link);
    item.append(heading);
    if (c.unread > 0) {
      const badge = document.createElement('p');
      badge.className = 'badge-unread';
      badge.id = `c-${c.id}-unread`;
      badge.textContent = unreadText(c.unread);
      link.setAttribute('aria-describedby', badge.id);
      item.append(badge);
    }
    item.append(factList([
      ['inbox_patient', patientText(c.patient)],
      ['msg_last_activity', localWhen(c.last_message)],
      ['msg_status', statusWord(c.status)],
      ['inbox_assigned', staffName(c.assigned_to)],
    ]));
    return item;
  }

  function renderConversation() {
    const c = conversation;
    if (!c) return;
    $('conversation-heading').textContent = c.subject;
    const facts = [
      ['inbox_patient', patientText(c.patient)],
      ['msg_care_unit', c.care_unit],
      ['msg_status', statusWord(c.status)],
      ['inbox_assigned', staffName(c.assigned_to)],
    ];
    if (c.status === 'closed') {
      facts.push(['inbox_closed_by', t('inbox_closed_value', { who: staffName(c.closed_by), when: c.closed_at ? stockholmWhen(c.closed_at) : '' })]);
    }
    const list = factList(facts);
    if (c.started_by === 'guardian') {
      const note = document.createElement('p');
      note.className = 'hint';
      note.textContent = t('inbox_started_by_guardian');
      $('conversation-facts').replaceChildren(list, note);
    } else {
      $('conversation-facts').replaceChildren(list);
    }
    $('history').replaceChildren(historyView(c, {
      isMine: (m) => m.author?.kind === 'staff' && m.author.staff_id === me.id,
      attachmentHref: (a) => `${pathOf(c.id)}/attachments/${encodeURIComponent(a.id)}`,
    }));
    const open = c.status === 'open';
    $('reply-section').hidden = !open;
    $('handle-section').hidden = !open;
    $('close-box').hidden = !confirmingClose;
    $('close').setAttribute('aria-expanded', String(confirmingClose));
    renderColleagues();
    composer.render();
  }

  function renderColleagues() {
    const select = $('assign-colleague');
    const chosen = select.value;
    select.replaceChildren(...colleagues.map((c) => {
      const option = document.createElement('option');
      option.value = c.id;
      option.textContent = fullName(c);
      option.selected = c.id === chosen;
      return option;
    }));
    $('assign-form').hidden = colleagues.length === 0 && !colleaguesError;
    $('assign-none').hidden = colleagues.length !== 0 || Boolean(colleaguesError);
    let problemText = null;
    if (assignProblem) problemText = messageErrorText(assignProblem);
    else if (colleaguesError) problemText = t('inbox_colleagues_failed');
    fieldProblem('assign-colleague', problemText);
    $('assign-other').disabled = colleagues.length === 0;
  }

  function render() {
    const roleKey = `staff_role_${me.role}`;
    $('staff-who').textContent = t('staff_who', { name: fullName(me), role: has(roleKey) ? t(roleKey) : String(me.role ?? '') });
    $('unit-line').textContent = me.care_unit ? t('inbox_unit', { unit: me.care_unit }) : t('msg_error_no_care_unit');
    say($('status'), text(status));
    say($('error'), text(problem));
    const showing = Boolean(route().get('conversation'));
    $('list-view').hidden = showing;
    $('conversation-view').hidden = !showing;
    $('conversation-body').hidden = !conversation;
    if (showing) {
      renderConversation();
    } else {
      const list = conversations ?? [];
      $('conversations').replaceChildren(...list.map(listItem));
      $('list-none').hidden = conversations === null || list.length !== 0;
    }
    if (focusAfter) {
      $(focusAfter)?.focus();
      focusAfter = null;
    }
  }

  async function show() {
    const id = route().get('conversation');
    problem = null;
    assignProblem = null;
    confirmingClose = false;
    try {
      if (id) {
        if (conversation?.id !== id) {
          conversation = null;
          composer.reset();
          render();
          await loadConversation(id);
        }
        await markRead();
        focusAfter = 'conversation-heading';
      } else {
        conversation = null;
        await loadList();
      }
    } catch (error) {
      if (leaveOnError(error)) return;
      problem = { error };
    }
    render();
  }

  function navigate(href) {
    status = null;
    history.pushState(null, '', href);
    show();
  }

  async function assign(staffId) {
    status = null;
    problem = null;
    assignProblem = null;
    try {
      const summary = await api('POST', `${pathOf(conversation.id)}/assign`, { staff_id: staffId });
      conversation.assigned_to = summary.assigned_to;
      status = { key: 'inbox_assigned_status', vars: { name: staffName(summary.assigned_to) } };
    } catch (error) {
      if (leaveOnError(error)) return;
      if (error instanceof ApiError && error.field === 'staff_id') {
        assignProblem = error;
        render();
        $('assign-colleague').focus();
        return;
      }
      problem = { error };
      if (error instanceof ApiError && error.code === 'conversation_closed') await loadConversation(conversation.id).catch(() => {});
    }
    render();
  }

  $('filter').addEventListener('submit', async (event) => {
    event.preventDefault();
    status = null;
    const button = $('filter-show');
    button.disabled = true;
    try {
      await loadList();
      problem = null;
      status = conversations.length === 1 ? { key: 'inbox_count_one' } : { key: 'inbox_count', vars: { n: conversations.length } };
    } catch (error) {
      if (leaveOnError(error)) return;
      problem = { error };
    } finally {
      button.disabled = false;
    }
    render();
  });
  $('back').addEventListener('click', (event) => {
    event.preventDefault();
    navigate($('back').href);
  });
  window.addEventListener('popstate', () => {
    status = null;
    show();
  });
  $('assign-me').addEventListener('click', () => assign(me.id));
  $('assign-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const id = $('assign-colleague').value;
    if (!id) {
      assignProblem = new ApiError(400, { code: 'invalid_field', field: 'staff_id' });
      render();
      $('assign-colleague').focus();
      return;
    }
    assign(id);
  });
  $('close').addEventListener('click', () => {
    confirmingClose = !confirmingClose;
    render();
    if (confirmingClose) $('close-yes').focus();
  });
  $('close-no').addEventListener('click', () => {
    confirmingClose = false;
    render();
    $('close').focus();
  });
  $('close-yes').addEventListener('click', async () => {
    const button = $('close-yes');
    button.disabled = true;
    status = null;
    problem = null;
    try {
      await api('POST', `${pathOf(conversation.id)}/close`);
      confirmingClose = false;
      status = { key: 'inbox_closed_status' };
      await loadConversation(conversation.id);
      focusAfter = 'conversation-heading';
    } catch (error) {
      if (leaveOnError(error)) return;
      problem = { error };
    } finally {
      button.disabled = false;
    }
    render();
  });

  onLanguageChange(render);
  try {
    const answer = await api('GET', '/api/v1/staff/colleagues');
    colleagues = (Array.isArray(answer) ? answer : []).filter((c) => c.id !== me.id);
  } catch (error) {
    if (leaveOnError(error)) markReady('left');
    // A staff member who may not read conversations is told so by the inbox itself.
    else if (!(error instanceof ApiError && error.code === 'not_clinician')) colleaguesError = error;
  }
  await show();
  markReady();
}
