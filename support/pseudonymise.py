"""Personal data out of an export: every name, address, phone number, username and booking
number replaced by a realistic stand-in, the same value by the same stand-in throughout one
file, so a labelled example still teaches what it taught (the label ``tk_2009`` and the mail's
``tk_2009`` both become, say, ``mb_1994``; ``BK-48213`` keeps the club's form as ``BK-71592``).

What counts as personal:
- e-mail addresses, also spelt out for people only (``anna.berg (at) example.de``, ``anna.berg [at]
  example [dot] de``, ``anna dot berg at example dot de``, ``anna -at- example -dot- de``,
  ``anna(a)example.org``, ``anna_at_example_dot_org``, ``anna [ät] example.org``: the stand-in is
  spelt the same way);
- payment card numbers in groups of four, or an Amex's 4-6-5, that pass the Luhn check
  (``4111-1111-1111-1111``);
- national ids and bank codes in their usual grouping, with no word before them: a US Social
  Security number (``123-45-6789``), a French INSEE number (``1 85 05 78 006 084 36``), a UK
  National Insurance number (``QQ 12 34 56 C``), a Spanish DNI or NIE whose letter checks its digits
  (``12.345.678-Z``, ``X-1234567-L``: the stand-in gets the letter of its own digits), a UK sort
  code after "sort code" or beside an account's eight digits (``20-00-00 12345678``), a German
  Sozialversicherungsnummer (``65 170839 J 003``); a German tax id is a spaced number (below); an
  id shape after a word that makes it the club's ("booking BK123456A", "member no. 12345678Z") is a
  number like any other, its letters kept;
- a tax or identity document's number after the word that names it ("Steuernummer 12/345/67890",
  "Ausweisnummer L01X00T47", "numéro de passeport 12 AB 34567", "carte vitale …", "pasaporte
  PAA123456"), every group of it;
- British and Canadian postcodes in capitals (``SW1A 1AA``, ``K1A 0B1``), a US ZIP with its suffix
  (``90210-1234``);
- a date of birth right after a word that says so ("born 03/04/2009", "Geburtsdatum: 03.04.2009", "né le
  3 avril 2009", "DOB 2009-04-03", "DOB: Sept. 3, 1990", "3 de feb. de 2011") or right before one
  ("03/04/2009 (date of birth)", "14.3.2011 – Geburtsdatum", "am 3.4.2009 geboren", "12/05/2010 es su
  fecha de nacimiento", "3 May 1990 Anna was born"), and a birthday's date ("2009-04-03 is my son's birthday"): another valid date
  written the same way (a month's abbreviation as an abbreviation). Dates without such a word stay, and
  so does a date of the last three years beside a birthday or before its birth word (a party's
  booking: "14.06.2026 for my son's birthday"); a month's abbreviation beside a day's number is no
  first name ("Sat 14 Jan"), even in a file where someone is called Jan, unless the number is a
  court's and a verb follows ("Court 3 Jan will come");
- a licence plate right after a word that names one ("Kennzeichen B-AB 1234", "reg AB12 CDE", "plaque
  AB-123-CD", "matrícula 1234 ABC"): letter for letter and digit for digit;
- phone numbers (nine or more digits, starting with ``+``, ``00`` or ``0``, French pairs
  ``06.12.34.56.78``, North American ``(555) 123-4567``) and IBANs (the country stays);
- the street's own name in a street address with its house number (``42 Elm Street``,
  ``Lindenstraße 17``, ``12 rue des Lilas``, ``Calle Mayor 5``), and without one in a German
  ``…straße`` word or after "live on", "moved to" ("I live on Baker Street");
- numbers of five or more digits (booking ids, member numbers; the letters around them stay), such
  a number of the file in any grouping (``4821 3377``, ``BK-48 213``), a number of seven or more
  digits spaced in groups (``4821 3377`` alone; not a date, courts or a season), five to twelve after
  a word that names a number ("member number 48 213", "Nr. 4 82 13", "member number 12 34 56 78"), and the digits of
  a labelled booking reference in another form (``SQ-2207``, ``sq 2207``, ``SQ2207``);
- usernames: those the labels name, those a mail introduces ("username devans", "user jgarcia")
  and handles built from a known name (``claire_admin``, ``pkowalski``);
- people's names: the sender's display name (unless it names an organisation), the labels'
  ``member_name`` (a name with an apostrophe also as a handle writes it: ``obrien`` for O'Brien), the
  parts of an address that are names (``tomasz.kowalski@``), and words the
  text marks as names: a first name of Faker's lists in nine languages with the capitalised word
  after it, a greeting ("Hello Piotr"), a relation ("my son Tomasz"), a signature (the line after
  "Thanks," or a blank line later, after "--", or on the closing's line: "Cheers, Anna"), a display
  name before an address in a quoted or forwarded header ("From: Anna Berg <…>"), two or three
  capitalised words of a header's sender line or attribution without one ("Von: Anna Berg", "On Mon,
  Anna Berg wrote:"; in lower case they stay words), whose birth a date of birth is ("3 May 1990
  Anna was born", "geboren am 3.5.1990, Anna"), and a part of
  the sender's ``first.last@`` that the mail writes on a line of its own as a name; a word spelt
  letter by letter (``K-E-L-L-E-R``, ``K E L L E R``) is a name, and its stand-in is spelt so.

Each is looked for in the text as a reader sees it (``as_read``: ``anna＠example.org``, a zero-width
space inside an address, ``ｔｋ＿２００９``, a Cyrillic ``к`` or a small capital ``ᴛ`` in a login,
a non-breaking hyphen in a phone number, Arabic-Indic digits are the address, the login and the
number they show) and replaced where it stands.

Stand-ins come from the same lists and are never a value of the file itself. The mapping lives in
memory while one file is written and is drawn at random each time: nothing AceDesk keeps turns a
pseudonymised file back into the raw one. Detection is heuristic, so a name nothing marks as one
("we're moving to Bristol") passes through; tests/support/test_pseudonymise.py measures it on the
demo mailbox and on the training data. Time is linear in the text: 100 KB of names and addresses
take about half a second.
"""

from __future__ import annotations

import bisect
import importlib
import itertools
import random
import re
import secrets
import string
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from email.utils import parseaddr
from functools import cache

from confusable_homoglyphs import confusables

from core.text import normalise


def fold(text: str) -> str:
    """Lower case without accents: ``García`` and ``garcia`` are one name."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def as_read(text: str) -> tuple[str, list[int] | None]:
    """The text as a reader sees it, where personal values are looked for: a full-width ``＠`` or
    ``２``, a one-dot leader in a domain, a zero-width space or soft hyphen inside an address, a
    Cyrillic ``а`` in a login read as what they show (core/text.py ``normalise``, one character at
    a time, accents kept); with, for each of its characters, the index of the character of ``text`` it comes
    from (None: every character reads as written)."""
    if text.isascii():
        return text, None
    read, origin = [], []
    for index, char in enumerate(text):
        for shown in _read_char(char):
            read.append(shown)
            origin.append(index)
    return "".join(read), origin


@cache
def _read_char(char: str) -> str:
    """What ``normalise`` reads a character as; the character itself where that only drops its
    accents (the closings and cues here are written with theirs: "Grüße"). A dash of any width
    reads as ``-`` (``+49‑170‑1234567`` is a phone number), a digit of any script as its ASCII digit."""
    if char.isascii():
        return char
    if (digit := unicodedata.decimal(char, None)) is not None:  # "٤٨٢١٣" is the booking number 48213
        return str(digit)
    shown = normalise(char)
    if len(shown) == 1 and unicodedata.category(shown) == "Pd":
        return "-"
    unaccented = "".join(part for part in unicodedata.normalize("NFD", char) if not unicodedata.combining(part))
    if shown == unaccented:
        return _latin_letter(char) if unaccented == char and char.isalpha() else char
    return shown


@cache
def _latin_letter(letter: str) -> str:
    """The ASCII letter a letter that ``normalise`` leaves alone is read as, or the letter itself.
    Unicode's skeletons stop at a Latin letter outside ASCII for some look-alikes (Cyrillic ``к`` at
    ``ĸ``, ``в`` at ``ʙ``, ``т`` at ``ᴛ``), and ``normalise`` never folds Latin letters (``ı``, ``ɡ``,
    ``ᴏ``): followed through the confusables two steps at most, to an ASCII letter or a small
    capital (``к`` → ``ĸ`` → ``ᴋ``: k), so that ``tк_2009`` is the login ``tk_2009``."""
    frontier = [letter]
    for _ in range(3):
        following = []
        for char in frontier:
            if small_capital := re.fullmatch(r"LATIN LETTER SMALL CAPITAL ([A-Z])", unicodedata.name(char, "")):
                return small_capital.group(1).lower()
            found = confusables.is_confusable(char, greedy=True, preferred_aliases=[]) or []
            glyphs = [glyph["c"] for entry in found for glyph in entry["homoglyphs"] if len(glyph["c"]) == 1]
            if ascii_letters := [glyph for glyph in glyphs if glyph.isascii() and glyph.isalpha()]:
                return ascii_letters[0]
            following += [glyph for glyph in glyphs if glyph.isalpha() and glyph != letter]
        frontier = following
    return letter


def _word_set(text: str) -> frozenset[str]:
    return frozenset(fold(word) for word in text.split())


NAME_LOCALES = ("en_GB", "en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "pl_PL", "nl_NL", "pt_PT")
"""Faker's name lists used to recognise first names and to draw stand-ins."""
TEXT_COLUMNS = ("sender", "subject", "body", "response", "member_name", "booking_id", "new_date", "new_court",
                "changed")
"""Columns of a training CSV (and a corrections export) that hold free text: all mapped alike, so a
label that repeats the text repeats its stand-ins."""
PUBLIC_MAIL_DOMAINS = _word_set("""gmail.com googlemail.com gmx.de gmx.net web.de t-online.de outlook.com hotmail.com
    live.com yahoo.com yahoo.de yahoo.fr icloud.com me.com proton.me protonmail.com free.fr orange.fr laposte.net
    wanadoo.fr aol.com mail.com posteo.de freenet.de""")
"""Providers whose domain says nothing about a person: kept as they are."""
STAND_IN_DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "post.example", "home.example")
_CALENDAR = """january february march april may june july august september october november december januar
    februar märz mai juni juli oktober dezember janvier février mars avril juin juillet août septembre octobre
    novembre décembre enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre
    monday tuesday wednesday thursday friday saturday sunday montag dienstag mittwoch donnerstag freitag samstag
    sonntag lundi mardi mercredi jeudi vendredi samedi dimanche lunes martes miércoles jueves viernes sábado
    domingo spring summer autumn fall winter easter christmas mar"""
