// Swedish and English texts of the call page, and choosing and switching the page language.

/** Every text the call page shows, by key. `{name}` style placeholders are filled by `t()`. */
const STRINGS = {
  sv: {
    page_title: 'Videobesök – vardrum',
    app_name: 'vardrum',
    app_tagline: 'Videobesök',
    switch_language: 'English',
    switch_language_label: 'Switch to English',
    videos_heading: 'Deltagare i besöket',
    controls_label: 'Samtalskontroller',
    mic_button: 'Stäng av mikrofonen',
    camera_button: 'Stäng av kameran',
    leave_button: 'Lämna samtalet',
    rejoin_button: 'Gå med i samtalet igen',
    audio_only_button: 'Gå med med bara ljud',
    watch_only_button: 'Gå med för att bara se och lyssna',
    retry_media_button: 'Försök igen med kamera och mikrofon',
    sound_button: 'Slå på ljudet från de andra',
    you: 'Du',
    you_named: 'Du ({name})',
    unknown_person: 'Deltagare',
    mic_off: 'Mikrofon av',
    camera_off: 'Kamera av',
    no_camera: 'Ingen kamera',
    reconnecting_overlay: 'Återansluter…',
    role_clinician: 'vårdpersonal',
    role_patient: 'patient',
    role_guest: 'gäst',
    // Status line (window.vardrum.state holds the key).
    status_starting: 'Startar…',
    status_media_prompt: 'Tillåt kameran och mikrofonen i webbläsaren för att gå med i samtalet.',
    status_media_denied: 'Webbläsaren fick inte använda kameran och mikrofonen. Du kan tillåta dem i webbläsarens inställningar och försöka igen, eller gå med utan dem.',
    status_media_unavailable: 'Ingen kamera eller mikrofon hittades, eller så används de av ett annat program. Du kan gå med ändå.',
    status_audio_denied: 'Mikrofonen gick inte heller att använda. Du kan gå med för att bara se och lyssna.',
    status_connecting: 'Ansluter…',
    status_waiting: 'Ansluten. Väntar på att den andra personen ska ansluta…',
    status_connected: 'Ansluten.',
    status_reconnecting: 'Anslutningen bröts – återansluter…',
    status_server_shutdown: 'Tjänsten startar om – återansluter…',
    status_unreachable: 'Det går inte att nå videotjänsten. Kontrollera internetanslutningen – försöker igen…',
    status_left: 'Du har lämnat samtalet.',
    status_replaced: 'Samtalet öppnades i ett annat fönster eller på en annan enhet, så det stängdes här.',
    status_no_token: 'Länken saknar sin åtkomstkod. Öppna länken från din vårdgivare igen.',
    status_no_room: 'Länken pekar inte på något besök. Öppna länken från din vårdgivare igen.',
    status_token_expired: 'Länken har gått ut – be din vårdgivare om en ny.',
    status_token_invalid: 'Länken är inte giltig. Öppna länken från din vårdgivare igen, eller be om en ny.',
    status_token_not_yet_valid: 'Länken gäller inte ännu. Försök igen närmare tiden för ditt besök.',
    status_room_full: 'Besöket har redan det högsta antalet deltagare.',
    status_unsupported_version: 'Sidan är inaktuell. Ladda om sidan.',
    status_no_webrtc: 'Den här webbläsaren kan inte hantera videosamtal. Använd en aktuell version av Firefox, Chrome, Edge eller Safari.',
    status_error: 'Något gick fel. Ladda om sidan för att försöka igen.',
    // Texts of the group visit (and of a 1:1 visit with a waiting room).
    dismiss_button: 'Stäng',
    close_button: 'Stäng',
    cancel_button: 'Avbryt',
    prejoin_heading: 'Kontrollera kamera och mikrofon',
    prejoin_intro: 'Så här ser och hör de andra dig. Välj en annan kamera eller mikrofon om något inte fungerar.',
    preview_no_camera: 'Ingen kamera – du går med med bara ljud.',
    camera_label: 'Kamera',
    microphone_label: 'Mikrofon',
    no_devices: 'Ingen hittades',
    device_camera_n: 'Kamera {n}',
    device_microphone_n: 'Mikrofon {n}',
    mic_level_label: 'Ljudnivå från mikrofonen',
    mic_level_hint: 'Säg något: stapeln rör sig när mikrofonen hör dig.',
    join_button: 'Gå med i besöket',
    waiting_heading: 'Värden släpper in dig',
    waiting_text: 'Du är i väntrummet. Här ser och hör ingen dig. Vänta kvar, så släpper värden in dig när det är dags.',
    hand_button: 'Räck upp handen',
    hand_raised: 'Handen uppräckt',
    chat_button: 'Chatt',
    host_button: 'Värdverktyg',
    count_new: '{count} nya',
    count_waiting: '{count} väntar',
    pages_label: 'Sidor med deltagare',
    page_prev: 'Föregående',
    page_next: 'Nästa',
    page_info: 'Sida {page} av {pages}',
    chat_heading: 'Chatt',
    chat_note: 'Chatten raderas när besöket slutar.',
    chat_log_label: 'Meddelanden',
    chat_empty: 'Inga meddelanden ännu.',
    chat_input_label: 'Meddelande',
    chat_send: 'Skicka',
    speaker_view_button: 'Talarvy',
    speaking: 'Talar',
    speaker_now: 'Talar nu: {name}',
    speaker_now_you: 'Du talar nu',
    host_heading: 'Värdverktyg',
    waiting_list_heading: 'I väntrummet ({count})',
    waiting_none: 'Ingen väntar.',
    admit: 'Släpp in',
    deny: 'Neka',
    admit_all: 'Släpp in alla',
    people_heading: 'I besöket ({count})',
    person_you: '{name} (du)',
    person_actions: 'Åtgärder',
    state_reconnecting: 'återansluter',
    mute_mic_action: 'Stäng av mikrofonen',
    stop_camera_action: 'Stäng av kameran',
    lower_hand_action: 'Ta ner handen',
    spotlight_action: 'Visa stort för alla',
    spotlight_end_action: 'Sluta visa stort',
    move_action: 'Flytta till väntrummet',
    remove_action: 'Ta bort från besöket',
    spotlight_badge: 'Visas stort',
    room_heading: 'Besöket',
    lock_action: 'Lås besöket',
    unlock_action: 'Lås upp besöket',
    locked_note: 'Besöket är låst: ingen ny kan komma in eller släppas in.',
    unlocked_note: 'Besöket är öppet: du kan släppa in dem som väntar.',
    guest_name_label: 'Bjud in en gäst (till exempel tolk eller anhörig): gästens namn',
    invite_button: 'Skapa gästlänk',
    guest_link_label: 'Gästlänk, giltig till {time}. Gästen hamnar i väntrummet.',
    copy_link: 'Kopiera länken',
    end_visit: 'Avsluta besöket för alla',
    confirm_end_title: 'Avsluta besöket för alla?',
    confirm_end_text: 'Alla lämnar besöket och chatten raderas. Det går inte att ångra.',
    confirm_end_ok: 'Avsluta besöket',
    confirm_remove_title: 'Ta bort {name} från besöket?',
    confirm_remove_text: 'Personen kommer bara tillbaka om någon värd släpper in den igen.',
    confirm_remove_ok: 'Ta bort',
    confirm_deny_title: 'Neka {name}?',
    confirm_deny_text: 'Personen släpps inte in och får veta det.',
    deny_message_label: 'Meddelande till personen (frivilligt, högst 200 tecken)',
    confirm_deny_ok: 'Neka',
    host_message: 'Meddelande från värden: {message}',
    flash_host_muted_audio: 'En värd stängde av din mikrofon. Du kan slå på den igen.',
    flash_host_muted_video: 'En värd stängde av din kamera. Du kan slå på den igen.',
    flash_moved: 'Du flyttades till väntrummet.',
    flash_admitted: 'Du är insläppt i besöket.',
    flash_hand_lowered: 'En värd tog ner din hand.',
    flash_forbidden: 'Det får bara en värd göra, eller inte med den personen.',
    flash_unknown_participant: 'Personen är inte längre där.',
    flash_not_admitted: 'Det går inte förrän du är insläppt.',
    flash_chat_too_long: 'Meddelandet är för långt (högst 2 000 tecken).',
    flash_rate_limited: 'Du skickar för snabbt. Vänta en stund och försök igen.',
    flash_guest_link: 'Gästlänken är klar.',
    flash_copied: 'Länken är kopierad.',
    flash_copy_failed: 'Länken gick inte att kopiera. Markera den och kopiera den själv.',
    flash_locked: 'Besöket är låst.',
    flash_unlocked: 'Besöket är upplåst.',
    announce_waiting: '{name} väntar i väntrummet.',
    announce_hand: '{name} räcker upp handen.',
    announce_chat: 'Nytt meddelande från {name}',
    status_prejoin: 'Kontrollera kameran och mikrofonen och gå sedan med i besöket.',
    status_prejoin_audio: 'Kameran gick inte att använda. Du går med med bara ljud.',
    status_prejoin_none: 'Varken kamera eller mikrofon gick att använda. Du kan gå med för att se och lyssna.',
    status_waiting_room: 'Du är i väntrummet. Värden släpper in dig.',
    status_waiting_group: 'Ansluten. Ingen annan är i besöket ännu.',
    status_ended: 'Värden har avslutat besöket.',
    status_removed: 'Du togs bort från besöket.',
    status_denied: 'Du blev inte insläppt i besöket.',
    status_visit_ended: 'Besöket har avslutats.',
    status_room_locked: 'Besöket är låst, så ingen ny kan komma in just nu. Försök igen om en stund eller kontakta din vårdgivare.',
  },
  en: {
    page_title: 'Video visit – vardrum',
    app_name: 'vardrum',
    app_tagline: 'Video visit',
    switch_language: 'Svenska',
    switch_language_label: 'Byt till svenska',
    videos_heading: 'People in the visit',
    controls_label: 'Call controls',
    mic_button: 'Mute microphone',
    camera_button: 'Turn camera off',
    leave_button: 'Leave call',
    rejoin_button: 'Join the call again',
    audio_only_button: 'Join with audio only',
    watch_only_button: 'Join to watch and listen only',
    retry_media_button: 'Try camera and microphone again',
    sound_button: 'Turn on sound from the others',
    you: 'You',
    you_named: 'You ({name})',
    unknown_person: 'Participant',
    mic_off: 'Microphone off',
    camera_off: 'Camera off',
    no_camera: 'No camera',
    reconnecting_overlay: 'Reconnecting…',
    role_clinician: 'care staff',
    role_patient: 'patient',
    role_guest: 'guest',
    status_starting: 'Starting…',
    status_media_prompt: 'Allow the camera and microphone in your browser to join the call.',
    status_media_denied: 'The browser was not allowed to use the camera and microphone. You can allow them in the browser settings and try again, or join without them.',
    status_media_unavailable: 'No camera or microphone was found, or another program is using them. You can still join.',
    status_audio_denied: 'The microphone could not be used either. You can join to watch and listen only.',
    status_connecting: 'Connecting…',
    status_waiting: 'Connected. Waiting for the other person to join…',
    status_connected: 'Connected.',
    status_reconnecting: 'The connection was lost – reconnecting…',
    status_server_shutdown: 'The service is restarting – reconnecting…',
    status_unreachable: 'The video service cannot be reached. Check your internet connection – trying again…',
    status_left: 'You left the call.',
    status_replaced: 'The call was opened in another window or on another device, so it was closed here.',
    status_no_token: 'The link is missing its access code. Open the link from your care provider again.',
    status_no_room: 'The link does not point to a visit. Open the link from your care provider again.',
    status_token_expired: 'The link has expired – ask your care provider for a new one.',
    status_token_invalid: 'The link is not valid. Open the link from your care provider again, or ask for a new one.',
    status_token_not_yet_valid: 'The link is not valid yet. Try again closer to the time of your visit.',
    status_room_full: 'The visit already has the maximum number of participants.',
    status_unsupported_version: 'This page is out of date. Reload the page.',
    status_no_webrtc: 'This browser cannot make video calls. Use a current version of Firefox, Chrome, Edge or Safari.',
    status_error: 'Something went wrong. Reload the page to try again.',
    dismiss_button: 'Dismiss',
    close_button: 'Close',
    cancel_button: 'Cancel',
    prejoin_heading: 'Check your camera and microphone',
    prejoin_intro: 'This is how the others will see and hear you. Choose another camera or microphone if something does not work.',
    preview_no_camera: 'No camera – you will join with sound only.',
    camera_label: 'Camera',
    microphone_label: 'Microphone',
    no_devices: 'None found',
    device_camera_n: 'Camera {n}',
    device_microphone_n: 'Microphone {n}',
    mic_level_label: 'Microphone level',
    mic_level_hint: 'Say something: the bar moves when the microphone hears you.',
    join_button: 'Join the visit',
    waiting_heading: 'The host will let you in',
    waiting_text: 'You are in the waiting room. Nobody sees or hears you here. Please wait: the host will let you in when it is time.',
    hand_button: 'Raise hand',
    hand_raised: 'Hand raised',
    chat_button: 'Chat',
    host_button: 'Host controls',
    count_new: '{count} new',
    count_waiting: '{count} waiting',
    pages_label: 'Pages of participants',
    page_prev: 'Previous',
    page_next: 'Next',
    page_info: 'Page {page} of {pages}',
    chat_heading: 'Chat',
    chat_note: 'The chat is deleted when the visit ends.',
    chat_log_label: 'Messages',
    chat_empty: 'No messages yet.',
    chat_input_label: 'Message',
    chat_send: 'Send',
    speaker_view_button: 'Speaker view',
    speaking: 'Speaking',
    speaker_now: 'Speaking now: {name}',
    speaker_now_you: 'You are speaking',
    host_heading: 'Host controls',
    waiting_list_heading: 'In the waiting room ({count})',
    waiting_none: 'Nobody is waiting.',
    admit: 'Admit',
    deny: 'Deny',
    admit_all: 'Admit everyone',
    people_heading: 'In the visit ({count})',
    person_you: '{name} (you)',
    person_actions: 'Actions',
    state_reconnecting: 'reconnecting',
    mute_mic_action: 'Mute microphone',
    stop_camera_action: 'Stop camera',
    lower_hand_action: 'Lower hand',
    spotlight_action: 'Spotlight for everyone',
    spotlight_end_action: 'End spotlight',
    move_action: 'Move to waiting room',
    remove_action: 'Remove from visit',
    spotlight_badge: 'Spotlight',
    room_heading: 'The visit',
    lock_action: 'Lock the visit',
    unlock_action: 'Unlock the visit',
    locked_note: 'The visit is locked: nobody new can come in or be let in.',
    unlocked_note: 'The visit is open: you can let in those who wait.',
    guest_name_label: 'Invite a guest (for example an interpreter or a relative): the guest\'s name',
    invite_button: 'Create guest link',
    guest_link_label: 'Guest link, valid until {time}. The guest enters the waiting room.',
    copy_link: 'Copy link',
    end_visit: 'End the visit for everyone',
    confirm_end_title: 'End the visit for everyone?',
    confirm_end_text: 'Everyone leaves the visit and the chat is deleted. This cannot be undone.',
    confirm_end_ok: 'End the visit',
    confirm_remove_title: 'Remove {name} from the visit?',
    confirm_remove_text: 'They only come back if a host lets them in again.',
    confirm_remove_ok: 'Remove',
    confirm_deny_title: 'Deny {name}?',
    confirm_deny_text: 'They are not let in, and are told so.',
    deny_message_label: 'Message to them (optional, at most 200 characters)',
    confirm_deny_ok: 'Deny',
    host_message: 'Message from the host: {message}',
    flash_host_muted_audio: 'A host muted your microphone. You can turn it back on.',
    flash_host_muted_video: 'A host turned off your camera. You can turn it back on.',
    flash_moved: 'You were moved to the waiting room.',
    flash_admitted: 'You have been let in.',
    flash_hand_lowered: 'A host lowered your hand.',
    flash_forbidden: 'Only a host can do that, or not with that person.',
    flash_unknown_participant: 'That person is no longer there.',
    flash_not_admitted: 'That is not possible until you have been let in.',
    flash_chat_too_long: 'The message is too long (at most 2,000 characters).',
    flash_rate_limited: 'You are sending too fast. Wait a moment and try again.',
    flash_guest_link: 'The guest link is ready.',
    flash_copied: 'The link was copied.',
    flash_copy_failed: 'The link could not be copied. Select it and copy it yourself.',
    flash_locked: 'The visit is locked.',
    flash_unlocked: 'The visit is unlocked.',
    announce_waiting: '{name} is waiting in the waiting room.',
    announce_hand: '{name} raised their hand.',
    announce_chat: 'New message from {name}',
    status_prejoin: 'Check your camera and microphone, then join the visit.',
    status_prejoin_audio: 'The camera could not be used. You will join with sound only.',
    status_prejoin_none: 'Neither camera nor microphone could be used. You can join to watch and listen.',
    status_waiting_room: 'You are in the waiting room. The host will let you in.',
    status_waiting_group: 'Connected. Nobody else is in the visit yet.',
    status_ended: 'The host ended the visit.',
    status_removed: 'You were removed from the visit.',
    status_denied: 'You were not let in.',
    status_visit_ended: 'This visit has ended.',
    status_room_locked: 'The visit is locked, so nobody new can come in right now. Try again in a while or contact your care provider.',
  },
};

