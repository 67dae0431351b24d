"""The words the demo CRM is made of: names from many cultures, companies, streets, titles and
descriptions, hostile text among them (control characters, iCalendar syntax, very long lines) so
that the demo feeds exercise escaping and folding."""

from __future__ import annotations

KINDS = ("meeting", "viewing", "call", "task", "note")


def split_list(text: str) -> tuple[str, ...]:
    return tuple(text.split("|"))


ZONES = split_list(
    "Europe/Berlin|Europe/London|America/New_York|America/Los_Angeles|Asia/Kolkata|"
    "Australia/Adelaide|Asia/Tokyo|UTC"
)


# One culture a line: given names / family names / how a full name is written.
CULTURES = [
    line.split(" / ")
    for line in """\
Jürgen|Anneliese|Käthe|Maximilian|Zoë / Müller|Schäfer|Groß|Weiß / {g} {f}
Søren|Åse|Bjørn|Ólafur|Sigríður / Ångström|Jónsdóttir|Øvergård / {g} {f}
Łukasz|Małgorzata|Paweł|Zofia / Wójcik|Dąbrowski|Szymańska / {g} {f}
José|María|Ángel|Lucía / García|Núñez|Ibáñez / {g} {f}
Émilie|François|Hélène|Loïc / Lefèvre|Béranger|Côté / {g} {f}
Thị Ngọc|Văn Đức|Thị Hương / Nguyễn|Trần|Phạm / {f} {g}
雷|娜|伟|芳 / 李|王|张|刘 / {f}{g}
さくら|健|陽菜 / 佐藤|鈴木|高橋 / {f} {g}
Aarav|Priya|Ananya / Sharma|Iyer|Banerjee / {g} {f}
Siobhán|Seán|Olivia|James / O'Brien|Smith|Taylor / {g} {f}
Ayşe|Çağrı|Gülşen / Yılmaz|Öztürk|Şahin / {g} {f}""".splitlines()
]


# The first users, so that even a tiny demo shows every script (and one emoji).
SHOWCASE = split_list(
    "Zoë Ångström|Łukasz Wójcik|Jürgen Müller|李雷|Søren Østergaard|José Núñez|"
    "Nguyễn Thị Ngọc|Ólafur Jónsson|Émilie Lefèvre|Kai Nakamura 🚀"
)


HOSTILE_NAMES = split_list(
    'Doe, John "JD"|O\'Neil; Patrick|Smith \\ Jones|Renée "Ree" Zöllner|'
    "Dr. Hans-Peter Müller-Lüdenscheidt, MBA"
)


TEAM_NAMES = split_list(
    "Vertrieb Nord|Équipe Île-de-France|Lettings & Sales, London|"
    "Kraków Południe|東京営業部|Ventas Sur; Madrid|Team Ølby|Mumbai West"
)


COMPANIES = split_list(
    "Müller & Söhne GmbH|Société Générale d'Immobilier|Acme, Inc.|"
    '株式会社サクラ不動産|Ølstue ApS|Nowak; Wiśniewski sp. z o.o.|Casa "Sol" S.L.'
)


STREETS = split_list(
    "Hauptstraße {}, 10115 Berlin|Königsallee {}, 40212 Düsseldorf|"
    "{} rue de Rivoli, 75001 Paris|Calle de Alcalá {}, 28014 Madrid|"
    "ul. Marszałkowska {}, 00-624 Warszawa|Strøget {}, 1160 København K|"
    "{} Baker Street, London NW1 6XE|Laugavegur {}, 101 Reykjavík"
)


ROOMS = split_list(
    "Room Ørsted|Meeting room 2.14|Microsoft Teams|https://meet.example.com/abc-def|"
    "Café Müller, Königsallee 12; 2. OG|Büro Nord \\ Empfang"
)


CONTACT_DOMAINS = split_list("example.com|example.org|example.net|müller-immobilien.example")


# Title templates: {c} a contact, {co} a company, {a} an address.
TITLES: dict[str, list[tuple[str, str]]] = {kind: [] for kind in KINDS}
for _kind, _templates in (
    ("meeting", "Kick-off with {c}|Quarterly review: {co}|Team sync|Vertragsbesprechung {co}"),
    ("meeting", "Déjeuner avec {c}|周会|Schlüsselübergabe, {a}|Notartermin {co}"),
    ("viewing", "Viewing: {a}|Besichtigung {a}|Visite : {a}"),
    ("call", "Call {c}|Rückruf {c}|Follow-up call, offer for {a}|Llamada con {c}"),
    ("task", "Send exposé to {c}|Prepare contract draft for {co}|Angebot nachfassen: {co}"),
    ("task", "Update listing photos, {a}|Überweisung prüfen"),
    ("note", "Note: {c} prefers mornings|Gesprächsnotiz {co}|Remarque : {c}"),
):
    TITLES[_kind] += [(t, t.partition("{")[2].partition("}")[0]) for t in _templates.split("|")]


HOSTILE_TITLES = split_list(
    "Q3 review\nBEGIN:VEVENT|Lunch; with, friends \\ ok|END:VCALENDAR\r\nX-EVIL:1|  |"
    '<b>bold</b> & "quoted"|Zero\u200bwidth and RTL שלום|DTSTART:19700101T000000Z|' + "Ü" * 400
)


SENTENCES = split_list(
    "Client asked about parking, storage and the heating bill; send figures.|"
    "Kunde möchte Grundriss, Energieausweis & Nebenkosten; bitte bis Freitag.|"
    "Exposé: \\\\fileserver\\share\\Exposé_2024.pdf|Budget: 450.000 €, negotiable; cash.|"
    "Rappeler Mme Dupré : elle préfère le matin, avant 10 h.|折り返しの電話をお願いします。|"
    "Agenda:\n1. Offer\n2. Timeline, risks\n3. Next steps|Emoji from the app 🏠🔑✨|"
    'Windows line\r\nbreaks from the old CRM import\r\n|Quote: "as is, where is"|'
    "https://crm.example.com/deals/4711?tab=notes&x=1,2;3|Tab\tseparated\tvalues"
)


FOLD = str.maketrans(
    {"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "đ": "d", "Đ": "D", "æ": "ae", "ı": "i"}
)