_FUNCTION_WORDS = """i me my mine we us our you your he him his she her they them their it its a an the this that
    these those is am are was were be been do does did have has had will would shall should can could might must
    not no yes and or but if so as at by for from in into of on to with about after before again also just only
    very too please what when where which who why how all any some each every there here then than now today
    tomorrow tonight new old same other next last one two
    ich mich mir mein meine meinen meinem wir uns unser du dich dein sie ihr ihre ihren er ihn ihm es der die das
    den dem des ein eine einen einem und oder aber wenn dass ist sind war bin bitte mit von zu zum zur für auf an
    im am aus bei nach vor über nicht kein keine neu neue neuer neues frage konto tag heute
    je moi mon ma mes nous notre vous votre il elle ils elles le la les un une des du de et ou mais si est suis
    sont pour par avec dans sur pas ne nouveau nouvelle compte
    yo mi mis nuestro tu tú su sus él el los las unos unas y o pero es soy son por para con en sobre nuevo
    nueva cuenta buenos buenas"""
_TITLES = "sir madam mr mrs ms miss dr herr frau monsieur madame mme señor señora sr sra lg vg mfg ltc tc"
_CLUB_WORDS = """court courts club team support coach head board tennis junior juniors senior squad admin system
    mail note hello hi hey dear thanks thank cheers best regards merci bonjour salut hola hallo danke gracias
    saludos grüße gruß reception member members office service news newsletter magazine world delivery daemon
    administrator secretary manager info noreply platz pista booking buchung réservation reserva ai app account
    password login username reply"""
_NAME_LIKE_WORDS = """will grant hope joy faith rose dawn guy art pat sunny chase don ray sue frank rich honey amber
    ivy iris hazel crystal ruby pearl lily sky river storm bill mark else edit job lot till nada pero sol luz paz
    angel dolores mercedes pilar ernst bella tere curt max page van von del iban"""
_CLOSINGS = ("thanks", "thank", "thank you", "many thanks", "cheers", "best", "regards", "kind regards",
             "best regards", "best wishes", "all the best", "love", "viele grüße", "liebe grüße",
             "mit freundlichen grüßen", "grüße", "gruß", "lg", "vg", "cordialement", "bien à vous", "merci",
             "bonne journée", "bises", "saludos", "un saludo", "gracias", "muchas gracias", "atentamente",
             "un abrazo")
NEVER_NAMES = _word_set(f"{_CALENDAR} {_FUNCTION_WORDS} {_TITLES} {_CLUB_WORDS} {' '.join(_CLOSINGS)}")
"""Words that are never a name here, wherever they stand (``Court 3``, ``May 5``, ``Dear Sir``)."""
NOT_NAMES = NEVER_NAMES | _word_set(_NAME_LIKE_WORDS)
"""Words never taken for a name by their look alone, kept in lower case ("may", "grant") and never
drawn as a stand-in; a display name or a label can still make one of the second kind a name
("Olivia Grant")."""
ORG_WORDS = _word_set("""club support team board magazine system administrator delivery service news newsletter
    info office admin noreply no-reply mailer daemon tennis world committee secretary reception helpdesk deals
    offers shop store sale promo marketing events rewards alerts notifications security billing accounts bank
    weekly digest daily updates community academy league federation association verein sports racket racquet
    ltc tc gmbh ltd inc llc subsystem treasurer captain officer chair chairman president webmaster welfare county
    provincial direction vorstand vorsitzender vorsitzende kassenwart jugendwart sportwart bezirkssportwart
    trainerteam tennisbezirk geschäftsstelle sekretariat secrétariat président trésorier bureau direction accueil
    junta adjunta presidente tesorero secretaría secretaria recepción rackets racquets""")
"""A display name with one of these names an organisation, not a person."""
KEEP_SEGMENTS = _word_set("""admin coach tennis club team junior jr sr user member info support mail kids the
    official office mailer daemon postmaster noreply newsletter bounce bounces notifications""")
"""Parts of a handle that say nothing about a person (``coach_mike`` keeps ``coach``)."""

