// Swedish and English texts of the portal pages, and choosing and switching the page language.
//
// The language is `?lang=sv|en` when the address has one (the language switch puts it there and
// every portal link carries it on), else the account's language setting once the page knows it,
// else Swedish.

/** Every text the portal pages show, by key. `{name}` placeholders are filled by `t()`. */
const STRINGS = {
  sv: {
    app_name: 'vardrum',
    switch_language: 'English',
    switch_language_label: 'Switch to English',
    skip_to_content: 'Till innehållet',
    logout: 'Logga ut',
    loading: 'Hämtar…',
    back_to_profile: 'Tillbaka till Min profil',
    error_generic: 'Något gick fel. Försök igen om en stund.',
    error_network: 'Det går inte att nå tjänsten. Kontrollera internetanslutningen och försök igen.',
    error_unavailable: 'Tjänsten är inte tillgänglig just nu. Försök igen om en stund.',
    error_forbidden: 'Du har inte behörighet att göra det här.',
    error_csrf: 'Sidan är för gammal. Ladda om sidan och försök igen.',
    error_not_logged_in: 'Du är inte inloggad längre. Logga in igen.',

    // Who is logged in, acting for a child.
    logged_in_as: 'Inloggad som {name}',
    acting_for: 'Du agerar för {name}',
    acting_for_hint: 'Det du ser och ändrar här gäller {name}, inte dig själv.',
    stop_acting: 'Sluta agera för {name}',

    // login.html
    title_login: 'Logga in',
    login_heading: 'Logga in',
    login_intro: 'Logga in för att se och ändra dina uppgifter, agera för dina barn och se vem inom vården som har öppnat dina uppgifter.',
    login_patient: 'Logga in med e-legitimation',
    login_patient_hint: 'Till exempel BankID eller Freja+.',
    login_staff_heading: 'Vårdpersonal',
    login_staff: 'Logga in som vårdpersonal',
    login_policy: 'Så behandlar vi dina personuppgifter',
    login_error_protected_identity: 'Om du har skyddade personuppgifter kan du inte använda tjänsten. Kontakta vården på annat sätt, till exempel genom att ringa 1177.',
    login_error_not_in_register: 'Inloggningen gick inte att slutföra: du finns inte i folkbokföringen som tjänsten använder. Kontakta vården på annat sätt, till exempel genom att ringa 1177.',
    login_error_not_staff: 'Du finns inte med bland vårdpersonalen som får logga in här. Kontakta din administratör.',
    login_error_login_failed: 'Inloggningen misslyckades. Försök igen.',
    login_error_unavailable: 'Inloggningen går inte att nå just nu. Försök igen om en stund.',
    login_error_heading: 'Det gick inte att logga in',

    // policy.html
    title_policy: 'Personuppgiftspolicy',
    policy_heading: 'Så behandlar vi dina personuppgifter',
    policy_meta: 'Version {version}, publicerad {published}.',
    policy_only_swedish: 'Texten finns bara på svenska.',
    policy_decision_heading: 'Ditt beslut',
    policy_decision_intro: 'Personuppgiftspolicyn har ändrats. Läs den och godkänn den för att fortsätta använda tjänsten. Om du avböjer kan du fortfarande ladda ner eller ta bort dina uppgifter.',
    policy_accept: 'Jag godkänner',
    policy_decline: 'Jag avböjer',
    policy_accepted: 'Du har godkänt den här versionen av policyn.',
    policy_declined: 'Du har avböjt den här versionen av policyn. Du kan inte använda tjänsten, men du kan ladda ner eller ta bort dina uppgifter.',
    policy_to_export: 'Ladda ner mina uppgifter',
    policy_to_delete: 'Ta bort mitt konto',
    policy_to_login: 'Till inloggningen',
    policy_to_profile: 'Till Min profil',

    // index.html (profile)
    title_profile: 'Min profil',
    profile_heading: 'Min profil',
    profile_heading_for: 'Profil för {name}',
    personnummer: 'Personnummer',
    personnummer_hint: 'Personnumret kan inte ändras.',
    given_name: 'Förnamn',
    family_name: 'Efternamn',
    mobile: 'Mobilnummer',
    mobile_hint: 'Till exempel 070-123 45 67 eller +46 70 123 45 67.',
    email: 'E-postadress',
    email_hint: 'Till exempel namn@exempel.se.',
    notices_legend: 'Aviseringar',
    notify_sms: 'Skicka aviseringar med sms',
    notify_email: 'Skicka aviseringar med e-post',
    language_setting: 'Språk',
    language_sv: 'Svenska',
    language_en: 'English (engelska)',
    save: 'Spara',
    saving: 'Sparar…',
    saved: 'Dina uppgifter är sparade.',
    form_has_errors: 'Uppgifterna sparades inte. Rätta det som är markerat och försök igen.',
    field_given_name: 'Skriv ditt förnamn (högst 100 tecken).',
    field_family_name: 'Skriv ditt efternamn (högst 100 tecken).',
    field_mobile: 'Skriv ett svenskt mobilnummer, till exempel 070-123 45 67, eller ett nummer som börjar med +.',
    field_email: 'Skriv en giltig e-postadress, till exempel namn@exempel.se.',
    field_notify_sms: 'För att få aviseringar med sms behöver du fylla i ett mobilnummer.',
    field_notify_email: 'För att få aviseringar med e-post behöver du fylla i en e-postadress.',
    field_language: 'Välj svenska eller engelska.',
    field_invalid: 'Värdet gick inte att spara.',
    more_heading: 'Mer',
    link_children: 'Agera för ett barn',
    link_export: 'Ladda ner mina uppgifter',
    link_access_log: 'Se vem inom vården som har öppnat mina uppgifter',
    link_delete: 'Ta bort mitt konto',
    link_policy: 'Personuppgiftspolicy',

    // children.html
    title_children: 'Agera för ett barn',
    children_heading: 'Agera för ett barn',
    children_intro: 'Som vårdnadshavare kan du använda tjänsten för dina barn tills de fyller {age} år. Välj vem du vill agera för.',
    children_intro_no_age: 'Som vårdnadshavare kan du använda tjänsten för dina barn. Välj vem du vill agera för.',
    children_none: 'Det finns inga barn som du kan agera för i tjänsten.',
    children_list_label: 'Dina barn',
    act_for: 'Agera för {name}',
    act_as_self: 'Agera som mig själv igen',
    currently_acting: 'Du agerar just nu för {name}.',
    child_not_found: 'Det går inte att agera för barnet i tjänsten. Det kan bero på att barnet har fyllt {age} år, att barnet inte står som ditt barn i folkbokföringen eller att barnet har skyddade personuppgifter. Kontakta vården på annat sätt, till exempel genom att ringa 1177.',
    child_forbidden: 'Det går inte att agera för barnet i tjänsten. Det kan bero på att barnet har fyllt {age} år eller att du eller barnet har skyddade personuppgifter. Kontakta vården på annat sätt, till exempel genom att ringa 1177.',

    // export.html
    title_export: 'Mina uppgifter och åtkomstlogg',
    export_heading: 'Ladda ner mina uppgifter',
    export_intro: 'Du kan ladda ner allt som tjänsten har sparat om dig: ditt konto, dina inställningar och loggen över vem inom vården som har öppnat dina uppgifter. Filen är i formatet JSON, som går att öppna i andra program.',
    export_download: 'Ladda ner mina uppgifter (JSON)',
    access_log_heading: 'Vem har öppnat mina uppgifter?',
    access_log_intro: 'Här ser du när vårdpersonal har läst eller ändrat dina uppgifter i tjänsten, och på vilken vårdenhet.',
    access_log_caption: 'Åtkomster till dina uppgifter, de senaste först',
    access_log_none: 'Ingen inom vården har öppnat dina uppgifter i tjänsten.',
    access_log_unavailable: 'Åtkomstloggen kan visas när du har tagit ställning till personuppgiftspolicyn.',
    col_time: 'Tid',
    col_care_unit: 'Vårdenhet',
    col_action: 'Vad som gjordes',
    action_read: 'Läste uppgifter',
    action_create: 'Registrerade konto',
    action_update: 'Ändrade uppgifter',
    action_delete: 'Tog bort uppgifter',
    action_export: 'Lämnade ut uppgifter',

    // delete.html
    title_delete: 'Ta bort mitt konto',
    delete_heading: 'Ta bort mitt konto',
    delete_intro: 'Om du tar bort ditt konto tas följande bort direkt:',
    delete_item_account: 'ditt användarkonto med namn, mobilnummer och e-postadress',
    delete_item_settings: 'dina inställningar för aviseringar och språk',
    delete_kept: 'Loggen över vem inom vården som har öppnat dina uppgifter sparas i 5 år, eftersom patientdatalagen kräver det. Din patientjournal påverkas inte.',
    delete_again: 'Du kan skapa ett nytt konto när som helst genom att logga in igen.',
    delete_confirm: 'Jag förstår att mitt konto tas bort och att det inte går att ångra.',
    delete_confirm_missing: 'Kryssa i rutan för att bekräfta att du vill ta bort kontot.',
    delete_button: 'Ta bort mitt konto',
    deleting: 'Tar bort…',
    delete_acting: 'Du kan inte ta bort ett konto medan du agerar för ett barn. Sluta agera för barnet först om du vill ta bort ditt eget konto.',
    deleted_heading: 'Kontot är borttaget',
    deleted_text: 'Ditt konto och dina inställningar är borttagna och du är utloggad.',
    deleted_login: 'Till inloggningen',

    // staff.html
    title_staff: 'Vårdpersonal',
    staff_heading: 'Vårdpersonal',
    staff_role_clinician: 'vårdpersonal',
    staff_role_administrator: 'administratör',
    staff_who: '{name}, {role}',
    care_unit_heading: 'Vårdenhet',
    care_unit: 'Aktiv vårdenhet',
    care_unit_hint: 'Varje gång du öppnar en patients uppgifter loggas det med den aktiva vårdenheten.',
    care_unit_change: 'Byt vårdenhet',
    care_unit_changed: 'Aktiv vårdenhet är nu {unit}.',
    lookup_heading: 'Sök patient',
    lookup_personnummer: 'Patientens personnummer',
    lookup_personnummer_hint: 'ÅÅÅÅMMDD-NNNN, 10 eller 12 siffror.',
    lookup_purpose: 'Syfte med åtkomsten',
    lookup_purpose_hint: 'Till exempel ”Videobesök”. Syftet sparas i loggen.',
    lookup_button: 'Sök',
    lookup_only_clinicians: 'Bara vårdpersonal med rollen vårdpersonal kan söka patienter.',
    lookup_not_found: 'Ingen patient med det personnumret har ett konto i tjänsten.',
    lookup_register: 'Registrera ett konto åt patienten',
    lookup_registered: 'Kontot är registrerat.',
    lookup_already_exists: 'Patienten har redan ett konto. Sök igen för att se det.',
    lookup_not_in_register: 'Personen finns inte i folkbokföringen.',
    lookup_invalid_personnummer: 'Skriv ett giltigt personnummer, till exempel 19900602-2397.',
    patient_heading: 'Patient',
    patient_name: 'Namn',
    patient_mobile: 'Mobilnummer',
    patient_email: 'E-postadress',
    patient_registered_by: 'Kontot registrerades av',
    registered_by_patient: 'patienten',
    registered_by_staff: 'vårdpersonal',
    registered_by_guardian: 'en vårdnadshavare',
    none_given: 'saknas',
    protected_identity_marker: 'Skyddade personuppgifter',

    // The booking pages (bookings.html, book.html, dropin.html, calendar.html).
    nav_label: 'Portalen',
    nav_profile: 'Min profil',
    nav_bookings: 'Mina bokningar',
    nav_book: 'Boka tid',
    nav_dropin: 'Drop-in',
    nav_staff: 'Vårdpersonal',
    nav_calendar: 'Kalender och drop-in',
    link_bookings: 'Mina bokningar',
    link_book: 'Boka tid',
    link_dropin: 'Drop-in med video',
    when_range: '{date}, {start}–{end}',
    when_range_days: '{date} {start} – {end_date} {end}',
    when_start: '{date}, {start}',
    minutes: '{n} minuter',
    kind_digital: 'Videobesök',
    kind_physical: 'Besök på mottagningen, {place}',
    kind_group: '{kind} (gruppbesök)',
    status_booked: 'Bokad',
    status_done: 'Genomförd',
    status_cancelled: 'Avbokad',
    status_no_show: 'Uteblev',
    booking_when: 'Tid',
    booking_kind: 'Typ av besök',
    booking_care_unit: 'Vårdenhet',
    booking_status: 'Status',
    booking_patient: 'Patient',
    join: 'Anslut till videobesöket',
    joining: 'Ansluter…',
    files_heading: 'Filer från videobesöket',
    files_none: 'Inga filer delades under videobesöket.',
    uploaded_by_patient: 'från patienten',
    uploaded_by_clinician: 'från vårdpersonalen',
    uploaded_by_guest: 'från en gäst',
    size_bytes: '{n} byte',
    size_kb: '{n} kB',
    size_mb: '{n} MB',
    error_join_not_open_at: 'Videobesöket har inte öppnat ännu. Du kan ansluta från {date} kl. {time}.',
    error_join_not_open: 'Videobesöket har inte öppnat ännu ({message}).',
    error_join_closed: 'Det går inte längre att ansluta till videobesöket: tiden har passerat.',
    error_booking_ended: 'Besöket är avslutat eller avbokat och kan inte ändras eller anslutas till.',
    error_not_digital: 'Besöket sker på mottagningen, inte med video.',
    error_not_your_booking: 'Bokningen hör inte till dig.',
    error_wrong_care_unit: 'Tiden hör till en annan vårdenhet.',
    error_not_clinician: 'Bara vårdpersonal med rollen vårdpersonal kan se och ändra bokningar.',
    error_slot_not_found: 'Tiden finns inte längre. Välj en annan tid.',
    error_booking_not_found: 'Bokningen finns inte.',
    error_slot_full: 'Tiden hann bli fullbokad. Välj en annan tid.',
    error_already_booked: 'Den här tiden är redan bokad.',
    error_overlapping_booking: 'Det finns redan en bokning vid samma tid.',
    error_too_late_to_change: 'Besöket har redan börjat. Kontakta vårdenheten om du behöver ändra det.',
    error_slot_has_bookings: 'Tiden har bokningar. Flytta eller avboka dem först.',
    error_not_started: 'Besöket har inte börjat ännu.',
    error_queue_not_found: 'Kön finns inte.',
    error_queue_not_open: 'Kön är inte öppen just nu.',
    error_already_queued: 'Du står redan i kön.',
    error_not_queued: 'Du står inte i kön.',
    error_queue_empty: 'Ingen väntar i kön.',
    error_conflict: 'Någon ändrade samtidigt. Ingenting ändrades, försök igen.',
    error_no_account: 'Patienten har inget konto i tjänsten. Registrera ett konto på sidan Vårdpersonal först.',
    error_not_found: 'Det som efterfrågades finns inte.',
    error_missing_field: 'Fyll i {field}.',
    error_invalid_field: 'Kontrollera {field}: värdet går inte att använda.',
    error_invalid_type: 'Kontrollera {field}.',
    error_invalid_local_time: 'Skriv datum och tid som ÅÅÅÅ-MM-DD TT:MM ({field}).',
    error_nonexistent_local_time: 'Den tiden finns inte: klockan ställs fram en timme när sommartiden börjar ({field}).',
    error_time_out_of_range: 'Välj ett datum mellan år 2000 och 2200 ({field}).',
    error_slot_in_past: 'Tiden har redan börjat eller passerat. Välj en senare tid.',
    error_not_a_clinician_of_unit: 'Någon av dem du angav arbetar inte som vårdpersonal på den här vårdenheten.',
    field_name_starts: 'starttiden',
    field_name_ends: 'sluttiden',
    field_name_from: 'första dagen',
    field_name_to: 'sista dagen',
    field_name_place: 'platsen',
    field_name_capacity: 'antalet platser',
    field_name_clinicians: 'vårdpersonalen',
    field_name_opens: 'när kön öppnar',
    field_name_closes: 'när kön stänger',
    field_name_visit_minutes: 'besökets längd',
    field_name_care_unit: 'vårdenheten',
    field_name_personnummer: 'personnumret',
    field_name_slot_id: 'tiden',

    // bookings.html
    title_bookings: 'Mina bokningar',
    bookings_heading: 'Mina bokningar',
    bookings_heading_for: 'Bokningar för {name}',
    bookings_upcoming: 'Kommande besök',
    bookings_past: 'Tidigare och avbokade besök',
    bookings_none_upcoming: 'Det finns inga bokade besök.',
    bookings_none_past: 'Det finns inga tidigare besök.',
    bookings_join_hint: 'Till ett videobesök ansluter du med knappen Anslut på bokningen, från en kort stund före starttiden. Ingen länk skickas till dig.',
    book_a_time: 'Boka en tid',
    reschedule: 'Boka om',
    reschedule_choose: 'Välj en ny tid',
    reschedule_confirm: 'Boka om till vald tid',
    reschedule_abort: 'Behåll tiden',
    reschedule_none: 'Vårdenheten har inga andra lediga tider de närmaste två månaderna.',
    rescheduled: 'Besöket är ombokat till {when}.',
    cancel_booking: 'Avboka',
    cancel_question: 'Vill du avboka besöket {when}?',
    cancel_yes: 'Ja, avboka',
    cancel_no: 'Nej, behåll tiden',
    cancelled_booking: 'Besöket {when} är avbokat.',

    // book.html
    title_book: 'Boka tid',
    book_heading: 'Boka tid',
    book_heading_for: 'Boka tid för {name}',
    book_intro: 'Välj vårdenhet och från vilken dag du vill se lediga tider.',
    book_care_unit: 'Vårdenhet',
    book_care_unit_hint: 'Skriv vårdenhetens namn, till exempel Hälsocentral Testvik.',
    book_care_unit_missing: 'Skriv namnet på vårdenheten.',
    book_from_date: 'Från och med dag',
    book_from_date_invalid: 'Välj en dag, till exempel i dag.',
    book_kind_filter: 'Typ av besök',
    book_kind_any: 'Alla besök',
    book_kind_digital: 'Videobesök',
    book_kind_physical: 'Besök på mottagningen',
    book_search: 'Visa lediga tider',
    book_found: '{n} lediga tider hittades.',
    book_results_heading: 'Lediga tider',
    book_none: 'Det finns inga lediga tider de här dagarna. Välj en senare dag eller en annan vårdenhet.',
    book_this: 'Boka den här tiden',
    slot_places_left: 'Lediga platser',
    book_confirmed_heading: 'Tiden är bokad',
    book_confirmed_digital: 'På dagen för besöket ansluter du från Mina bokningar, med knappen Anslut.',
    book_confirmed_physical: 'Kom till mottagningen en stund före tiden.',
    book_to_bookings: 'Till Mina bokningar',

    // dropin.html
    title_dropin: 'Drop-in med video',
    dropin_heading: 'Drop-in med video',
    dropin_heading_for: 'Drop-in med video för {name}',
    dropin_intro: 'När en vårdenhet har öppen drop-in-mottagning kan du ställa dig i kön utan att boka tid. Du ser din plats i kön, och när det är din tur ansluter du till videobesöket härifrån.',
    dropin_search: 'Visa öppna köer',
    dropin_found: '{n} öppna köer hittades.',
    dropin_queues_heading: 'Öppna köer',
    dropin_none: 'Vårdenheten har ingen öppen drop-in-mottagning just nu.',
    dropin_queue_title: '{unit}, öppen {opens}–{closes}',
    dropin_waiting: 'Väntar i kön',
    dropin_visit_length: 'Besökets längd',
    dropin_join_queue: 'Ställ dig i kön',
    dropin_place_heading: 'Din plats i kön',
    dropin_place: 'Du är nummer {n} i kön.',
    dropin_place_now: 'Du är nu nummer {n} i kön.',
    dropin_place_hint: 'Stanna kvar på sidan. Den visar när det är din tur.',
    dropin_your_turn: 'Det är din tur! Anslut till videobesöket nu.',
    dropin_your_turn_hint: 'Vårdpersonalen väntar på dig i videobesöket.',
    dropin_left: 'Du har lämnat kön.',
    dropin_leave: 'Lämna kön',

    // calendar.html (staff)
    title_calendar: 'Kalender och drop-in',
    calendar_heading: 'Kalender och drop-in',
    calendar_unit: 'Aktiv vårdenhet: {unit}. Du byter vårdenhet på sidan Vårdpersonal.',
    calendar_section: 'Vårdenhetens kalender',
    calendar_from: 'Från och med dag',
    calendar_days: 'Antal dagar',
    calendar_days_1: '1 dag',
    calendar_days_7: '7 dagar',
    calendar_days_14: '14 dagar',
    calendar_days_31: '31 dagar',
    calendar_show: 'Visa',
    calendar_shown: 'Kalendern visar {n} tider.',
    calendar_none: 'Det finns inga tider de här dagarna.',
    clinician_you: 'du ({name})',
    clinician_id: 'vårdpersonal med id {id}',
    slot_places: 'Bokade platser',
    slot_places_value: '{booked} av {capacity}',
    slot_clinicians: 'Vårdpersonal',
    slot_origin: 'Ursprung',
    slot_origin_dropin: 'Drop-in',
    slot_bookings_label: 'Bokningar {time}',
    book_in_personnummer: 'Boka in patient (personnummer)',
    book_in: 'Boka in',
    staff_booked_in: '{name} är inbokad.',
    withdraw_slot: 'Ta bort tiden',
    slot_withdrawn: 'Tiden {time} är borttagen.',
    move: 'Flytta',
    move_to: 'Flytta till',
    move_confirm: 'Flytta bokningen',
    move_none: 'Det finns ingen annan ledig tid i kalendern som visas.',
    staff_moved: 'Bokningen för {name} är flyttad.',
    staff_cancelled: 'Bokningen för {name} är avbokad.',
    mark_done: 'Markera som genomfört',
    mark_no_show: 'Markera som uteblivet',
    staff_marked_done: 'Besöket med {name} är markerat som genomfört.',
    staff_marked_no_show: 'Besöket med {name} är markerat som uteblivet.',
    show_files: 'Visa filer',
    publish_heading: 'Publicera en tid',
    publish_kind: 'Typ av besök',
    publish_kind_physical: 'Besök på mottagningen',
    publish_place: 'Plats',
    publish_place_hint: 'Till exempel mottagningens adress och rum.',
    publish_mode: 'Enskilt besök eller grupp',
    publish_mode_single: 'Enskilt besök (en patient)',
    publish_mode_group: 'Gruppbesök',
    publish_capacity: 'Antal platser',
    publish_capacity_hint: 'Mellan 2 och 30.',
    publish_starts: 'Starttid (svensk tid)',
    publish_ends: 'Sluttid (svensk tid)',
    publish_clinicians: 'Vårdpersonal',
    publish_self: 'Jag ({name})',
    publish_others: 'Fler i vårdpersonalen (id, med kommatecken emellan)',
    publish_button: 'Publicera tiden',
    slot_published: 'Tiden {time} är publicerad.',
    staff_dropin_heading: 'Drop-in med video',
    queues_open_heading: 'Öppna köer',
    queues_none: 'Vårdenheten har ingen öppen kö just nu.',
    queue_title: 'Kö {opens}–{closes}',
    queue_state: 'Kön',
    queue_open_state: 'öppen',
    queue_closed_state: 'stängd för nya patienter',
    take_next: 'Ta nästa patient',
    taken_heading: 'Nästa patient',
    taken_status: '{name} är nästa patient. Anslut till videobesöket.',
    close_queue: 'Stäng kön',
    queue_closed_status: 'Kön är stängd för nya patienter. De som väntar kan fortfarande tas.',
    open_queue_heading: 'Öppna en kö',
    queue_opens: 'Öppnar (svensk tid)',
    queue_closes: 'Stänger (svensk tid)',
    queue_minutes: 'Besökets längd i minuter',
    open_queue_button: 'Öppna kön',
    queue_opened: 'Kön är öppnad.',
  },
  en: {
    app_name: 'vardrum',
    switch_language: 'Svenska',
    switch_language_label: 'Byt till svenska',
    skip_to_content: 'Skip to content',
    logout: 'Log out',
    loading: 'Loading…',
    back_to_profile: 'Back to My profile',
    error_generic: 'Something went wrong. Please try again in a while.',
    error_network: 'The service cannot be reached. Check your internet connection and try again.',
    error_unavailable: 'The service is not available right now. Please try again in a while.',
    error_forbidden: 'You are not allowed to do this.',
    error_csrf: 'This page is out of date. Reload the page and try again.',
    error_not_logged_in: 'You are no longer logged in. Please log in again.',

    logged_in_as: 'Logged in as {name}',
    acting_for: 'You are acting for {name}',
    acting_for_hint: 'What you see and change here is about {name}, not yourself.',
    stop_acting: 'Stop acting for {name}',

    title_login: 'Log in',
    login_heading: 'Log in',
    login_intro: 'Log in to see and change your details, act for your children and see who in healthcare has opened your details.',
    login_patient: 'Log in with e-identification',
    login_patient_hint: 'For example BankID or Freja+.',
    login_staff_heading: 'Care staff',
    login_staff: 'Log in as care staff',
    login_policy: 'How we process your personal data',
    login_error_protected_identity: 'If your personal details are protected, you cannot use this service. Contact healthcare in another way, for example by calling 1177.',
    login_error_not_in_register: 'The login could not be completed: you are not in the population register the service uses. Contact healthcare in another way, for example by calling 1177.',
    login_error_not_staff: 'You are not among the care staff who may log in here. Contact your administrator.',
    login_error_login_failed: 'The login failed. Please try again.',
    login_error_unavailable: 'Logging in is not possible right now. Please try again in a while.',
    login_error_heading: 'You could not be logged in',

    title_policy: 'Privacy policy',
    policy_heading: 'How we process your personal data',
    policy_meta: 'Version {version}, published {published}.',
    policy_only_swedish: 'This text is only available in Swedish.',
    policy_decision_heading: 'Your decision',
    policy_decision_intro: 'The privacy policy has changed. Read it and accept it to continue using the service. If you decline, you can still download or delete your data.',
    policy_accept: 'I accept',
    policy_decline: 'I decline',
    policy_accepted: 'You have accepted this version of the policy.',
    policy_declined: 'You have declined this version of the policy. You cannot use the service, but you can download or delete your data.',
    policy_to_export: 'Download my data',
    policy_to_delete: 'Delete my account',
    policy_to_login: 'Go to the login page',
    policy_to_profile: 'Go to My profile',

    title_profile: 'My profile',
    profile_heading: 'My profile',
    profile_heading_for: 'Profile of {name}',
    personnummer: 'Personal identity number',
    personnummer_hint: 'The personal identity number cannot be changed.',
    given_name: 'Given name',
    family_name: 'Family name',
    mobile: 'Mobile number',
    mobile_hint: 'For example 070-123 45 67 or +46 70 123 45 67.',
    email: 'Email address',
    email_hint: 'For example name@example.com.',
    notices_legend: 'Notifications',
    notify_sms: 'Send notifications by text message',
    notify_email: 'Send notifications by email',
    language_setting: 'Language',
    language_sv: 'Svenska (Swedish)',
    language_en: 'English',
    save: 'Save',
    saving: 'Saving…',
    saved: 'Your details have been saved.',
    form_has_errors: 'Your details were not saved. Correct what is marked and try again.',
    field_given_name: 'Enter your given name (at most 100 characters).',
    field_family_name: 'Enter your family name (at most 100 characters).',
    field_mobile: 'Enter a Swedish mobile number, for example 070-123 45 67, or a number starting with +.',
    field_email: 'Enter a valid email address, for example name@example.com.',
    field_notify_sms: 'To get notifications by text message, fill in a mobile number.',
    field_notify_email: 'To get notifications by email, fill in an email address.',
    field_language: 'Choose Swedish or English.',
    field_invalid: 'This value could not be saved.',
    more_heading: 'More',
    link_children: 'Act for a child',
    link_export: 'Download my data',
    link_access_log: 'See who in healthcare has opened my details',
    link_delete: 'Delete my account',
    link_policy: 'Privacy policy',

    title_children: 'Act for a child',
    children_heading: 'Act for a child',
    children_intro: 'As a guardian you can use the service for your children until they turn {age}. Choose who you want to act for.',
    children_intro_no_age: 'As a guardian you can use the service for your children. Choose who you want to act for.',
    children_none: 'There are no children you can act for in the service.',
    children_list_label: 'Your children',
    act_for: 'Act for {name}',
    act_as_self: 'Act as myself again',
    currently_acting: 'You are currently acting for {name}.',
    child_not_found: 'You cannot act for this child in the service. The child may have turned {age}, the population register may not list the child as yours, or the child may have protected personal details. Contact healthcare in another way, for example by calling 1177.',
    child_forbidden: 'You cannot act for this child in the service. The child may have turned {age}, or you or the child may have protected personal details. Contact healthcare in another way, for example by calling 1177.',

    title_export: 'My data and access log',
    export_heading: 'Download my data',
    export_intro: 'You can download everything the service holds about you: your account, your settings and the log of who in healthcare has opened your details. The file is in the JSON format, which other programs can open.',
    export_download: 'Download my data (JSON)',
    access_log_heading: 'Who has opened my details?',
    access_log_intro: 'Here you see when care staff read or changed your details in the service, and at which care unit.',
    access_log_caption: 'Accesses to your details, newest first',
    access_log_none: 'Nobody in healthcare has opened your details in the service.',
    access_log_unavailable: 'The access log can be shown once you have made a decision about the privacy policy.',
    col_time: 'Time',
    col_care_unit: 'Care unit',
    col_action: 'What was done',
    action_read: 'Read details',
    action_create: 'Registered account',
    action_update: 'Changed details',
    action_delete: 'Deleted details',
    action_export: 'Disclosed details',

    title_delete: 'Delete my account',
    delete_heading: 'Delete my account',
    delete_intro: 'If you delete your account, the following is removed at once:',
    delete_item_account: 'your user account with name, mobile number and email address',
    delete_item_settings: 'your settings for notifications and language',
    delete_kept: 'The log of who in healthcare has opened your details is kept for 5 years, because the Swedish Patient Data Act requires it. Your medical records are not affected.',
    delete_again: 'You can create a new account at any time by logging in again.',
    delete_confirm: 'I understand that my account will be deleted and that this cannot be undone.',
    delete_confirm_missing: 'Tick the box to confirm that you want to delete the account.',
    delete_button: 'Delete my account',
    deleting: 'Deleting…',
    delete_acting: 'You cannot delete an account while acting for a child. Stop acting for the child first if you want to delete your own account.',
    deleted_heading: 'The account has been deleted',
    deleted_text: 'Your account and your settings have been deleted and you are logged out.',
    deleted_login: 'Go to the login page',

    title_staff: 'Care staff',
    staff_heading: 'Care staff',
    staff_role_clinician: 'clinician',
    staff_role_administrator: 'administrator',
    staff_who: '{name}, {role}',
    care_unit_heading: 'Care unit',
    care_unit: 'Active care unit',
    care_unit_hint: 'Every time you open a patient\'s details, it is logged with the active care unit.',
    care_unit_change: 'Change care unit',
    care_unit_changed: 'The active care unit is now {unit}.',
    lookup_heading: 'Find a patient',
    lookup_personnummer: 'Patient\'s personal identity number',
    lookup_personnummer_hint: 'YYYYMMDD-NNNN, 10 or 12 digits.',
    lookup_purpose: 'Purpose of the access',
    lookup_purpose_hint: 'For example "Video visit". The purpose is logged.',
    lookup_button: 'Find',
    lookup_only_clinicians: 'Only staff with the clinician role can look up patients.',
    lookup_not_found: 'No patient with that personal identity number has an account in the service.',
    lookup_register: 'Register an account for the patient',
    lookup_registered: 'The account has been registered.',
    lookup_already_exists: 'The patient already has an account. Search again to see it.',
    lookup_not_in_register: 'The person is not in the population register.',
    lookup_invalid_personnummer: 'Enter a valid personal identity number, for example 19900602-2397.',
    patient_heading: 'Patient',
    patient_name: 'Name',
    patient_mobile: 'Mobile number',
    patient_email: 'Email address',
    patient_registered_by: 'Account registered by',
    registered_by_patient: 'the patient',
    registered_by_staff: 'care staff',
    registered_by_guardian: 'a guardian',
    none_given: 'none',
    protected_identity_marker: 'Protected personal details',

    nav_label: 'The portal',
    nav_profile: 'My profile',
    nav_bookings: 'My bookings',
    nav_book: 'Book a time',
    nav_dropin: 'Drop-in',
    nav_staff: 'Care staff',
    nav_calendar: 'Calendar and drop-in',
    link_bookings: 'My bookings',
    link_book: 'Book a time',
    link_dropin: 'Video drop-in',
    when_range: '{date}, {start}–{end}',
    when_range_days: '{date} {start} – {end_date} {end}',
    when_start: '{date}, {start}',
    minutes: '{n} minutes',
    kind_digital: 'Video visit',
    kind_physical: 'Visit at the clinic, {place}',
    kind_group: '{kind} (group visit)',
    status_booked: 'Booked',
    status_done: 'Done',
    status_cancelled: 'Cancelled',
    status_no_show: 'Did not attend',
    booking_when: 'Time',
    booking_kind: 'Kind of visit',
    booking_care_unit: 'Care unit',
    booking_status: 'Status',
    booking_patient: 'Patient',
    join: 'Join the video visit',
    joining: 'Joining…',
    files_heading: 'Files from the video visit',
    files_none: 'No files were shared in the video visit.',
    uploaded_by_patient: 'from the patient',
    uploaded_by_clinician: 'from the care staff',
    uploaded_by_guest: 'from a guest',
    size_bytes: '{n} bytes',
    size_kb: '{n} kB',
    size_mb: '{n} MB',
    error_join_not_open_at: 'The video visit has not opened yet. You can join from {time} on {date}.',
    error_join_not_open: 'The video visit has not opened yet ({message}).',
    error_join_closed: 'The video visit can no longer be joined: its time has passed.',
    error_booking_ended: 'The visit is over or cancelled and cannot be changed or joined.',
    error_not_digital: 'This visit is at the clinic, not by video.',
    error_not_your_booking: 'This booking is not yours.',
    error_wrong_care_unit: 'That time belongs to another care unit.',
    error_not_clinician: 'Only staff with the clinician role can see and change bookings.',
    error_slot_not_found: 'That time is no longer there. Choose another time.',
    error_booking_not_found: 'There is no such booking.',
    error_slot_full: 'That time has just been fully booked. Choose another time.',
    error_already_booked: 'This time is already booked.',
    error_overlapping_booking: 'There is already a booking at the same time.',
    error_too_late_to_change: 'The visit has already started. Contact the care unit if you need to change it.',
    error_slot_has_bookings: 'The time has bookings. Move or cancel them first.',
    error_not_started: 'The visit has not started yet.',
    error_queue_not_found: 'There is no such queue.',
    error_queue_not_open: 'The queue is not open right now.',
    error_already_queued: 'You are already in the queue.',
    error_not_queued: 'You are not in the queue.',
    error_queue_empty: 'Nobody is waiting in the queue.',
    error_conflict: 'Someone changed this at the same moment. Nothing was changed; please try again.',
    error_no_account: 'The patient has no account in the service. Register one on the Care staff page first.',
    error_not_found: 'What was asked for does not exist.',
    error_missing_field: 'Fill in {field}.',
    error_invalid_field: 'Check {field}: the value cannot be used.',
    error_invalid_type: 'Check {field}.',
    error_invalid_local_time: 'Enter the date and time as YYYY-MM-DD HH:MM ({field}).',
    error_nonexistent_local_time: 'That time does not exist: clocks go forward an hour when summer time starts ({field}).',
    error_time_out_of_range: 'Choose a date between the years 2000 and 2200 ({field}).',
    error_slot_in_past: 'That time has already started or passed. Choose a later time.',
    error_not_a_clinician_of_unit: 'Someone you named does not work as a clinician at this care unit.',
    field_name_starts: 'the start time',
    field_name_ends: 'the end time',
    field_name_from: 'the first day',
    field_name_to: 'the last day',
    field_name_place: 'the place',
    field_name_capacity: 'the number of places',
    field_name_clinicians: 'the clinicians',
    field_name_opens: 'when the queue opens',
    field_name_closes: 'when the queue closes',
    field_name_visit_minutes: 'the length of the visit',
    field_name_care_unit: 'the care unit',
    field_name_personnummer: 'the personal identity number',
    field_name_slot_id: 'the time',

    title_bookings: 'My bookings',
    bookings_heading: 'My bookings',
    bookings_heading_for: 'Bookings of {name}',
    bookings_upcoming: 'Upcoming visits',
    bookings_past: 'Past and cancelled visits',
    bookings_none_upcoming: 'There are no booked visits.',
    bookings_none_past: 'There are no past visits.',
    bookings_join_hint: 'You join a video visit with the Join button on the booking, from a short while before it starts. No link is sent to you.',
    book_a_time: 'Book a time',
    reschedule: 'Reschedule',
    reschedule_choose: 'Choose a new time',
    reschedule_confirm: 'Move to the chosen time',
    reschedule_abort: 'Keep the time',
    reschedule_none: 'The care unit has no other free times in the next two months.',
    rescheduled: 'The visit has been moved to {when}.',
    cancel_booking: 'Cancel',
    cancel_question: 'Do you want to cancel the visit {when}?',
    cancel_yes: 'Yes, cancel it',
    cancel_no: 'No, keep the time',
    cancelled_booking: 'The visit {when} has been cancelled.',

    title_book: 'Book a time',
    book_heading: 'Book a time',
    book_heading_for: 'Book a time for {name}',
    book_intro: 'Choose a care unit and the day from which you want to see free times.',
    book_care_unit: 'Care unit',
    book_care_unit_hint: 'Type the care unit\'s name, for example Hälsocentral Testvik.',
    book_care_unit_missing: 'Type the name of the care unit.',
    book_from_date: 'From day',
    book_from_date_invalid: 'Choose a day, for example today.',
    book_kind_filter: 'Kind of visit',
    book_kind_any: 'All visits',
    book_kind_digital: 'Video visits',
    book_kind_physical: 'Visits at the clinic',
    book_search: 'Show free times',
    book_found: '{n} free times found.',
    book_results_heading: 'Free times',
    book_none: 'There are no free times on these days. Choose a later day or another care unit.',
    book_this: 'Book this time',
    slot_places_left: 'Places left',
    book_confirmed_heading: 'The time is booked',
    book_confirmed_digital: 'On the day of the visit, you join from My bookings with the Join button.',
    book_confirmed_physical: 'Come to the clinic a little before the time.',
    book_to_bookings: 'Go to My bookings',

    title_dropin: 'Video drop-in',
    dropin_heading: 'Video drop-in',
    dropin_heading_for: 'Video drop-in for {name}',
    dropin_intro: 'When a care unit has an open drop-in clinic, you can join the queue without booking a time. You see your place in the queue, and when it is your turn you join the video visit from here.',
    dropin_search: 'Show open queues',
    dropin_found: '{n} open queues found.',
    dropin_queues_heading: 'Open queues',
    dropin_none: 'The care unit has no open drop-in clinic right now.',
    dropin_queue_title: '{unit}, open {opens}–{closes}',
    dropin_waiting: 'Waiting in the queue',
    dropin_visit_length: 'Length of the visit',
    dropin_join_queue: 'Join the queue',
    dropin_place_heading: 'Your place in the queue',
    dropin_place: 'You are number {n} in the queue.',
    dropin_place_now: 'You are now number {n} in the queue.',
    dropin_place_hint: 'Stay on this page. It shows when it is your turn.',
    dropin_your_turn: 'It is your turn! Join the video visit now.',
    dropin_your_turn_hint: 'The care staff are waiting for you in the video visit.',
    dropin_left: 'You have left the queue.',
    dropin_leave: 'Leave the queue',

    title_calendar: 'Calendar and drop-in',
    calendar_heading: 'Calendar and drop-in',
    calendar_unit: 'Active care unit: {unit}. You change the care unit on the Care staff page.',
    calendar_section: 'The care unit\'s calendar',
    calendar_from: 'From day',
    calendar_days: 'Number of days',
    calendar_days_1: '1 day',
    calendar_days_7: '7 days',
    calendar_days_14: '14 days',
    calendar_days_31: '31 days',
    calendar_show: 'Show',
    calendar_shown: 'The calendar shows {n} times.',
    calendar_none: 'There are no times on these days.',
    clinician_you: 'you ({name})',
    clinician_id: 'staff member with id {id}',
    slot_places: 'Places booked',
    slot_places_value: '{booked} of {capacity}',
    slot_clinicians: 'Clinicians',
    slot_origin: 'Origin',
    slot_origin_dropin: 'Drop-in',
    slot_bookings_label: 'Bookings {time}',
    book_in_personnummer: 'Book a patient in (personal identity number)',
    book_in: 'Book in',
    staff_booked_in: '{name} is booked in.',
    withdraw_slot: 'Withdraw the time',
    slot_withdrawn: 'The time {time} has been withdrawn.',
    move: 'Move',
    move_to: 'Move to',
    move_confirm: 'Move the booking',
    move_none: 'There is no other free time in the calendar shown.',
    staff_moved: 'The booking of {name} has been moved.',
    staff_cancelled: 'The booking of {name} has been cancelled.',
    mark_done: 'Mark as done',
    mark_no_show: 'Mark as did not attend',
    staff_marked_done: 'The visit with {name} is marked as done.',
    staff_marked_no_show: 'The visit with {name} is marked as did not attend.',
    show_files: 'Show files',
    publish_heading: 'Publish a time',
    publish_kind: 'Kind of visit',
    publish_kind_physical: 'Visit at the clinic',
    publish_place: 'Place',
    publish_place_hint: 'For example the clinic\'s address and room.',
    publish_mode: 'Single visit or group',
    publish_mode_single: 'Single visit (one patient)',
    publish_mode_group: 'Group visit',
    publish_capacity: 'Number of places',
    publish_capacity_hint: 'Between 2 and 30.',
    publish_starts: 'Start time (Swedish time)',
    publish_ends: 'End time (Swedish time)',
    publish_clinicians: 'Clinicians',
    publish_self: 'Me ({name})',
    publish_others: 'More clinicians (ids, separated by commas)',
    publish_button: 'Publish the time',
    slot_published: 'The time {time} has been published.',
    staff_dropin_heading: 'Video drop-in',
    queues_open_heading: 'Open queues',
    queues_none: 'The care unit has no open queue right now.',
    queue_title: 'Queue {opens}–{closes}',
    queue_state: 'The queue',
    queue_open_state: 'open',
    queue_closed_state: 'closed to new patients',
    take_next: 'Take the next patient',
    taken_heading: 'Next patient',
    taken_status: '{name} is the next patient. Join the video visit.',
    close_queue: 'Close the queue',
    queue_closed_status: 'The queue is closed to new patients. Those waiting can still be taken.',
    open_queue_heading: 'Open a queue',
    queue_opens: 'Opens (Swedish time)',
    queue_closes: 'Closes (Swedish time)',
    queue_minutes: 'Length of a visit in minutes',
    open_queue_button: 'Open the queue',
    queue_opened: 'The queue is open.',
  },
};