export const LANGUAGES = Object.freeze(Object.keys(STRINGS));

let current = pickLanguage();
const listeners = new Set();

/**
 * The language to start in: `?lang=sv|en` wins, then a browser language starting with "sv",
 * else English.
 */
export function pickLanguage(search = location.search, browserLanguage = navigator.language) {
  const asked = new URLSearchParams(search).get('lang');
  if (asked && Object.hasOwn(STRINGS, asked)) return asked;
  return String(browserLanguage || '').toLowerCase().startsWith('sv') ? 'sv' : 'en';
}

export function language() {
  return current;
}

/** The locale for dates and times: Swedish, or British English (the 24-hour clock, as in Sweden). */
export function locale() {
  return current === 'sv' ? 'sv-SE' : 'en-GB';
}

/** The text for `key` in the current language, with `{placeholders}` filled from `vars`. */
export function t(key, vars = {}) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

/** Whether `key` names a known text (used to map server error codes to status texts). */
export function has(key) {
  return Object.hasOwn(STRINGS.en, key);
}

/**
 * Fills the static texts of `root`: `data-i18n` sets the text content, `data-i18n-label` sets
 * `aria-label`. Also sets `<html lang>` and the document title.
 */
export function translatePage(root = document) {
  document.documentElement.lang = current;
  document.title = t('page_title');
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-label]')) {
    el.setAttribute('aria-label', t(el.dataset.i18nLabel));
  }
}

/** Switches language, remembers it in the address (`?lang=`, keeping the `#token=` fragment). */
export function setLanguage(lang) {
  if (!Object.hasOwn(STRINGS, lang) || lang === current) return;
  current = lang;
  const url = new URL(location.href);
  url.searchParams.set('lang', lang);
  history.replaceState(history.state, '', url);
  translatePage();
  for (const listener of listeners) listener(lang);
}

/** Calls `listener(lang)` after every language switch, so dynamic texts can be redrawn. */
export function onLanguageChange(listener) {
  listeners.add(listener);
}

/** Wires a button that toggles between the two languages. */
export function setUpLanguageSwitch(button) {
  const render = () => {
    const other = current === 'sv' ? 'en' : 'sv';
    button.textContent = t('switch_language');
    button.lang = other;
    button.setAttribute('aria-label', t('switch_language_label'));
  };
  render();
  onLanguageChange(render);
  button.addEventListener('click', () => setLanguage(current === 'sv' ? 'en' : 'sv'));
}