_LETTER = r"[^\W\d_]"
WORD = re.compile(rf"(?<![\w'’]){_LETTER}(?:{_LETTER}|['’-](?={_LETTER}))*(?![\w'’])")
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?<![\w+])(?:\+|00|0|\(0)[\d ()./-]{7,}\d(?!\w)")
NORTH_AMERICAN_PHONE = re.compile(r"(?<![\w+(.,/-])(?:\([2-9]\d\d\) ?|[2-9]\d\d[ .-])\d{3}[ .-]\d{4}(?![\w]|[.,/-]\d)")
"""``(555) 123-4567``, ``555-123-4567``: a local number with no ``0`` or ``+`` in front."""
_FRENCH_PHONE = re.compile(r"0\d(?:([ .-]?)\d\d)(?:\1\d\d){3}")
"""``06.12.34.56.78``: five pairs, which no date is however it looks like one."""
NUMBER = re.compile(r"(?<!\d)\d{5,}(?!\d)")
TOKEN = re.compile(r"(?<![\w.@+-])\w(?:[\w.+-]*\w)?(?!@)")
"""A word, a handle (``tk_2009``, ``anna.berg``), a number: what a username can look like in a text."""
IBAN = re.compile(r"(?<!\w)[A-Z]{2}\d{2}(?: ?[A-Z\d]{4}){2,7}(?: ?[A-Z\d]{1,3})?(?!\w)", re.IGNORECASE)
REFERENCE = re.compile(r"(?<![\w-])(?P<letters>[^\W\d_]{1,6})[ \t]?[-#/.:]?[ \t]?(?P<digits>\d{2,})(?!\d)")
"""A booking reference's letters and digits in any of the ways one is written: ``SQ2207``, ``sq 2207``."""
DIGIT_GROUPS = re.compile(r"(?<!\d)\d{1,34}(?:[ .\-/]\d{1,34}){1,40}(?!\d)")
"""Digits in groups (``4821 3377``, ``BK-48 213``): a number of the file written another way."""
_DIGITS = re.compile(r"\d+")
SPACED_NUMBER = re.compile(r"(?<![\d.,:/+-])\d{2,4}(?: \d{2,4})+(?![\d:]|[.,/-]\d)")
CUED_NUMBER = re.compile(r"(?<![\d.,:/+-])\d{1,4}(?:([ -])\d{1,4})(?:\1\d{1,4}){0,4}(?![\d:]|[.,/-]\d)")
"""Five to twelve digits in groups (``48 213``, ``4 82 13``, ``12 34 56 78``): a number only where a
word says so (``NUMBER_CUE``); alone it is as often a price, a score or a list of courts."""
CARD_NUMBER = re.compile(r"(?<![\d.,:/+-])\d{4}(?:([ -])\d{4}\1\d{4}\1\d{1,7}|([ -])\d{6}\2\d{5})(?![\d:]|[.,/-]\d)")
"""A payment card's 13 to 19 digits in groups of four (``4111-1111-1111-1111``) or an American
Express card's 4-6-5 (``3782 822463 10005``), where they pass the Luhn check
(``_card_number_spans``): no list of courts or scores does by chance in this shape."""
NATIONAL_NUMBER = re.compile(r"(?<![\w.,:/+-])(?:\d{3}-\d{2}-\d{4}"
                             r"|[12] ?\d\d ?\d\d ?(?:\d\d|2[AB]) ?\d{3} ?\d{3} ?\d\d)(?![\w-]|[.,/]\d)")
"""A US Social Security number (``123-45-6789``) or a French INSEE number (``1 85 05 78 006 084 36``,
``2A`` for Corsica), each one value in its usual grouping: no date, time or price has these
shapes, and the INSEE number's tail is no phone number that leaves its sex and birth year behind."""
NATIONAL_INSURANCE_NUMBER = re.compile(r"(?<![\w-])[A-Z]{2} ?\d\d ?\d\d ?\d\d ?[A-D](?![\w-])")
"""A UK National Insurance number (``QQ 12 34 56 C``), in capitals as on its card: a letter from A
to D after three pairs of digits is no court, squad or list."""
SPANISH_ID = re.compile(r"(?<![\w.,:/+-])(?:(?P<nie>[XYZ])[ -]?(?P<nie_digits>\d{7})|(?P<dni_digits>\d{8}"
                        r"|\d\d\.\d{3}\.\d{3}))[ -]?(?P<letter>[A-Z])(?![\w-])")
"""A Spanish DNI (``12345678Z``, ``12.345.678-Z``) or NIE (``X-1234567-L``): a number only where its
letter is the check of its digits (``_DNI_LETTERS``)."""
_CLUB_NUMBER_CUE = re.compile(r"(?:booking|buchung|reservation|réservation|reserva|order|bestellung|commande|pedido"
                              r"|invoice|rechnung|facture|factura|member|mitglied|adhérent|socio|ref)\w*\.?"
                              r"(?:[ \t]*(?:number|nummer|numéro|número|no|nr|n[°º]|id|#)\.?)?[ \t]*(?:is|ist|est|es|:|=)?"
                              r"[ \t]*$", re.IGNORECASE)
"""A word before an id-shaped value that makes it the club's number (a booking, an order, a
member's): its letters are the club's form and stay, its digits are a number like any other."""
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
"""A DNI's letter is this string's character at its number's remainder by 23 (an NIE's ``X``,
``Y``, ``Z`` count as a leading 0, 1, 2)."""
_DOCUMENT_CUE = (
    r"steuer-?(?:identifikations)?(?:nummer|nr\.?|id(?:-?nr\.?)?)|st\.?-?nr\.?|id-?nr\.?|tax[ \t]+(?:id|number)"
    r"|(?:personal)?ausweis(?:nummer|nr\.?)?|reisepass(?:nummer|nr\.?)?|pass(?:nummer|nr\.?)|führerschein(?:nummer)?"
    r"|(?:sozial|renten)versicherungs(?:nummer|nr\.?)?|sv-?(?:nummer|nr\.?)|rv-?nummer"
    r"|passport|driving[ \t]+licen[cs]e|driver['’]?s[ \t]+licen[cs]e|national[ \t]+insurance|ni[ \t]+number"
    r"|social[ \t]+security|id[ \t]+card|identity[ \t]+card"
    r"|passeport|carte[ \t]+(?:d['’]identité|vitale)|(?:numéro[ \t]+de[ \t]+)?sécu(?:rité[ \t]+sociale)?"
    r"|n°[ \t]*sécu|numéro[ \t]+fiscal|permis[ \t]+de[ \t]+conduire"
    r"|pasaporte|seguridad[ \t]+social|carn[ée]t[ \t]+de[ \t]+conducir")
_DOCUMENT_ACRONYM = r"DNI|NIE|NIF|NSS|CNI|NIR|SSN|NINO|TIN"
"""In capitals only: "nie" is German for never."""
DOCUMENT_NUMBER = re.compile(
    rf"(?<![\w-])(?:(?i:{_DOCUMENT_CUE})|{_DOCUMENT_ACRONYM})(?![\w])\.?[ \t]*(?i:(?:number|nummer|numéro|número|no|nr|n[°º]|#)\.?[ \t]*)?"
    r"(?i:(?:is|ist|est|es|:|=|-)[ \t]*)?(?P<number>(?=[A-Z\d]*\d)[A-Z\d]+(?:[ ./-][A-Z\d]+){0,6})(?![\w:]|[.,/-]\d)")
"""A tax or identity document's number right after the word that names it ("Steuernummer
12/345/67890", "Ausweisnummer: L01X00T47", "numéro de passeport : 12 AB 34567", "pasaporte
PAA123456"): capitals and digits in up to seven groups, every group of it personal (a tax office,
a passport's letters), so it is replaced whole, letter for letter and digit for digit."""
GERMAN_SOCIAL_SECURITY_NUMBER = re.compile(r"(?<![\w.,:/+-])\d\d ?[0-3]\d[01]\d\d\d ?[A-Z] ?\d{3}(?![\w-]|[.,/]\d)")
"""A German Sozialversicherungsnummer (``65 170839 J 003``): the birth date and the birth name's
initial in one value; no booking or date has this shape."""
_SORT_CODE = re.compile(r"(?<![\w.,:/+-])\d\d-\d\d-\d\d(?![\w-]|[.,/]\d)")
_SORT_CODE_CUE = re.compile(r"sort[ \t]?code[ \t]*(?:is|:)?[ \t]*$", re.IGNORECASE)
_ACCOUNT_AFTER = re.compile(r"[ \t]*[,;/]?[ \t]*(?:(?:account|acct|acc|a/c)\.?(?:[ \t]*(?:no|number|nr)\.?)?[ \t]*:?"
                            r"[ \t]*)?\d{8}(?!\d)", re.IGNORECASE)
_ACCOUNT_BEFORE = re.compile(r"(?<![\d.,:/+-])\d{8}[ \t]*[,;/]?[ \t]*$")
NUMBER_CUE = re.compile(r"(?:number|nummer|numéro|numero|número|\bno|\bnr|\bn[°º]|\bid|\bref|#)\.?[ \t]*"
                        r"(?:is|ist|est|es|was|war|:|=)?[ \t]*$", re.IGNORECASE)
SPELT_WORD = re.compile(r"(?<![\w-])[^\W\d_](?P<separator>[ \t]?-[ \t]?|[ \t])[^\W\d_](?:(?P=separator)[^\W\d_]){1,40}"
                        r"(?![\w-])")
"""A word spelt letter by letter, as people spell a name (``K-E-L-L-E-R``, ``K E L L E R``)."""
_STREET_NAME = r"[A-ZÄÖÜÉ][\w'’]*(?:-[\w'’]+)*"
_HOUSE_NUMBER = r"\d{1,4}[a-zA-Z]?"
STREETS = tuple(re.compile(pattern) for pattern in (
    (rf"(?<![\w-]){_HOUSE_NUMBER},?[ \t]+(?P<name>{_STREET_NAME}(?:[ \t]+{_STREET_NAME}){{0,2}})[ \t]+(?:Street|St\.?"
    r"|Road|Rd\.?|Avenue|Ave\.?|Lane|Ln\.?|Drive|Close|Way|Crescent|Place|Gardens|Terrace|Grove|Square|Boulevard"
    r"|Blvd\.?|Mews|Row|Walk|Parade)(?!\w)"),
    (rf"(?<![\w-])(?P<name>[A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ][a-zäöüß]+)*-?)(?:straße|strasse|str\.|weg|gasse|allee|damm"
    rf"|ring|ufer|steig|pfad)[ \t]+{_HOUSE_NUMBER}(?!\w)"),
    (rf"(?<![\w-])(?P<name>{_STREET_NAME})[ \t]+(?:Straße|Strasse|Str\.|Weg|Allee|Gasse|Ring|Damm)[ \t]+"
    rf"{_HOUSE_NUMBER}(?!\w)"),
    (rf"(?<![\w-]){_HOUSE_NUMBER}(?:[ \t]?(?:bis|ter))?,?[ \t]+(?i:rue|avenue|av\.|boulevard|bd|allée|impasse|chemin"
    rf"|quai|place|route)[ \t]+(?i:de la[ \t]+|de l'|du[ \t]+|des[ \t]+|de[ \t]+|d')?(?P<name>{_STREET_NAME}"
    rf"(?:[ \t]+{_STREET_NAME}){{0,2}})"),
    (rf"(?<![\w-])(?i:calle|c/|avenida|avda\.?|plaza|paseo|camino)[ \t]*(?i:de la[ \t]+|del[ \t]+|de[ \t]+)?"
    rf"(?P<name>{_STREET_NAME}(?:[ \t]+{_STREET_NAME}){{0,2}}),?[ \t]+(?:n[ºo°]\.?[ \t]*)?{_HOUSE_NUMBER}(?!\w)"),
    (r"(?<![\w-])(?P<name>[A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ][a-zäöüß]+)*-?)(?:straße|strasse|gasse)(?!\w)"),
    (rf"\b(?i:live|lives|living|lived|moved|moving|move|address is|address:)[ \t]+(?i:on|in|at|to)?[ \t]*"
     rf"(?:the[ \t]+)?(?P<name>{_STREET_NAME}(?:[ \t]+{_STREET_NAME}){{0,2}})[ \t]+(?:Street|Road|Avenue|Lane|Drive"
     r"|Close|Crescent|Gardens|Terrace|Grove|Square|Boulevard|Mews)(?!\w)")))
"""A street address with its house number, in English, German, French and Spanish forms (``42 Elm
Street``, ``Lindenstraße 17``, ``12 rue des Lilas``, ``Calle Mayor 5``): the street's own name is
personal, the kind of street and the number stay. ``Platz`` and ``Court`` are courts here. Without
a house number only where nothing else reads so: a German ``…straße``/``…gasse`` word, and an
English street after "live on", "moved to" ("I live on Baker Street"; a "Way" or "Place" there is
as often no street)."""
POSTCODE = re.compile(r"(?<![\w-])(?:[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|[ABCEGHJ-NPRSTVXY]\d[A-Z] ?\d[A-Z]\d)(?![\w-])")
"""A British (``SW1A 1AA``) or Canadian (``K1A 0B1``) postcode, in capitals as written on a letter:
with the street it names a handful of houses. German and US ones are numbers of five digits
(``NUMBER``)."""
_SPACED_DATE = re.compile(r"\d{1,2} \d{1,2} (?:19|20)\d\d|(?:19|20)\d\d \d{1,2} \d{1,2}|(?:19|20)\d\d(?: (?:19|20)\d\d)+")
ZIP_PLUS_FOUR = re.compile(r"(?<![\w-])\d{5}-\d{4}(?![\w-]|[.,/]\d)")
"""A US ZIP code with its four-digit suffix (``90210-1234``): the two together name a few houses."""
PLATE = re.compile(
    r"(?<![\w-])(?i:(?:auto)?kennzeichen|nummernschild|(?:car[ \t]+)?reg(?:istration)?(?:[ \t]+(?:number|plate))?"
    r"|(?:number|licen[cs]e)[ \t]+plate|plaque(?:[ \t]+d'immatriculation)?|immatriculation|matr[íi]cula)"
    r"\.?[ \t]*(?i:(?:is|ist|est|es|no\.?|nr\.?|number|nummer)[ \t]*)?[:=#-]?[ \t]*"
    r"(?P<plate>[A-ZÄÖÜ]{1,3}[- ][A-Z]{1,2}[- ]?\d{1,4}[EH]?|[A-Z]{2}\d{2} ?[A-Z]{3}|[A-Z]{2}[- ]\d{3}[- ][A-Z]{2}"
    r"|\d{4}[- ]?[A-Z]{3})(?![\w-])")
"""A licence plate for the club's car park, only right after a word that names one ("Kennzeichen
B-AB 1234", "reg AB12 CDE", "plaque AB-123-CD", "matrícula 1234 ABC"): alone, capitals and digits
are as often a court, a squad or a product code."""
MONTH_NAMES = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November",
           "Dezember"),
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre")}
MONTH_ABBREVIATIONS = {
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep Sept", "Oct", "Nov", "Dec"),
    "de": ("Jan Jän", "Feb", "Mär Mrz", "Apr", "Mai", "Jun", "Jul", "Aug", "Sep Sept", "Okt", "Nov", "Dez"),
    "fr": ("janv", "févr fév", "mars", "avr", "mai", "juin", "juil", "août", "sept", "oct", "nov", "déc"),
    "es": ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep sept", "oct", "nov", "dic")}
"""Each month's abbreviations in each language, the first the one a stand-in is written with
("Sept. 3, 1990" becomes "Mar. 11, 1989")."""
_BIRTH_CUES = {
    "en": r"born|date[ \t]+of[ \t]+birth|birth[ \t]?date|d\.?o\.?b\.?",
    "de": r"geboren|geburtsdatum|geb\.",
    "fr": r"née?|date[ \t]+de[ \t]+naissance",
    "es": r"nacid[oa]|naci[óo]|fecha[ \t]+de[ \t]+nacimiento"}
_BIRTHDAY_CUES = {"en": "birthday", "de": "geburtstag", "fr": "anniversaire", "es": "cumplea[ñn]os"}
"""Words that name a birth only beside a date at least ``_BOOKING_YEARS`` back: a birthday party is
booked for a date of this year."""
_BOOKING_YEARS = 3
"""How far back a date beside a birth word that may be a booking's (a birthday, or a birth word
after the date: "14.06.2026, date of birth required") is still taken for a booking's."""
_BIRTHDAY = re.compile("|".join(_BIRTHDAY_CUES.values()), re.IGNORECASE)
_BIRTH_CUE = "|".join(f"(?P<{language}>{cue}|{_BIRTHDAY_CUES[language]})" for language, cue in _BIRTH_CUES.items())
_MONTH_SPELLINGS = {spelling for names in (*MONTH_NAMES.values(), *MONTH_ABBREVIATIONS.values())
                    for name in names for spelling in name.split()}
_MONTH_KEYS = frozenset(map(fold, _MONTH_SPELLINGS))
_MONTH = "|".join(sorted(_MONTH_SPELLINGS | _MONTH_KEYS, key=len, reverse=True))
_DATE_OF_BIRTH = (
    r"(?P<date>(?P<year>\d{4})(?P<iso>[-./])(?P<month>\d{1,2})(?P=iso)(?P<day>\d{1,2})"
    r"|(?P<day2>\d{1,2})(?P<sep>[-./])(?P<month2>\d{1,2})(?P=sep)(?P<year2>\d{4}|\d{2})"
    rf"|(?P<day3>\d{{1,2}})(?:\.|(?P<ordinal3>st|nd|rd|th|er))?(?:[ \t]+(?i:de|of)[ \t]+|[ \t]+|-)(?P<name3>(?i:{_MONTH}))\.?"
    r"(?:,?[ \t]+(?:del?[ \t]+)?|-)(?P<year3>\d{4}|\d{2}(?!:))"
    rf"|(?P<name4>(?i:{_MONTH}))\.?[ \t]+(?P<day4>\d{{1,2}})(?P<ordinal4>st|nd|rd|th)?,?[ \t]+(?P<year4>\d{{4}}|\d{{2}}(?!:)))"
    r"(?![\w]|[.,/-]\d)")
DATE_OF_BIRTH = re.compile(_DATE_OF_BIRTH)
"""A date as a date of birth is written: its day, month (a number, a name or an abbreviation in
one of four languages) and year in their groups."""
BIRTH_DATE = re.compile(
    rf"(?<![\w-])(?i:(?P<cue>{_BIRTH_CUE}))(?![\w])[ \t]*(?i:(?:on|the|is|am|den|le|el|:|,|-)[ \t]*){{0,3}}{_DATE_OF_BIRTH}")
"""A date of birth, only right after a word that says so ("born 03/04/2009", "Geburtsdatum:
03.04.2009", "né le 3 avril 2009", "DOB 2009-04-03", "born 3rd of Feb 1990", "DOB: Sept. 3, 1990",
"nacido el 3 de febrero del 1990", "birthday: 3.4.2009"); a date with no such word is a booking's
or a label's and stays."""
_BIRTH_CUE_AFTER_WORDS = (r"is|was|my|his|her|their|our|the|(?:son|daughter|child|kid)['’]s|ist|war|das|der|des"
                          r"|(?:mein|dein|sein|ihr|unser)(?:e[snrm]?)?|est|était|c['’]est|sa|son|leur|mon|ma|la|le|du"
                          r"|de|es|era|fue|su|mi|el|del")
_CAPITALISED = r"[A-ZÄÖÜÉÁÍÓÚÑ][^\W\d_]+"
BIRTH_DATE_BEFORE_ITS_CUE = re.compile(
    rf"(?<![\w.,:/+-]){_DATE_OF_BIRTH}[ \t]*(?:[(\[,:;-][ \t]*)?"
    rf"(?:(?P<who>{_CAPITALISED}(?:[ \t]+{_CAPITALISED})?)(?:['’]s)?[ \t]+)?"
    rf"(?i:(?:{_BIRTH_CUE_AFTER_WORDS})[ \t]+){{0,3}}(?i:(?P<cue>{_BIRTH_CUE}))(?!\w)")
"""A date of birth with the word that says so after it ("03/04/2009 (date of birth)", "14.3.2011 –
Geburtsdatum", "2009-04-03 is my son's birthday", "am 3.4.2009 geboren", "12/05/2010 es su fecha
de nacimiento"), with at most three words between from a closed list and, before them, the name
of whose birth it is ("3 May 1990 Anna was born", "14.3.2011 Quorra's date of birth")."""
_NAME_AFTER_A_BIRTH_DATE = re.compile(rf"[ \t]*[,:;-]?[ \t]*(?P<who>{_CAPITALISED}(?:[ \t]+{_CAPITALISED})?)(?![\w'’])")
"""Whose birth a cued date is, right after it ("geboren am 3.5.1990, Anna")."""

_AT_SEPARATOR = (r"[ \t]{0,3}[(\[{<][ \t]{0,3}(?:at|ät|@)[ \t]{0,3}[)\]}>][ \t]{0,3}|[ \t]{0,3}@[ \t]{0,3}"
                 r"|[ \t]{1,3}at[ \t]{1,3}|[ \t]{0,3}-at-[ \t]{0,3}|_at_|[(\[{]a[)\]}]")
"""``(a)`` only between two words with no space ("anna(a)example.org"): with spaces it is a list's
item ("options (a) club.de or (b)")."""
_DOT_SEPARATOR = (r"[ \t]{0,3}[(\[{<][ \t]{0,3}(?:dot|punkt|point|punto)[ \t]{0,3}[)\]}>][ \t]{0,3}"
                  r"|[ \t]{1,3}(?:dot|punkt)[ \t]{1,3}|[ \t]{0,3}-(?:dot|punkt)-[ \t]{0,3}|_(?:dot|punkt)_|\.")
_ADDRESS_SEPARATOR = re.compile(rf"(?P<at>{_AT_SEPARATOR})|{_DOT_SEPARATOR}", re.IGNORECASE)
SPELT_EMAIL = re.compile(
    rf"(?<![\w.+@-])(?=([\w+-]{{1,64}}(?:(?:{_DOT_SEPARATOR})[\w+-]{{1,64}}){{0,8}}(?:{_AT_SEPARATOR})"
    rf"[\w-]{{1,63}}(?:(?:{_DOT_SEPARATOR})[\w-]{{1,63}}){{1,8}})(?![\w@-]))", re.IGNORECASE)
"""An address spelt out so that no program reads it: ``anna.berg (at) example.de``, ``anna.berg [at]
example [dot] de``, ``anna dot berg at example dot de``. A lookahead, so that ``me at anna dot berg``
does not hide the address that starts at ``anna``; each repeat is capped, so a hostile text costs
linear time."""
_ANGLE_ADDRESS = re.compile(r"<[^<>\s@]{1,64}@[^<>\s]{1,255}>")
_AT_HINT = re.compile(r"@|[(\[{<][ \t]{0,3}[aä]t\b|[ \t]at[ \t]|-at-|_at_|[(\[{]a[)\]}]", re.IGNORECASE)
"""What every "at" of SPELT_EMAIL holds."""
_DATE_LIKE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./]\d{1,2}[./]\d{2,4}")
_USERNAME_CONTEXT = re.compile(
    r"\b(username|user name|login name|benutzername|nutzername|identifiant|nom d'utilisateur|nombre de usuario"
    r"|usuario|user|login|benutzer)\b\s*(?:is|ist|est|es|:|=|-)?\s*[\"'“‘]?(\w[\w.+-]*\w|\w)", re.IGNORECASE)
