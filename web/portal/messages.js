// messages.html, "Meddelanden": the person's conversations with care units (or the child's, while
// a guardian acts for one) with their unread counts (GET /api/v1/conversations); one conversation's
// full history, marked read up to its last message when shown (POST …/read {seq}); a reply with
// images or PDFs attached; a new conversation with a care unit (the units of the person's bookings
// and conversations suggested first, then the region's others). A closed conversation says so and
// offers a new one to the same unit.
//
// `?conversation=ID` shows one conversation, otherwise the list; `&new=1&care_unit=…` fills in the
// new-message form. Moving between them keeps the page (history.pushState), so Back works.

import { api, ApiError } from './api.js';
import { $, fullName, leaveOnError, markReady, say, startPage } from './page.js';
import { onLanguageChange, portalHref, t } from './i18n-portal.js';
import { factList, stockholmNow } from './bookings-common.js';
import {
  attachFiles, checkText, Composer, fieldProblem, historyView, localWhen, MAX_FILES, messageErrorText, sentStatus, statusWord,
  unreadText,
} from './messages-common.js';

const ctx = await startPage({ titleKey: 'title_messages', realm: 'patient', policyGate: true });
if (ctx) {
  const { session } = ctx;
  /** `[ConversationSummary]` once read, else null. */
  let conversations = null;
  /** The conversation shown (`Conversation`), or null. */
  let conversation = null;
  /** Page-level messages: `{key, vars}` or `{error}`, kept so a language switch redraws them. */
  let status = null;
  let problem = null;
  /** Field problems of the new-message form: input id → i18n key. */
  const newErrors = new Map();
  let focusAfter = null;

  const pathOf = (id) => `/api/v1/conversations/${encodeURIComponent(id)}`;
  const text = (value) => (value === null ? '' : value.key ? t(value.key, value.vars) : messageErrorText(value.error));
  const route = () => new URLSearchParams(location.search);

  /** "3 december 2026 kl. 17:05" for Unix seconds, on the Stockholm clock whatever the browser's zone. */
  const stockholmWhen = (unix) => localWhen(stockholmNow(new Date(unix * 1000)));

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
      // A conversation closed meanwhile: show it as it is now.
      if (error instanceof ApiError && error.code === 'conversation_closed') await loadConversation(conversation.id).catch(() => {});
      render();
    },
  });

  async function loadList() {
    const answer = await api('GET', '/api/v1/conversations');
    conversations = Array.isArray(answer) ? answer : [];
  }

  async function loadConversation(id) {
    conversation = await api('GET', pathOf(id));
  }

  /**
   * Marks what is shown as read: the last message's `seq` (the server moves only this side's mark,
   * forward). The messages keep their "Nytt" word while shown, so the person sees what was new.
   */
  async function markRead() {
    const last = conversation.messages?.at(-1);
    if (!last || conversation.unread === 0) return;
    const summary = await api('POST', `${pathOf(conversation.id)}/read`, { seq: last.seq });
    conversation.unread = summary?.unread ?? 0;
  }

  function listItem(c) {
    const item = document.createElement('li');
    item.className = 'booking conversation';
    item.dataset.conversationId = c.id;
    item.dataset.status = c.status;
    item.dataset.unread = String(c.unread);
    const heading = document.createElement('h3');
    const link = document.createElement('a');
    link.href = portalHref(`messages.html?conversation=${encodeURIComponent(c.id)}`);
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
      ['msg_care_unit', c.care_unit],
      ['msg_last_activity', localWhen(c.last_message)],
      ['msg_status', statusWord(c.status)],
    ]));
    return item;
  }

  function renderList() {
    const list = conversations ?? [];
    $('conversations').replaceChildren(...list.map(listItem));
    $('list-none').hidden = conversations === null || list.length !== 0;
    for (const id of ['new-care-unit', 'new-subject', 'new-text', 'new-files']) {
      const key = newErrors.get(id);
      fieldProblem(id, key ? t(key) : null);
    }
  }

  function renderConversation() {
    const c = conversation;
    if (!c) return;
    $('conversation-heading').textContent = c.subject;
    const facts = factList([
      ['msg_care_unit', c.care_unit],
      ['msg_status', statusWord(c.status)],
    ]);
    $('conversation-facts').replaceChildren(facts);
    $('history').replaceChildren(historyView(c, {
      isMine: (m) => m.author?.kind !== 'staff',
      attachmentHref: (a) => `${pathOf(c.id)}/attachments/${encodeURIComponent(a.id)}`,
    }));
    const closed = c.status === 'closed';
    $('closed-box').hidden = !closed;
    $('reply-section').hidden = closed;
    if (closed) {
      $('closed-text').textContent = t('msg_closed_notice', { when: c.closed_at ? stockholmWhen(c.closed_at) : '' });
      const link = $('closed-new');
      link.textContent = t('msg_closed_new', { unit: c.care_unit });
      link.href = portalHref(`messages.html?new=1&care_unit=${encodeURIComponent(c.care_unit)}`);
    }
    composer.render();
  }

  function render() {
    const acting = session.acting_as;
    $('heading').textContent = acting ? t('messages_heading_for', { name: fullName(acting) }) : t('messages_heading');
    $('who').textContent = session.person ? t('logged_in_as', { name: fullName(session.person) }) : '';
    say($('status'), text(status));
    say($('error'), text(problem));
    const showing = Boolean(route().get('conversation'));
    $('list-view').hidden = showing;
    $('conversation-view').hidden = !showing;
    $('conversation-body').hidden = !conversation;
    if (showing) renderConversation();
    else renderList();
    if (focusAfter) {
      $(focusAfter)?.focus();
      focusAfter = null;
    }
  }

  /** Shows what the address asks for: one conversation (read and marked read) or the list. */
  async function show() {
    const asked = route();
    const id = asked.get('conversation');
    problem = null;
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
        const unit = asked.get('care_unit');
        if (unit) $('new-care-unit').value = unit;
        if (asked.get('new')) focusAfter = 'new-heading';
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

  $('back').addEventListener('click', (event) => {
    event.preventDefault();
    navigate($('back').href);
  });
  $('closed-new').addEventListener('click', (event) => {
    event.preventDefault();
    navigate($('closed-new').href);
  });
  window.addEventListener('popstate', () => {
    status = null;
    show();
  });

  $('new-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    newErrors.clear();
    status = null;
    problem = null;
    const careUnit = $('new-care-unit').value.trim();
    const subject = $('new-subject').value;
    const body = $('new-text').value;
    const files = [...$('new-files').files];
    if (!careUnit) newErrors.set('new-care-unit', 'msg_care_unit_missing');
    const subjectProblem = checkText(subject, { max: 200, oneLine: true, missingKey: 'msg_subject_missing', invalidKey: 'msg_subject_invalid' });
    if (subjectProblem) newErrors.set('new-subject', subjectProblem);
    const textProblem = checkText(body, { max: 5000, missingKey: 'msg_text_missing', invalidKey: 'msg_text_invalid' });
    if (textProblem) newErrors.set('new-text', textProblem);
    if (files.length > MAX_FILES) newErrors.set('new-files', 'msg_too_many_files');
    if (newErrors.size) {
      render();
      $(newErrors.keys().next().value).focus();
      return;
    }
    const button = $('new-send');
    button.disabled = true;
    button.textContent = t('msg_sending');
    try {
      let started;
      try {
        started = await api('POST', '/api/v1/conversations', { care_unit: careUnit, subject, text: body });
      } catch (error) {
        if (leaveOnError(error)) return;
        const field = error instanceof ApiError ? { care_unit: 'new-care-unit', subject: 'new-subject', text: 'new-text' }[error.field] : null;
        if (field) {
          newErrors.set(field, {
            'new-care-unit': error.code === 'unknown_care_unit' ? 'msg_error_unknown_care_unit' : 'msg_care_unit_missing',
            'new-subject': 'msg_subject_invalid',
            'new-text': 'msg_text_invalid',
          }[field]);
          render();
          $(field).focus();
        } else {
          problem = { error };
          render();
        }
        return;
      }
      $('new-form').reset();
      const messagePath = `${pathOf(started.id)}/messages/${encodeURIComponent(started.messages[0].id)}`;
      const { refused } = await attachFiles(messagePath, files);
      history.pushState(null, '', portalHref(`messages.html?conversation=${encodeURIComponent(started.id)}`));
      conversation = null;
      await show();
      status = { key: 'msg_started', vars: { unit: started.care_unit } };
      render();
      if (refused.length) composer.showRefused(messagePath, refused);
    } finally {
      button.disabled = false;
      button.textContent = t('msg_send');
    }
  });

  // Suggest the care units of the person's bookings and conversations first, then the region's
  // other units that take messages (GET /api/v1/care-units).
  const known = new Set();
  try {
    for (const b of (await api('GET', '/api/v1/bookings')) ?? []) known.add(b.care_unit);
  } catch (error) {
    if (leaveOnError(error)) markReady('left');
  }
  let all = [];
  try {
    const answer = await api('GET', '/api/v1/care-units');
    all = Array.isArray(answer) ? answer.filter((u) => typeof u === 'string') : [];
  } catch {
    // Typing the name still works; the server says when there is no such unit.
  }
  onLanguageChange(render);
  await show();
  for (const c of conversations ?? []) known.add(c.care_unit);
  const suggested = [...[...known].sort(), ...all.filter((u) => !known.has(u))];
  for (const unit of suggested) {
    const option = document.createElement('option');
    option.value = unit;
    $('care-units').append(option);
  }
  if (!$('new-care-unit').value && known.size === 1) $('new-care-unit').value = [...known][0];
  markReady();
}
