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