_WEAK_CONTEXT = ("login", "user", "benutzer")
_NOT_USERNAMES = _word_set("""is and the for so was i my it to yet name of a an ist est es und et y de le la el
    bitte please svp por here there account id data password profile settings details again anymore works
    working access with in on at from that this has had me him her his them""")
_GREETING = re.compile(r"\b(?:hi|hello|hey|dear|hallo|liebe|lieber|moin|servus|bonjour|salut|cher|chère|hola"
                       r"|querid[oa]|estimad[oa]|ciao)[ \t]+$", re.IGNORECASE)
_RELATION = re.compile(r"\b(?:son|daughter|husband|wife|partner|brother|sister|friend|mr|mrs|ms|miss|dr|sohn"
                       r"|tochter|mann|frau|herr|bruder|schwester|fils|fille|mari|femme|monsieur|madame|mme|hijo"
                       r"|hija|marido|esposa|señor|señora|sr|sra)\.?,?[ \t]+$", re.IGNORECASE)
_INTRODUCTION = re.compile(r"\b(?:my name is|i am|i'm|this is|ich bin|ich heiße|je suis|je m'appelle|me llamo"
                           r"|soy|mi nombre es)[ \t]+$", re.IGNORECASE)
_HEADER_SENDER = re.compile(r"^[> \t]*(?:from|von|de|absender|expéditeur|remitente)[ \t]*:[ \t]*"
                            r"(?P<who>[^\n<\[(]{1,80}?)[ \t]*(?:[<\[(]|$)", re.IGNORECASE | re.MULTILINE)
"""The sender's line of a quoted or forwarded header, with or without an address ("Von: Anna Berg",
"De : Anna Berg", "From: Anna Berg [mailto:…]")."""
_WROTE = re.compile(r"[ \t]*(?:\(?<[^<>\n]{0,255}>\)?[ \t]*)?(?:wrote|a[ \t]+écrit|escribió|ha[ \t]+escrito)[ \t]*:"
                    r"|(?:schrieb|wrote)[ \t]+(?P<after>[^\n,:;<>()]{1,80}?)[ \t]*(?:<[^<>\n]{0,255}>[ \t]*)?:",
                    re.IGNORECASE)
"""A quote's attribution, the name before it ("On Mon, 3 Mar 2025, Anna Berg wrote:", "Anna Berg a
écrit :", "Anna Berg escribió:") or after it ("Am 3. März schrieb Anna Berg:")."""
_CLOSING = re.compile(rf"^(?:{'|'.join(sorted(_CLOSINGS, key=len, reverse=True))})\b(?P<rest>.*)$", re.IGNORECASE)
"""A line that closes a mail; the longest closing first, so that "Best regards, Anna" leaves "Anna"."""


@cache
def name_lists() -> tuple[frozenset[str], tuple[str, ...], tuple[str, ...]]:
    """Known first names (folded, to recognise them) and the stand-in pools of first and last names."""
    firsts, first_pool, last_pool = set(), set(), set()
    for locale in NAME_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        names = {*provider.first_names, *getattr(provider, "first_names_male", ()),
                 *getattr(provider, "first_names_female", ())}
        firsts.update(fold(name) for name in names if name.isalpha())
        first_pool.update(name for name in names if _good_stand_in(name))
        last_pool.update(name for name in provider.last_names if _good_stand_in(name))
    return frozenset(firsts - NOT_NAMES), tuple(sorted(first_pool)), tuple(sorted(last_pool))