export const LANGUAGES = Object.freeze(Object.keys(STRINGS));

const isLanguage = (lang) => typeof lang === 'string' && Object.hasOwn(STRINGS, lang);

/** `?lang=` of the address when it names a known language, else null. */
export function languageFromAddress(search = location.search) {
  const asked = new URLSearchParams(search).get('lang');
  return isLanguage(asked) ? asked : null;
}

let current = languageFromAddress() ?? 'sv';
/** Whether the language was chosen explicitly (address or switch): then it is carried on links. */
let explicit = languageFromAddress() !== null;
let titleKey = null;
const listeners = new Set();

export function language() {
  return current;
}

/** The text for `key` in the current language, with `{placeholders}` filled from `vars`. */
export function t(key, vars = {}) {
  const text = STRINGS[current][key] ?? STRINGS.sv[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

export function has(key) {
  return Object.hasOwn(STRINGS.sv, key);
}

/**
 * `href` (relative to the current page) with `?lang=` added when the language was chosen
 * explicitly, so the choice survives moving between portal pages.
 */
export function portalHref(href) {
  const url = new URL(href, location.href);
  if (explicit && url.origin === location.origin && url.pathname.startsWith('/portal/')) {
    url.searchParams.set('lang', current);
  }
  return url.origin === location.origin ? url.pathname + url.search + url.hash : url.href;
}

/** Navigates to a portal page, keeping an explicit language choice. */
export function goTo(href, { replace = false } = {}) {
  const target = portalHref(href);
  if (replace) location.replace(target);
  else location.assign(target);
}

/** Sets the page title's text key (`title_*`); the title is "text – vardrum". */
export function setTitleKey(key) {
  titleKey = key;
  document.title = `${t(key)} – ${t('app_name')}`;
}

/**
 * Fills the static texts of the page: `data-i18n` sets the text content, `data-i18n-label`
 * sets `aria-label`. Also sets `<html lang>`, the title and the language of portal links.
 */
export function translatePage(root = document) {
  document.documentElement.lang = current;
  if (titleKey) document.title = `${t(titleKey)} – ${t('app_name')}`;
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-label]')) {
    el.setAttribute('aria-label', t(el.dataset.i18nLabel));
  }
  for (const a of root.querySelectorAll('a[href]')) {
    const url = new URL(a.getAttribute('href'), location.href);
    if (url.origin === location.origin && url.pathname.startsWith('/portal/')) a.href = portalHref(url.href);
  }
}

