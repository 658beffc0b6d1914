# Default message texts, English. Discreet by design: no agency, programme,
# probation, drugs or tests are named. The time comes first, one action per
# message. Keep emoji and typographic quotes out: they double the SMS price.

weekday-1 = Monday
weekday-2 = Tuesday
weekday-3 = Wednesday
weekday-4 = Thursday
weekday-5 = Friday
weekday-6 = Saturday
weekday-7 = Sunday
month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December

when-today = today at { $time }
when-tomorrow = tomorrow, { $weekday } { $day } { $month } at { $time }
when-date = { $weekday } { $day } { $month } at { $time }

reminder = Hi { $name }! Reminder: you have an appointment { $when }.
reminder-reply = Hi { $name }! Reminder: you have an appointment { $when }. Reply COMING or CANNOT.
details-place = Place: { $place }.
details-with = You will meet { $person }.

summons = Hi { $name }! You need to come in today within { $within }, by { $deadline } at the latest. Reply COMING or CANNOT.
within-hours = { $n ->
    [one] 1 hour
   *[other] { $n } hours
}
within-minutes = { $n } minutes

## Answers to the participant's own messages. Short, warm, one action.
receipt-coming = Thank you! We have noted that you are coming { $when }.
receipt-coming-now = Thank you! We have noted that you are coming.
receipt-coming-late = Thank you! We have noted that you are coming { $when } but will be a little late.
receipt-coming-late-min = Thank you! We have noted that you are coming { $when }, about { $min } minutes late.
receipt-cannot = Thank you for letting us know. Your contact person will get in touch about a new time.
receipt-which = Is it about { $first } (reply 1) or { $second } (reply 2)?
receipt-too-late = Thank you for your reply. The appointment has already started, so your contact person will get in touch.
receipt-not-understood = Thank you, we have your message. Your contact person will read it.
receipt-stop = You will get no more reminders here. Reply START if you want them again.
receipt-start = You will get reminders here again. Reply STOP to end them.
receipt-help = You get reminders of your appointments. Reply COMING or CANNOT. MY TIMES shows your times, MY DATA what we store, STOP ends reminders, LANGUAGE SV switches to Swedish.
receipt-my-times = Your coming appointments: { $list }.
receipt-my-times-none = You have no booked appointments right now.
receipt-my-data = We store: your first name { $name }, number { $phone }, language English, channels { $channels }, consent { $consent }, your appointments, reminders and replies. Want something deleted? Tell your contact person.
receipt-language = You will now get messages in English.
no-consent = none
plan-question = Good! When do you need to leave home to be there on time? Reply with a time, e.g. 08:15.
plan-confirm = We will remind you at { $time } to leave home.
plan-leave = Hi { $name }! Time to leave home now, your appointment is at { $time }.
notice-new-contact = Hi { $name }! From now on { $contact } is your contact person.

## Telegram: buttons and the bot's answers in the participant's chat.
tg-button-coming = Coming ✅
tg-button-cannot = Can't come ❌
tg-choice-coming = Coming
tg-choice-cannot = Can't come
tg-answered = You answered: { $choice }
tg-thanks = Thanks!
tg-already-answered = You have already answered. Write to us if something has changed.
tg-button-expired = This button is no longer valid.
tg-welcome = Hi { $name }! This chat is now linked. You will get reminders of your appointments here. Answer with the buttons, or write COMING or CANNOT. Write HELP for more. Send /stop if you no longer want messages here.
tg-already-linked = This chat is already linked. Write HELP for more.
tg-unlinked = The chat is unlinked. You will get no more messages here.
tg-not-text = I can only read text. Write COMING, CANNOT or HELP.
tg-edited = Edited messages are not read. Send a new message instead.

## Telegram: answers to chats that are not linked (bilingual, language unknown).
tg-unknown-chat = Hej! Den här chatten är inte kopplad. Be din kontaktperson om en länk eller en kod och skicka /start följt av koden. / Hi! This chat is not linked. Ask your contact person for a link or a code, then send /start followed by the code.
tg-link-wrong = Koden fungerar inte. Den kan ha gått ut eller redan använts. Be din kontaktperson om en ny. / The code does not work. It may have expired or been used. Ask your contact person for a new one.
tg-link-slowed = För många försök. Försök igen efter { $time }. / Too many tries. Try again after { $time }.

## Telegram: the lots's own chat.
staff-welcome = Hi { $name }! You will now get alerts here: can't come, no reply, messages that did not get through and messages the bot did not understand. /today shows today's appointments. /stop unlinks the chat.
staff-help = /today shows today's appointments of your participants. /stop unlinks the chat.
staff-alert-cannot = Can't come: { $name } (#{ $id }), { $when }. Reason: { $reason }
staff-alert-no-reason = none given
staff-alert-task = New task: { $link }
staff-alert-task-nolink = New task. Open paminn to see it.
staff-alert-no-reply = No reply: { $name } (#{ $id }) has not answered for { $when }.
staff-alert-delivery-failed = Not delivered: the message to { $name } (#{ $id }) by { $channel } failed.
staff-alert-not-understood = Not understood, from { $name } (#{ $id }): { $text }
staff-alert-late-reply = Late reply: { $name } (#{ $id }) answered { $reply } after the start { $when }.
staff-alert-coming-late = Coming late: { $name } (#{ $id }), { $when }.
staff-alert-coming-late-min = Coming { $min } min late: { $name } (#{ $id }), { $when }.
staff-today-none = No appointments today for your participants.
staff-today-head = Today:
staff-today-cancelled = cancelled
staff-reply-none = no reply
staff-reply-asked-which = replied { $reply }, which time awaits an answer
staff-reply-coming = coming
staff-reply-cannot = can't come
staff-delivery-none = nothing sent
staff-attendance-question = { $name } (#{ $id }), { $when }. Did the participant come?
staff-btn-attended = Attended
staff-btn-absent = Did not come
staff-btn-excused = Valid excuse
staff-attendance-recorded = Recorded: { $choice }
staff-attendance-refused = Could not be recorded: { $reason }
staff-delivery-pending = planned
staff-delivery-sent = sent
staff-delivery-delivered = delivered
staff-delivery-failed = failed
staff-kind-meeting = meeting
staff-kind-drug_test = test
staff-kind-group_activity = group
staff-kind-other = other

# Broadcasts (staff-written texts): the line added when a reply is asked, and the cancellation of an activity.
broadcast-reply = Reply COMING or CANNOT.
broadcast-cancelled = Hi { $name }! The appointment { $when } is cancelled. You do not need to come.