def _ends_a_name(text: str, words: list[re.Match], index: int) -> bool:
    """A word after "Hello" or "I'm" is a name when punctuation, the line's end or a capitalised
    word (a surname) follows it: "Hello Piotr," yes, "Hi Can you" and "ich bin Mitglied seit" no."""
    rest = text[words[index].end():]
    if re.match(r"\s*(?:[,.!?;:)]|$|\n)", rest):
        return True
    following = words[index + 1].group() if index + 1 < len(words) else ""
    return rest[:1] in " \t" and following[:1].isupper() and rest.lstrip(" \t").startswith(following)


def _signatures(text: str) -> Iterator[str]:
    """Where a mail signs with a name: the first line with text after a closing ("Thanks," then a
    blank line or two) or after the signature delimiter ``--``, and what follows a closing on its
    own line ("Cheers, Anna")."""
    lines = [line.strip() for line in text.splitlines()]
    for index, line in enumerate(lines):
        closing = _CLOSING.match(line)
        if closing or line == "--":
            yield next((later for later in lines[index + 1:index + 4] if later), "")
        if closing:
            yield closing["rest"].lstrip(",;:-! \t")


def _displayed_names(text: str) -> Iterator[list[str]]:
    """The display name a text writes before an address, as a forwarded or quoted mail does ("From:
    Xiomara Quillon <xq@…>", "Von: \"Quillon, Xiomara\" <…>", "On Monday, Anna Berg <…> wrote:"):
    the quoted text, or the capitalised words right before the address on its line (four at most);
    none that names an organisation ("To: Tennis Club <info@…>")."""
    for address in _ANGLE_ADDRESS.finditer(text):
        before = text[max(text.rfind("\n", 0, address.start()) + 1, address.start() - 120):address.start()].rstrip()
        if before.endswith('"') and (opening := before.rfind('"', 0, -1)) >= 0:
            words = WORD.findall(before[opening + 1:-1])
        else:
            words, end = [], len(before)
            for word in reversed(list(WORD.finditer(before))):
                if before[word.end():end].strip() or not word.group()[:1].isupper() or len(words) == 4:
                    break
                words.insert(0, word.group())
                end = word.start()
        if words and not {fold(word) for word in words} & ORG_WORDS:
            yield words


def _name_line(line: str) -> list[str]:
    """The words of a line that reads as a name: one to three capitalised words ("Anna Berg,"),
    none a word that is never a name, an initial allowed and left out ("Q. Vantablack"); else []."""
    parts = line.replace(",", " ").rstrip("!. ").split()
    names = [part for part in parts if not re.fullmatch(r"[A-Z]\.", part)]
    if 0 < len(names) and len(parts) <= 3 and all(
            WORD.fullmatch(part) and part[:1].isupper() and fold(part) not in NOT_NAMES for part in names):
        return names
    return []


def _header_names(text: str) -> Iterator[list[str]]:
    """The names of quoted or forwarded headers that give no address to find them by ("Von: Anna
    Berg", "On Monday, Anna Berg wrote:"): the capitalised words that end the attribution or fill the
    sender's line, two or three of them (one is as often a role: "From: Treasurer"); none that names
    an organisation or a role, or that the text writes in lower case ("From: String Theory Rackets"
    of a mail about rackets is a shop)."""
    lower_case = {word for word in WORD.findall(text) if word.islower()}

    def person(words: list[str]) -> list[str]:
        names = _name_line(" ".join(words))
        return names if len(names) >= 2 and not {fold(name) for name in names} & ORG_WORDS \
            and not {name.lower() for name in names} & lower_case else []

    for header in _HEADER_SENDER.finditer(text):
        if names := person(header["who"].strip("\"' \t").split()):
            yield names
    for attribution in _WROTE.finditer(text):
        if attribution["after"] is not None:
            words = WORD.findall(attribution["after"])
        else:  # the name ends what comes before, after the date's last comma: "On Mon, 3 Mar 2025, Anna Berg"
            before = text[max(text.rfind("\n", 0, attribution.start()) + 1, attribution.start() - 80):attribution.start()]
            before = re.split(r"[,:;<>()]", before)[-1]
            tail = list(itertools.takewhile(lambda word: word[:1].isupper(), reversed(WORD.findall(before))))[::-1]
            words = tail if len(tail) <= 3 else []
        if names := person(words):
            yield names


def _birth_date_names(text: str) -> Iterator[str]:
    """The capitalised words that say whose birth a date is: between a date and its birth word ("3
    May 1990 Anna was born"), or right after a date its birth word comes before ("geboren am
    3.5.1990, Anna")."""
    for match in BIRTH_DATE_BEFORE_ITS_CUE.finditer(text):
        if match["who"]:
            yield from match["who"].split()
    for match in BIRTH_DATE.finditer(text):
        if after := _NAME_AFTER_A_BIRTH_DATE.match(text, match.end()):
            yield from after["who"].split()


_DAY_BEFORE = re.compile(r"(?<![\d:.,/-])(?:[12]?\d|3[01])(?:\.|st|nd|rd|th|er)?[ \t]+(?:of[ \t]+|de[ \t]+)?$")
_COURT_BEFORE = re.compile(r"(?i:court|platz|pista|terrain|cancha)[ \t]*(?i:no|nr|n[°º]|#)?\.?[ \t]*$")
_VERB_AFTER = re.compile(r"[ \t]+(?!(?:at|um|à|a|from|von|de|ab|desde|dès|to|bis|till|until|or|oder|ou|o|and|und|et|y"
                         r"|for|für|pour|para|on|am|le|el)(?![^\W\d_]))[a-zäöüßéèêàç]+(?![^\W\d_])")
"""A lower-case word after a month's abbreviation that no date goes on with: "Court 3 Jan will come" (a
name), not "a court 14 Jan at 10:00" (a booking's date)."""
_DAY_OR_YEAR_AFTER = re.compile(r"\.?[ \t]+(?:(?:[12]?\d|3[01])(?:st|nd|rd|th)?|\d{4})(?![\d:]|[.,]\d)")


def _month_of_a_date(text: str, word: re.Match) -> bool:
    """A month's name or abbreviation beside a day's number (or before a year), which some first
    names are too: "Jan" and "Sep" of "Sat 14 Jan", "On Fri, 19 Sep 2025", "Jan 14", "the 3rd of
    Jan" are months; "Jan Novak", "Hi Jan, 3 courts", "Jan, 14:00", "at 10:00 Jan will" and "Court 3
    Jan will" a name."""
    if fold(word.group()) not in _MONTH_KEYS:
        return False
    day = _DAY_BEFORE.search(text, max(0, word.start() - 12), word.start())
    courts_number = day and _COURT_BEFORE.search(text, max(0, day.start() - 12), day.start()) \
        and _VERB_AFTER.match(text, word.end())
    return bool((day and not courts_number) or _DAY_OR_YEAR_AFTER.match(text, word.end()))


def _name_spans(text: str) -> Iterable[tuple[int, int]]:
    """The words a name may be: not a month's abbreviation beside a day's number, whoever in the
    file is called Jan ("see you on 14 Jan")."""
    return [match.span() for match in WORD.finditer(text) if not _month_of_a_date(text, match)]


def _spaced_number(text: str) -> bool:
    """Groups of two to four digits between single spaces, seven digits or more, one group of three
    or more: a member or account number as people space it (``4821 3377``); courts ("courts 12 14 16
    18"), a date ("14 06 2025") or seasons ("2025 2026") are not."""
    groups = text.split(" ")
    return sum(map(len, groups)) >= 7 and max(map(len, groups)) >= 3 and not _SPACED_DATE.fullmatch(text)


def _unquoted(key: str) -> str:
    """A name without its apostrophes, as a handle writes it (``obrien``, ``darcy``)."""
    return key.replace("'", "").replace("’", "")


def _good_stand_in(name: str) -> bool:
    return name.isascii() and name.isalpha() and 3 <= len(name) <= 9 and fold(name) not in NOT_NAMES


def _cased(stand_in: str, like: str) -> str:
    """The stand-in written the way the original was: ANNA -> LENA, anna -> lena, Anna -> Lena."""
    if like.isupper() and len(like) > 1:
        return stand_in.upper()
    if like.islower():
        return stand_in.lower()
    return stand_in[:1].upper() + stand_in[1:].lower() if like[:1].isupper() else stand_in