function switchTo(lang) {
  current = lang;
  translatePage();
  for (const listener of listeners) listener(lang);
}

/** Switches language by choice: remembers it in the address (`?lang=`) and on portal links. */
export function setLanguage(lang) {
  if (!isLanguage(lang)) return;
  explicit = true;
  const url = new URL(location.href);
  url.searchParams.set('lang', lang);
  history.replaceState(history.state, '', url);
  if (lang !== current) switchTo(lang);
  else translatePage();
}

/**
 * Uses the account's language setting, unless the address chose a language: the person's
 * setting is the default, an explicit choice wins.
 */
export function adoptAccountLanguage(lang) {
  if (explicit || !isLanguage(lang) || lang === current) return;
  switchTo(lang);
}

/** Calls `listener(lang)` after every language switch, so dynamic texts can be redrawn. */
export function onLanguageChange(listener) {
  listeners.add(listener);
}

/** Wires the button that toggles between the two languages. */
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

/** A 12-digit identity number as `YYYYMMDD-NNNN`; anything else unchanged. */
export function formatPersonnummer(pnr) {
  const digits = String(pnr ?? '');
  return /^\d{12}$/.test(digits) ? `${digits.slice(0, 8)}-${digits.slice(8)}` : digits;
}

/** Unix seconds as a local date and time in the current language. */
export function formatTime(unixSeconds) {
  const locale = current === 'sv' ? 'sv-SE' : 'en-GB';
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' })
    .format(new Date(unixSeconds * 1000));
}

/** A `YYYY-MM-DD` date in the current language. */
export function formatDate(isoDate) {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(isoDate ?? ''));
  if (!match) return String(isoDate ?? '');
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  const locale = current === 'sv' ? 'sv-SE' : 'en-GB';
  return new Intl.DateTimeFormat(locale, { dateStyle: 'long', timeZone: 'UTC' }).format(date);
}
