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