class Pseudonymiser:
    """One file's mapping. ``learn`` every row first (so no stand-in is a value of the file),
    then ``row`` each one."""

    def __init__(self, seed: int | None = None):
        self._random = random.Random(secrets.randbits(64) if seed is None else seed)
        self._first_names, self._first_pool, self._last_pool = name_lists()
        self._name_keys: set[str] = set()
        """Folded tokens that are people's names in this file."""
        self._first_like: set[str] = set()
        self._capitalised_only: set[str] = set()
        """Name keys known only from a quoted header's line without an address: a name where written
        with a capital, in lower case a word ("Electricidad Romero" and "la electricidad")."""
        self._usernames: set[str] = set()
        self._references: set[str] = set()
        """Labelled booking ids in another form than the club's (``SQ-2207``): their digits are mapped."""
        self._reference_keys: set[tuple[str, str]] = set()
        """Their letters and digits, to find ``SQ2207`` and ``sq 2207`` too."""
        self._booking_letters: set[str] = set()
        """The letters the club writes its booking ids with (``BK`` of ``BK-48213``): an id of a national
        insurance number's shape that starts with them is a booking's."""
        self._stated_numbers: set[str] = set()
        """Numbers of five or more digits the file writes in one piece: written in groups they are the same."""
        self._stated_lengths: set[int] = set()
        """Their lengths: the only lengths digits in groups are tried at."""
        self._originals: set[str] = set()
        """Folded words and digit strings of the file that no stand-in may be."""
        self._words: dict[str, str] = {}
        self._numbers: dict[str, str] = {}
        self._domains: dict[str, str] = {}
        self._birth_dates: dict[tuple[int, int, int], tuple[int, int, int]] = {}
        """A date of birth (year, month, day) and its stand-in."""
        alphabet = list(string.ascii_lowercase)
        while any(a == b for a, b in zip(alphabet, string.ascii_lowercase, strict=True)):
            self._random.shuffle(alphabet)
        self._letters = dict(zip(string.ascii_lowercase, alphabet, strict=True))

    # -- learning: what in this file is personal ---------------------------------------------
    def learn(self, row: dict, usernames: Iterable[str] = (), names: Iterable[str] = ()) -> None:
        """Note the personal values of one row (and ``usernames``/``names`` it mentions elsewhere,
        e.g. the model's answer before the operator corrected it)."""
        row = {column: as_read(value)[0] if isinstance(value, str) else value for column, value in row.items()}
        usernames, names = [as_read(value)[0] for value in usernames], [as_read(value)[0] for value in names]
        display, sender_address = parseaddr(row.get("sender") or "")
        for value in (display if not {fold(word) for word in WORD.findall(display)} & ORG_WORDS else "",
                      row.get("member_name") or "", *names):
            words = WORD.findall(value)
            self._add_names(words[:1], first=True, stated=True)
            self._add_names(words[1:], stated=True)
        for value in (row.get("username") or "", *usernames):
            if value.strip():
                self._add_username(value.strip())
        reference = (row.get("booking_id") or "").strip()
        if letters := re.match(r"[^\W\d_]+", reference):
            self._booking_letters.add(letters.group().upper())
        if re.search(r"\d", reference) and not NUMBER.search(reference):
            self._references.add(reference.lower())
            self._originals.update(re.findall(r"\d+", reference))
            if written := REFERENCE.fullmatch(reference):
                self._reference_keys.add((fold(written["letters"]), written["digits"]))
        texts = [row.get(column) or "" for column in ("sender", "subject", "body", "response")]
        for text in texts:
            self._learn_text(text)
        if not display.strip():  # a display name says who sends, or that an organisation does
            self._learn_sender_handle(sender_address, "\n".join(texts[1:3]))
        for text in texts:  # names known from any part help to read the addresses
            spelt = (self._spelt_address(text[start:end]) for start, end in _spelt_email_spans(text))
            for address in [*EMAIL.findall(text), *(found[0] for found in spelt if found)]:
                self._learn_address(address)
        for text in (*texts, reference):
            for number in NUMBER.findall(text):
                self._originals.add(number)
                self._stated_numbers.add(number)
                self._stated_lengths.add(len(number))

    def _learn_text(self, text: str) -> None:
        for match in _USERNAME_CONTEXT.finditer(text):
            keyword, candidate = match.group(1).lower(), match.group(2)
            weak = keyword in _WEAK_CONTEXT and not re.search(r"[._\d]", candidate)  # "login for him"
            if not weak and fold(candidate) not in _NOT_USERNAMES | NEVER_NAMES and "@" not in candidate:
                self._add_username(candidate)
        words = list(WORD.finditer(text))
        for index, match in enumerate(words):
            word = match.group()
            if not word[:1].isupper() or fold(word) in NOT_NAMES or _month_of_a_date(text, match):
                continue
            before = text[max(0, match.start() - 40):match.start()]
            introduced = any(pattern.search(before) for pattern in (_GREETING, _INTRODUCTION))
            if (fold(word) in self._first_names or _RELATION.search(before)
                    or (introduced and _ends_a_name(text, words, index))):
                self._add_names([word], first=True)
                self._add_names(self._surnames(text, words, index))
        for spelt in SPELT_WORD.finditer(text):
            if letters := _spelt_letters(spelt.group()):
                self._add_names([letters])
        for start, end in _street_name_spans(text):  # no stand-in may be a street of the file
            self._originals.update(fold(word) for word in WORD.findall(text[start:end]))
        for parts in [*map(_name_line, _signatures(text)), *_displayed_names(text)]:
            self._add_names(parts[:1], first=True)
            self._add_names(parts[1:])
        for parts in _header_names(text):
            self._capitalised_only.update(fold(part) for part in parts if fold(part) not in self._name_keys)
            self._add_names(parts[:1], first=True)
            self._add_names(parts[1:])
        for index, word in enumerate(_birth_date_names(text)):
            self._add_names([word], first=index == 0)

    @staticmethod
    def _surnames(text: str, words: list[re.Match], index: int) -> list[str]:
        """Up to two capitalised words right after a first name, on its line."""
        found = []
        for previous, match in zip(words[index:index + 2], words[index + 1:index + 3], strict=False):
            gap = text[previous.end():match.start()]
            word = match.group()
            if gap not in (" ", "\t") or not word[:1].isupper() or fold(word) in NOT_NAMES:
                break
            found.append(word)
        return found

    def _learn_sender_handle(self, address: str, text: str) -> None:
        """The parts of the sender's address ``first.last@`` that its mail writes on a line of its
        own as a name are names: ``zebedee.obuya@`` signing "Zebedee" without a display name or a
        closing ("Reply for a free audit" does not make ``no-reply@`` a person)."""
        parts = [fold(part) for part in re.split(r"[._+\-\d]+", address.rpartition("@")[0]) if part]
        if not 2 <= len(parts) <= 3:
            return  # "bookings@", "info@": one word is as often a function as a name
        written = {fold(word) for line in text.splitlines() for word in _name_line(line.strip())}
        for index, part in enumerate(parts):
            if part in written and len(part) >= 3 and part not in ORG_WORDS | KEEP_SEGMENTS:
                self._add_names([part], first=index == 0)

    def _learn_address(self, address: str) -> None:
        local = address.rsplit("@", 1)[0]
        parts = [part for part in re.split(r"[._+\-\d]+", local) if len(part) >= 2]
        known = [fold(part) in self._name_keys or fold(part) in self._first_names for part in parts]
        if any(known) and len(parts) <= 3:
            self._add_names(parts)
        self._originals.update(fold(part) for part in parts)

    def _add_names(self, words: Iterable[str], first: bool = False, stated: bool = False) -> None:
        """``stated``: the words are a name by where they stand (a display name, a label), even
        words that are ordinary elsewhere ("Olivia Grant")."""
        for word in words:
            keys = {fold(word), *fold(word).split("-")}
            for key in keys | {_unquoted(key) for key in keys}:  # "O'Brien" is the handle obrien too
                if len(key) < 2 or key in (NEVER_NAMES if stated else NOT_NAMES):
                    continue
                self._name_keys.add(key)
                self._originals.add(key)
                if first:
                    self._first_like.add(key)

    def _add_username(self, value: str) -> None:
        self._usernames.add(value.lower())
        self._originals.update(fold(part) for part in re.split(r"[\W_\d]+", value) if part)
        self._originals.update(re.findall(r"\d+", value))

    # -- replacing ---------------------------------------------------------------------------
    def row(self, row: dict) -> dict:
        """The row with its personal data replaced (other columns as they were)."""
        out = dict(row)
        for column in TEXT_COLUMNS:
            if out.get(column):
                out[column] = self.text(out[column])
        if out.get("username"):
            out["username"] = self.value("username", out["username"])
        if out.get("member_email"):
            out["member_email"] = self.value("member_email", out["member_email"])
        return out

    def value(self, field: str, value: str) -> str:
        """One field's value, as the same value in a text becomes."""
        if not value:
            return value
        read = as_read(value)[0]
        if "@" in read and EMAIL.fullmatch(read.strip()):
            return self._email(read.strip())
        if field == "username":
            return self._handle(read)
        return self.text(value)

    def text(self, text: str) -> str:
        """A text with every personal value replaced, by priority where they overlap (an address
        before the name in it). Values are found in the text as read (``as_read``) and replaced where
        they stand in it."""
        detectors: list[tuple[Callable[[str], Iterable[tuple]], Callable[..., str | None]]] = [
            (_spans(EMAIL), self._email), (_spelt_email_spans, self._spelt_email), (_birth_date_spans, self._birth_date),
            (_spans(PLATE), self._plate), (_spans(IBAN), self._iban),
            (_card_number_spans, self._digit_for_digit),
            (_spans(NATIONAL_NUMBER), self._digit_for_digit), (_sort_code_spans, self._digit_for_digit),
            (_club_number_cued_spans(NATIONAL_INSURANCE_NUMBER), self._national_insurance_number),
            (_club_number_cued_spans(SPANISH_ID), self._spanish_id),
            (_document_number_spans, self._document_number), (_spans(GERMAN_SOCIAL_SECURITY_NUMBER), self._document_number),
            (_spans(PHONE), self._phone), (_spans(NORTH_AMERICAN_PHONE), self._phone),
            (_street_name_spans, self._street_name), (_spans(POSTCODE), self._postcode), (_spans(REFERENCE), self._reference),
            (_spelt_word_spans, self._spelt_word), (_spans(TOKEN), self._username),
            (_spans(ZIP_PLUS_FOUR), self._zip_plus_four), (self._stated_number_spans, self._grouped_number), (_spans(SPACED_NUMBER), self._spaced_number),
            (_cued_number_spans, self._digit_for_digit), (_spans(NUMBER), self._number), (_name_spans, self._name)]
        read, origin = as_read(text)
        spans: list[tuple[int, int, str]] = []
        """Replaced so far: in order and apart, so that one bisection finds an overlap (a scan of all
        of them made a 100 KB mail of names take 20 s)."""
        starts: list[int] = []
        for find, replace in detectors:
            for found_start, found_end, *known in find(read):
                index = bisect.bisect_left(starts, found_end)
                if index and spans[index - 1][1] > found_start:
                    continue  # inside a value found first
                found = read[found_start:found_end]
                replacement = replace(found, *known)  # known: what the finder read around it
                if replacement is not None and replacement != found:
                    starts.insert(index, found_start)
                    spans.insert(index, (found_start, found_end, replacement))
        pieces, done = [], 0
        for start, end, replacement in spans:
            if origin is not None:  # where the span stands in the text, with what reads as nothing after it
                start, end = origin[start], max(origin[end] if end < len(origin) else len(text), origin[end - 1] + 1)
            pieces += [text[done:start], replacement]
            done = end
        return "".join(pieces) + text[done:]

    def _name(self, word: str) -> str | None:
        possessive = re.fullmatch(r"(.+)(['’]s)", word)  # "Priya's"
        if possessive and (stem := self._name(possessive.group(1))) is not None:
            return stem + possessive.group(2)
        key = fold(word)
        if key not in self._name_keys or (word.islower() and (key in NOT_NAMES or key in self._capitalised_only)):
            return None  # not a name here; or "may", "grant": a word in lower case, whoever is called so
        return _cased(self._stand_in(key, key in self._first_like), word)

    def _stand_in(self, key: str, first: bool) -> str:
        key = _unquoted(key)  # "O'Brien" and the handle obrien: one stand-in
        if key not in self._words:
            pool = self._first_pool if first else self._last_pool
            taken = set(self._words.values())
            candidate = self._random.choice(pool)
            for _ in range(1000):
                if not self._reveals(candidate) and candidate not in taken:
                    break
                candidate = self._random.choice(pool)
            else:  # a file with more names than the lists: two stand-ins make a new one
                candidate += self._random.choice(pool).lower()[:3]
            self._words[key] = candidate
        return self._words[key]

    def _reveals(self, candidate: str) -> bool:
        """A stand-in that is a value of the file, or holds a name of it ("Hanna", "Annamaria"
        for "Anna"): the original would be readable in the substitute."""
        folded = fold(candidate)
        return folded in self._originals or any(
            len(name) >= 3 and name in folded for name in self._name_keys)

    def _handle(self, value: str) -> str:
        """A username or an address's local part, part by part: names as the names, a short part
        letter by letter, digits digit by digit, other words by a stand-in word."""
        if "@" in value and EMAIL.fullmatch(value):
            return self._email(value)
        return re.sub(r"[^\W\d_]+|\d+", lambda match: self._segment(match.group()), value)

    def _username(self, token: str) -> str | None:
        """A username the file knows, or a handle built from a known name (``claire_admin``,
        ``pkowalski``); None for any other token."""
        if token.lower() in self._references:
            return re.sub(r"\d+", lambda digits: self._number(digits.group()), token)
        if token.lower() not in self._usernames:
            parts = [fold(part) for part in re.findall(r"[^\W\d_]+", token)]
            if re.fullmatch(r"[^\W\d_]+", token):  # a plain word: only initials before a name ("devans")
                if parts[0] in NOT_NAMES or not self._initial_and_name(parts[0], ends=False):
                    return None
            elif not any(part in self._name_keys or self._initial_and_name(part) for part in parts):
                return None
        return self._handle(token)

    def _initial_and_name(self, part: str, ends: bool = True) -> tuple[str, str] | None:
        """``pkowalski`` -> ("p", "kowalski"), and with ``ends`` ``annab`` -> ("anna", "b"), when that
        name is known here (in a free word only the first kind: "change" is not "chan" + "ge")."""
        def known(name: str) -> bool:  # a header's word in lower case is no name: "restring" is no "re" + "String"
            return name in self._name_keys and name not in self._capitalised_only

        for cut in (1, 2):
            if len(part) - cut >= 4 and known(part[cut:]):
                return part[:cut], part[cut:]
            if ends and len(part) - cut >= 4 and known(part[:-cut]):
                return part[:-cut], part[-cut:]
        return None

    def _segment(self, part: str) -> str:
        if part.isdigit():
            return self._number(part)
        key = fold(part)
        if key in KEEP_SEGMENTS:
            return part
        if key in self._name_keys:
            return _cased(self._stand_in(key, key in self._first_like), part)
        if split := self._initial_and_name(key):
            return "".join(self._segment(piece) for piece in split)
        if len(key) <= 2:
            return _cased("".join(self._letters.get(char, char) for char in key), part)
        return _cased(self._stand_in(key, True), part)

    def _email(self, address: str) -> str:
        local, _, domain = address.rpartition("@")
        return f"{self._handle(local)}@{self._domain(domain)}"

    def _spelt_address(self, found: str) -> tuple[str, list[str]] | None:
        """A spelt-out address (SPELT_EMAIL) as the address it spells, with the separators written
        between its parts; None where the words only look like one. A bare "at" with real dots
        ("anna.berg at example.de") is an address only where the part before it is a handle or a
        known name, and never after a function word ("me at anna dot berg")."""
        labels, separators, last = [], [], 0
        for separator in _ADDRESS_SEPARATOR.finditer(found):
            labels.append(found[last:separator.start()])
            separators.append(separator.group())
            last = separator.end()
        labels.append(found[last:])
        at = next(index for index, separator in enumerate(separators) if _ADDRESS_SEPARATOR.fullmatch(separator)["at"])
        local, domain = labels[:at + 1], labels[at + 1:]
        if not (domain[-1].isalpha() and 2 <= len(domain[-1]) <= 24):
            return None  # "at 10.30"
        bare_at = separators[at].strip().lower() == "at"
        if bare_at and len(local) == 1 and fold(local[0]) in _NOT_USERNAMES | NEVER_NAMES:
            return None
        spelt = not bare_at or any(separator != "." for index, separator in enumerate(separators) if index != at)
        handle = len(local) > 1 or re.search(r"[_+\d]", local[0]) or fold(local[0]) in self._name_keys \
            or local[0].lower() in self._usernames
        if not (spelt or handle):
            return None
        return f"{'.'.join(local)}@{'.'.join(domain)}", separators

    def _spelt_email(self, found: str) -> str | None:
        """The stand-in address spelt the way the original was: ``lena dot moser at example dot org``."""
        spelt = self._spelt_address(found)
        if spelt is None:
            return None
        address, separators = spelt
        local, domain = self._email(address).rsplit("@", 1)
        at = len(address.split("@")[0].split("."))  # separators[at - 1] is the "at"
        local_labels, domain_labels = local.split("."), domain.split(".")
        if len(local_labels) != at:  # a stand-in of another shape: its own dots
            local_labels = [local]
        written = local_labels[0]
        for separator, label in zip(separators[:at - 1], local_labels[1:], strict=False):
            written += separator + label
        written += separators[at - 1] + domain_labels[0]
        for label in domain_labels[1:]:
            written += separators[at] + label
        return written

    def _domain(self, domain: str) -> str:
        key = domain.lower()
        if key in PUBLIC_MAIL_DOMAINS:
            return domain
        if key not in self._domains:
            used = len(self._domains)
            self._domains[key] = STAND_IN_DOMAINS[used % len(STAND_IN_DOMAINS)] if used < len(STAND_IN_DOMAINS) \
                else f"mail{used}.example"
        return self._domains[key]

    def _phone(self, text: str) -> str | None:
        digits = re.sub(r"\D", "", text)
        if len(digits) < 9 or (_DATE_LIKE.search(text) and not _FRENCH_PHONE.fullmatch(text)):
            return None
        # the country code or the trunk prefix; a North American number has neither
        keep = 2 if text.startswith(("+", "00")) else 1 if text.startswith(("0", "(0")) else 0
        replaced = iter(digits[:keep] + self._number(digits)[keep:])
        return re.sub(r"\d", lambda _: next(replaced), text)

    def _street_name(self, name: str) -> str:
        """A street's own name, word by word, as names are: ``Elm`` of ``42 Elm Street`` the same
        stand-in wherever the file writes it."""
        return WORD.sub(lambda word: _cased(self._stand_in(fold(word.group()), False), word.group()), name)

    def _spelt_word(self, found: str) -> str | None:
        """A name spelt letter by letter, as its stand-in spelt the same way (``K-E-L-L-E-R`` ->
        ``C-O-N-N-E-R``, the stand-in of ``Keller``)."""
        letters = _spelt_letters(found)
        if letters is None or fold(letters) not in self._name_keys:
            return None
        stand_in = _cased(self._stand_in(fold(letters), fold(letters) in self._first_like), letters)
        return SPELT_WORD.fullmatch(found)["separator"].join(stand_in)

    def _postcode(self, text: str) -> str:
        return self._same_shape("postcode", text)

    def _plate(self, text: str) -> str:
        """The plate of a PLATE match; the word that names it stays."""
        written = PLATE.fullmatch(text)
        return text[:written.start("plate")] + self._same_shape("plate", written["plate"])

    def _same_shape(self, kind: str, text: str) -> str:
        """A value of the same shape, letter for letter and digit for digit, the same one wherever
        the file writes it, however spaced (``SW1A 1AA`` and ``SW1A1AA`` alike)."""
        written = re.sub(r"[\W_]", "", text)
        key = f"{kind} {written}"
        if key not in self._words:
            draw = {True: string.digits, False: string.ascii_uppercase}
            while (candidate := "".join(self._random.choice(draw[char.isdigit()]) for char in written)) == written:
                pass
            self._words[key] = candidate
        replaced = iter(self._words[key])
        return re.sub(r"[^\W_]", lambda _: next(replaced), text)

    def _zip_plus_four(self, text: str) -> str:
        """The ZIP as the same five digits elsewhere become, and its suffix."""
        return f"{self._number(text[:5])}-{self._number(text[6:])}"

    def _national_insurance_number(self, text: str, club_number: bool) -> str:
        """``club_number``: a word before says it is a booking's, an order's or a member's."""
        if club_number or text[:2] in self._booking_letters:  # "BK123456A": the club's letters stay
            return self._digit_for_digit(text)
        return self._same_shape("national insurance number", text)

    def _document_number(self, text: str) -> str:
        """Every group of an identity or tax document's number: its digits as the same number
        elsewhere becomes (``12 345 678 901`` and ``12345678901`` alike), its letters drawn anew."""
        letters = re.sub(r"[^A-Z]", "", text)
        replaced = iter(self._same_shape("document letters", letters) if letters else "")
        return re.sub(r"[A-Z]", lambda _: next(replaced), self._digit_for_digit(text))

    def _spanish_id(self, text: str, club_number: bool) -> str | None:
        """A DNI's or NIE's digits as the same number elsewhere becomes, with the letter that checks
        them (the original's beside new digits would tell their remainder); None where the letter
        checks no number (an order number and its item's letter). ``club_number``: a word before
        says it is a member's or an order's number, whose letter is the club's and stays."""
        if club_number:
            return self._digit_for_digit(text)
        written = SPANISH_ID.fullmatch(text)
        prefix = str("XYZ".index(written["nie"])) if written["nie"] else ""
        digits = re.sub(r"\D", "", written["nie_digits"] or written["dni_digits"])
        if _DNI_LETTERS[int(prefix + digits) % 23] != written["letter"]:
            return None
        stand_in = self._number(digits)
        replaced = iter(stand_in)
        return re.sub(r"\d", lambda _: next(replaced), text[:written.start("letter")]) \
            + _DNI_LETTERS[int(prefix + stand_in) % 23]

    def _birth_date(self, text: str, language: str, maybe_booking: bool) -> str | None:
        """A date of birth (``_birth_date_spans``) as a stand-in date written the same way (its
        order, separators, zero padding, a month's name or abbreviation in its birth word's
        ``language`` and case, an ordinal's ending for its day); the same date, however written, the
        same stand-in. None where it may be a booking's and is of the last ``_BOOKING_YEARS``."""
        written = DATE_OF_BIRTH.fullmatch(text)
        fields = {name[:-1] if name[-1].isdigit() else name: written.span(name) for name in written.groupdict()
                  if written[name] is not None and re.fullmatch(r"(?:day|month|year|name|ordinal)\d?", name)}
        day = int(text[slice(*fields["day"])])
        year = int(text[slice(*fields["year"])])
        if year < 100:
            year += 2000 if year <= date.today().year % 100 else 1900
        if maybe_booking and year > date.today().year - _BOOKING_YEARS:
            return None
        if "name" in fields:
            month, names = _month(text[slice(*fields["name"])], language)
        else:
            month = int(text[slice(*fields["month"])])
        key = (year, month, day)
        if key not in self._birth_dates:
            # day and month both up to 12: valid whichever of the first two numbers a reader takes for the day
            self._birth_dates[key] = (year + self._random.choice((-2, -1, 1, 2)), self._random.randint(1, 12),
                                      self._random.randint(1, 12))
        stand_in_year, stand_in_month, stand_in_day = self._birth_dates[key]

        def digits(value: int, field: str) -> str:  # as wide as written: "3", "03", "09", "2009"
            width = fields[field][1] - fields[field][0]
            return f"{value % 10 ** width if field == 'year' else value:0{width}d}"

        values = {"day": digits(stand_in_day, "day"), "year": digits(stand_in_year, "year")}
        if "name" in fields:
            values["name"] = _cased(names[stand_in_month - 1].split()[0], text[slice(*fields["name"])])
        else:
            values["month"] = digits(stand_in_month, "month")
        if "ordinal" in fields:  # "3rd" becomes "11th", the French "1er" a plain "11"
            ordinal = text[slice(*fields["ordinal"])]
            english = {1: "st", 2: "nd", 3: "rd"}.get(stand_in_day, "th")
            values["ordinal"] = ("er" if stand_in_day == 1 else "") if fold(ordinal) == "er" else _cased(english, ordinal)
        pieces, done = [], 0
        for field, (start, end) in sorted(fields.items(), key=lambda item: item[1]):
            pieces += [text[done:start], values[field]]
            done = end
        return "".join(pieces) + text[done:]

    def _iban(self, text: str) -> str | None:
        """An IBAN's digits (check digits, bank code, account) as one number; its country stays."""
        digits = re.sub(r"\D", "", text)
        if len(digits) < 10:
            return None  # a product code of the same shape, not an account
        replaced = iter(self._number(digits))
        return text[:2] + re.sub(r"\d", lambda _: next(replaced), text[2:])

    def _reference(self, text: str) -> str | None:
        """A labelled booking reference written another way (``SQ2207`` for ``SQ-2207``)."""
        written = REFERENCE.fullmatch(text)
        if (fold(written["letters"]), written["digits"]) not in self._reference_keys:
            return None
        return text[:written.start("digits")] + self._number(written["digits"])

    def _grouped_number(self, text: str) -> str | None:
        """A number of the file written in groups (``4821 3377`` for ``48213377``), digit for digit."""
        return self._digit_for_digit(text) if re.sub(r"\D", "", text) in self._stated_numbers else None

    def _spaced_number(self, text: str) -> str | None:
        return self._digit_for_digit(text) if _spaced_number(text) else None

    def _digit_for_digit(self, text: str) -> str:
        replaced = iter(self._number(re.sub(r"\D", "", text)))
        return re.sub(r"\d", lambda _: next(replaced), text)

    def _stated_number_spans(self, text: str) -> Iterator[tuple[int, int]]:
        """In each run of digit groups, the runs of two groups or more as long as a number of the
        file, longest first from each group (``Court 3 4821 3377`` holds ``4821 3377``): a candidate
        per group and length, so a long run costs linear time."""
        if not self._stated_lengths:
            return
        longest = max(self._stated_lengths)
        for run in DIGIT_GROUPS.finditer(text):
            groups = [match.span() for match in _DIGITS.finditer(text, run.start(), run.end())]
            for first, (start, _) in enumerate(groups):
                candidates, digits = [], 0
                for last in range(first, len(groups)):
                    digits += groups[last][1] - groups[last][0]
                    if digits > longest:
                        break
                    if last > first and digits in self._stated_lengths:
                        candidates.append((start, groups[last][1]))
                yield from reversed(candidates)

    def _number(self, digits: str) -> str:
        if digits not in self._numbers:
            taken = set(self._numbers.values()) | self._originals | {digits}
            for _ in range(1000):  # few numbers of one length may be free: then a repeat is allowed
                first = "0" if digits[0] == "0" and len(digits) > 1 else self._random.choice("123456789")
                candidate = first + "".join(self._random.choice(string.digits) for _ in digits[1:])
                if candidate not in taken:
                    break
            self._numbers[digits] = candidate
        return self._numbers[digits]


def _spans(pattern: re.Pattern) -> Callable[[str], Iterable[tuple[int, int]]]:
    return lambda text: [match.span() for match in pattern.finditer(text)]


def _club_number_cued_spans(pattern: re.Pattern) -> Callable[[str], Iterable[tuple[int, int, bool]]]:
    """Each match with whether a word right before makes it the club's number (``_CLUB_NUMBER_CUE``)."""
    return lambda text: [(*match.span(), bool(_CLUB_NUMBER_CUE.search(text, max(0, match.start() - 40), match.start())))
                         for match in pattern.finditer(text)]


def _document_number_spans(text: str) -> Iterator[tuple[int, int]]:
    """The number of each DOCUMENT_NUMBER with four digits or more ("passport 2 weeks ago" is none)."""
    for match in DOCUMENT_NUMBER.finditer(text):
        if sum(char.isdigit() for char in match["number"]) >= 4:
            yield match.span("number")


def _street_name_spans(text: str) -> Iterable[tuple[int, int]]:
    return [match.span("name") for pattern in STREETS for match in pattern.finditer(text)]


def _month(written: str, language: str) -> tuple[int, tuple[str, ...]]:
    """The number of a month's name as written and the list it is from (the names or the
    abbreviations of one language), looked for in the birth cue's language first ("Mai" is German
    and French, "mar" English and Spanish)."""
    key = fold(written)
    for each in (language, *MONTH_NAMES):
        for names in (MONTH_NAMES[each], MONTH_ABBREVIATIONS[each]):
            for month, spellings in enumerate(names, start=1):
                if key in map(fold, spellings.split()):
                    return month, names
    raise ValueError(f"no month: {written}")


def _spelt_letters(found: str) -> str | None:
    """The word a SPELT_WORD run spells, where it reads as a name spelt out: three letters or more
    between hyphens; four or more capitals between spaces, with a vowel and not in alphabetical
    order ("courts A B C D" is a list); none a word that is never a name; else None."""
    written = SPELT_WORD.fullmatch(found)
    letters = re.sub(r"[\W_]", "", found)
    hyphens = "-" in written["separator"]
    if len(letters) < (3 if hyphens else 4) or not (letters.isupper() or (hyphens and letters.islower())):
        return None
    if not hyphens and (list(letters) == sorted(set(letters)) or not re.search("[AEIOUY]", fold(letters).upper())):
        return None
    return None if fold(letters) in NOT_NAMES else letters


def _spelt_word_spans(text: str) -> Iterable[tuple[int, int]]:
    return [match.span() for match in SPELT_WORD.finditer(text) if _spelt_letters(match.group())]


def _cued_number_spans(text: str) -> Iterator[tuple[int, int]]:
    """Five to twelve digits in groups right after a word that names a number ("member number 48 213",
    "Nr. 12 34 56 78"); past six digits only in spaces, as people space a member number to read it
    out: not a date ("ref 14 06 2025") nor the club's invoice ("Rechnung Nr. 2026-4471")."""
    for match in CUED_NUMBER.finditer(text):
        digits = sum(char.isdigit() for char in match.group())
        if (5 <= digits <= 6 or (digits <= 12 and "-" not in match.group() and not _SPACED_DATE.fullmatch(match.group()))) \
                and NUMBER_CUE.search(text, max(0, match.start() - 30), match.start()):
            yield match.span()


def _card_number_spans(text: str) -> Iterator[tuple[int, int]]:
    for match in CARD_NUMBER.finditer(text):
        digits = [int(char) for char in reversed(match.group()) if char.isdigit()]
        checksum = sum(digit if index % 2 == 0 else (digit * 2 - 9 if digit > 4 else digit * 2)
                       for index, digit in enumerate(digits))
        if 13 <= len(digits) <= 19 and checksum % 10 == 0:
            yield match.span()


def _birth_date_spans(text: str) -> Iterator[tuple[int, int, str, bool]]:
    """Each date of birth's span (the birth word stays), with the language of its birth word (a
    month's name is read and its stand-in written in it: "mai" is German and French) and whether a
    booking's date may stand there: beside a birthday, or before the birth word ("14.06.2026 (date
    of birth required)"). The date alone, so that a word between stays as it is written."""
    for pattern in (BIRTH_DATE, BIRTH_DATE_BEFORE_ITS_CUE):
        for match in pattern.finditer(text):
            language = next(language for language in MONTH_NAMES if match[language])
            maybe_booking = pattern is BIRTH_DATE_BEFORE_ITS_CUE or bool(_BIRTHDAY.fullmatch(match["cue"]))
            yield *match.span("date"), language, maybe_booking


def _sort_code_spans(text: str) -> Iterator[tuple[int, int]]:
    """A UK bank's sort code (``20-00-00``) after the words "sort code" or beside an account's eight
    digits ("20-00-00 12345678", "account 12345678 / 20-00-00"); alone it is as often a date
    ("14-06-25")."""
    for match in _SORT_CODE.finditer(text):
        start, end = match.span()
        if (_SORT_CODE_CUE.search(text, max(0, start - 20), start) or _ACCOUNT_AFTER.match(text, end)
                or _ACCOUNT_BEFORE.search(text, max(0, start - 16), start)):
            yield start, end


def _spelt_email_spans(text: str) -> Iterable[tuple[int, int]]:
    if not _AT_HINT.search(text):  # most texts: a fifth of the time SPELT_EMAIL takes to say so
        return ()
    return (match.span(1) for match in SPELT_EMAIL.finditer(text))


def pseudonymise_rows(rows: list[dict], *, usernames: Iterable[str] = (), names: Iterable[str] = (),
                      seed: int | None = None) -> list[dict]:
    """Rows of one file, pseudonymised with one mapping. ``usernames`` and ``names``: values the
    rows mention outside their label columns (e.g. a model's answer the operator corrected)."""
    mapper = Pseudonymiser(seed)
    for row in rows:
        mapper.learn(row)
    mapper.learn({}, usernames=usernames, names=names)
    return [mapper.row(row) for row in rows]
