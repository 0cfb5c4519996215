#!/usr/bin/env python3
"""Generate clonekit's bundled demo data: fictional chat exports plus a small tokenizer.

    python scripts/make_sample_data.py            # rewrites builder/sample_data/
    python scripts/make_sample_data.py --check    # exit 1 if the committed files differ

The persona "Sam" (a UX designer in Leeds) chats with invented contacts: a partner (Alex,
about 70% of all messages, as in real exports), Mum, a sister, a boss, a friend, and a
quiz-team group. Every chat is written in the exact shape a real exporter writes
(../shared/CHAT_FORMATS.md sections 1-3):

    WhatsApp Chat with Alex.txt          WhatsApp Android, en-GB 24h, LF
    WhatsApp Chat with Helen Marsh.txt   WhatsApp Android, en-GB 24h, LF
    WhatsApp Chat - Mum.zip              WhatsApp iOS, en-US 12h with U+202F, CRLF, _chat.txt
    WhatsApp Chat - Jess.zip             WhatsApp iOS
    telegram/ChatExport_2024-12-01/result.json      Telegram Desktop, single chat
    discord/<guild> - <category> - <channel> [id].json   DiscordChatExporter JSON

Conversations come from a small dialogue grammar (topics -> turns -> bursts) with slot
fillers, so they are coherent enough to learn a voice from and varied enough that exact
deduplication keeps nearly all of them. Everything is seeded: the same Python gives the
same bytes (zip timestamps are fixed). Names are invented, phone numbers come from the
ranges reserved for fiction (+44 7700 900xxx, +1 555-01xx) and e-mails use example.com.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterable

SEED = 20240601
START = date(2023, 1, 9)
END = date(2024, 11, 30)  # inclusive; exports were made the next morning
EXPORTED_AT = datetime(2024, 12, 1, 10, 14, 37)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "builder" / "sample_data"
EXPORTS_ZIP = "demo_exports.zip"
TOKENIZER_JSON = "tokenizer.json"
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
VOCAB_SIZE = 8000

ME = "me"
THEM = "them"

# Names as each export shows them.
SAM_WHATSAPP = "Sam"
SAM_TELEGRAM = "Sam Kellett"
SAM_DISCORD_NAME, SAM_DISCORD_NICK = "samkellett", "Sam"

DISCORD_GUILD = "The Quizzly Bears"
DISCORD_CATEGORY = "Text Channels"
DISCORD_CHANNEL = "general"
DISCORD_GUILD_ID = "1093184466722181120"
DISCORD_CHANNEL_ID = "1093184467250663485"
DISCORD_CATEGORY_ID = "1093184467250663484"
TELEGRAM_FOLDER = "telegram/ChatExport_2024-12-01"


# --------------------------------------------------------------------------------------
# Messages


@dataclass
class Msg:
    who: str  # ME, THEM, or a group member's name
    text: str
    kind: str = "text"  # text | media | deleted | system | call
    media: str = ""  # photo | video | voice | sticker | gif | document
    edited: bool = False
    reply: bool = False  # answers the previous message of someone else (Telegram/Discord)
    ts: datetime = field(default_factory=lambda: datetime(2000, 1, 1))
    extra: dict = field(default_factory=dict)


def turn(who: str, *parts: str) -> list[tuple[str, str]]:
    """One speaker's turn; a part containing '||' becomes a burst of several messages."""
    out: list[tuple[str, str]] = []
    for part in parts:
        out.extend((who, p.strip()) for p in part.split("||") if p.strip())
    return out


class Gen:
    """Seeded slot filler. ``g.p(seq)`` picks one, ``g.f(template)`` fills {slots}."""

    def __init__(self, seed: int):
        self.r = random.Random(seed)

    def p(self, seq):
        return seq[self.r.randrange(len(seq))]

    def chance(self, x: float) -> bool:
        return self.r.random() < x

    def f(self, template: str, memo: dict[str, str] | None = None) -> str:
        out = template
        for _ in range(3):  # slots may expand into slots
            if "{" not in out:
                break
            out = _fill_once(self, out, {} if memo is None else memo)
        return out


# Slots that keep one value through a dialogue ("move our 1:1 to {Day}" -> "{Day} works").
STICKY = {"WkDay", "work_time", "Day", "day", "client", "show", "walk", "place", "occasion", "relative", "book", "bake",
          "time", "late_time", "takeaway", "hobby_place", "grade", "pub", "phone_uk", "url_id"}


def _fill_once(g: Gen, text: str, memo: dict[str, str]) -> str:
    pieces: list[str] = []
    i = 0
    while i < len(text):
        j = text.find("{", i)
        if j < 0:
            pieces.append(text[i:])
            break
        k = text.find("}", j)
        pieces.append(text[i:j])
        key = text[j + 1 : k]
        if key in memo:
            pieces.append(memo[key])
        elif key in SLOTS:
            val = SLOTS[key]
            picked = val(g) if callable(val) else g.p(val)
            if key in STICKY:
                memo[key] = picked
            pieces.append(picked)
        else:
            raise KeyError(f"unknown slot {{{key}}} in {text!r}")
        i = k + 1
    return "".join(pieces)


SLOTS: dict[str, list[str] | Callable[[Gen], str]] = {
    "food": ["pasta", "a curry", "stir fry", "tacos", "fish finger sandwiches", "risotto",
             "jacket potatoes", "that halloumi traybake", "pizza", "a roast", "shakshuka",
             "bangers and mash", "ramen", "chilli", "fajitas", "soup and crusty bread",
             "katsu curry", "lasagne", "a big salad", "beans on toast", "dahl", "noodles",
             "pie and peas", "gnocchi", "burgers"],
    "takeaway": ["the thai place", "the chippy", "pizza", "the good indian", "sushi",
                 "the burrito place", "chinese"],
    "item": ["milk", "eggs", "bread", "oat milk", "bananas", "loo roll", "cat food",
             "teabags", "butter", "onions", "garlic", "pasta", "cheddar", "tinned tomatoes",
             "coriander", "lemons", "washing up liquid", "bin bags", "coffee", "yoghurt",
             "spinach", "peppers", "rice", "chickpeas", "halloumi", "crumpets", "apples",
             "flour", "chocolate 👀", "wine", "limes", "ginger", "tortilla wraps"],
    "show": ["Murder at Millbrook", "The Lighthouse Keepers", "Salt & Stone",
             "Night Shift Diaries", "Frontier Kitchen", "The Quiet Valley",
             "Harbour Lights", "Bake Club", "Tidewater", "The Glasshouse"],
    "day": ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
    "wkday": ["monday", "tuesday", "wednesday", "thursday", "friday"],
    "WkDay": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
    "work_time": ["9", "10", "half 10", "11", "2", "3", "half 3", "4"],
    "Day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "time": ["6", "half 6", "7", "quarter past 7", "half 7", "8", "about 6ish", "5:45",
             "half 5", "6:15", "7ish", "ten to 7"],
    "late_time": ["9", "half 9", "10", "11", "gone 11", "half 10", "midnight"],
    "reason": ["train's delayed again", "meeting overran", "the bus didn't turn up",
               "got stuck on a call", "popped into the shop", "signal failure at the station",
               "traffic on the ring road is mad", "helping Ravi fix the printer"],
    "mins": ["10", "15", "20", "5", "25", "30"],
    "weather": ["it's chucking it down 🌧️", "absolutely roasting today ☀️",
                "so windy my umbrella turned inside out", "freezing this morning 🥶",
                "foggy as anything", "actually sunny?? in leeds??",
                "grey and drizzly as usual", "hailing?? in may??", "frosty out, mind the step"],
    "feeling": ["knackered", "shattered", "alright actually", "a bit meh", "pretty good",
                "running on coffee", "dead on my feet", "weirdly energetic"],
    "work_thing": ["the client presentation", "user testing", "the sprint review",
                   "a three hour workshop", "back to back calls", "the new onboarding flow",
                   "the wireframes for Orchard", "feedback session with the devs",
                   "the design critique", "redoing the icons for the third time"],
    "client": ["Orchard", "Fernway", "Lumen Bank", "Pebble Health", "Northgate Rail",
               "Kitebrook", "Marlowe & Co"],
    "place": ["the Crooked Fox", "the Lantern", "that new tapas place", "the park",
              "Roundhay", "the market", "the canal", "the Otley Run", "the Fleece",
              "the climbing wall", "the garden centre", "the cinema"],
    "pub": ["the Crooked Fox", "the Lantern", "the Fleece", "the Pig & Whistle",
            "the Old Bell", "the Anchor"],
    "walk": ["Ilkley Moor", "Otley Chevin", "Malham", "the canal path", "Roundhay Park",
             "Golden Acre", "Bolton Abbey", "Hebden Bridge"],
    "occasion": ["Dad's birthday", "Easter", "the bank holiday", "Christmas",
                 "Auntie Carol's 60th", "Sunday lunch", "Grandma's birthday"],
    "relative": ["Auntie Carol", "Uncle Pete", "Grandma", "cousin Lily", "Auntie Jan"],
    "cat_act": ["sat in the sink again", "knocked a glass off the side",
                "asleep on your jumper", "screaming at a pigeon", "stuck in the wardrobe",
                "judging me from the top of the fridge", "zoomies at 3am",
                "brought a leaf in and is very proud"],
    "bill": ["council tax", "the electric", "the internet", "water bill", "car insurance",
             "the rent", "tv licence"],
    "amount": lambda g: f"{g.r.randint(18, 140)}.{g.r.randrange(0, 100, 5):02d}",
    "num": lambda g: str(g.r.randint(2, 9)),
    "score": lambda g: str(g.r.randint(31, 58)),
    "place_n": lambda g: g.p(["2nd", "3rd", "4th", "5th", "6th", "last", "2nd", "3rd"]),
    "phone_uk": lambda g: f"+44 7700 900{g.r.randint(0, 999):03d}",
    "phone_us": lambda g: f"+1 555-01{g.r.randint(0, 99):02d}",
    "url_id": lambda g: "".join(g.p("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(7)),
    "sam_emoji": ["🙈", "😅", "✨", "😂", "🥲", "☕"],
    "alex_emoji": ["😘", "🥰", "❤️", "😍", "💕", "😊"],
    "haha": ["haha", "hahaha", "haha", "ha", "hahah"],
    "yes": ["yes", "yeah", "yep", "yess", "ok yes", "defo"],
    "ok": ["ok", "okay", "ok cool", "sounds good", "perfect", "sorted", "grand"],
    "love": ["love you", "love you x", "love you lots", "love ya", "lv u"],
    "pet_name": ["babe", "love", "hun", "you", "sam"],
    "game": ["Stardew", "Mario Kart", "the new Zelda", "Hades", "Overcooked",
             "Rocket League", "Valheim", "Civ"],
    "team": ["Leeds", "the Rhinos", "the five-a-side lot", "United", "the Tykes"],
    "book": ["The Salt Orchard", "A Map of Small Places", "Paper Lanterns",
             "The Long Quiet", "Seven Winters", "The Cartographer's Daughter"],
    "hobby_place": ["the wall", "the bouldering place", "Depot", "the climbing centre"],
    "grade": ["V3", "V4", "a purple", "the overhang", "that blue one", "a V5 (nearly)"],
    "bake": ["sourdough", "banana bread", "focaccia", "cinnamon buns", "a lemon drizzle",
             "flapjacks", "brownies", "bagels"],
    "quiz_round": ["music", "geography", "sport", "history", "film", "picture",
                   "general knowledge", "science", "anagrams"],
    "team_name": ["Quizteama Aguilera", "Les Quizerables", "Agatha Quiztie",
                  "The Quizzly Bears", "Universally Challenged", "Tequila Mockingbird",
                  "Quiz Khalifa", "Sherlock Homies", "Let's Get Quizzical"],
}


# --------------------------------------------------------------------------------------
# Sam's voice: mostly lowercase, short bursts, "haha", a few emoji, British spelling.


def sam_casual(g: Gen, text: str, *, kisses: bool = False) -> str:
    if text.startswith(("http", "<")) or "\n" in text:
        return text
    t = text
    first_word = t.split(" ", 1)[0]
    if t[:1].isupper() and not (len(first_word) > 1 and first_word.isupper()) and not t.startswith(("I ", "I'", "Miso", "Alex", "Priya", "Jess", "Mum",
                                            "Dad", "Dev", "Tom", "OK", "OMG")):
        t = t[0].lower() + t[1:]
    t = t.replace(" I ", " i ").replace(" I'", " i'")
    if t.startswith(("I ", "I'")):
        t = "i" + t[1:]
    if t.endswith(".") and not t.endswith(".."):
        t = t[:-1]
    x = g.r.random()
    if x < 0.06 and not t.endswith(("?", "!")):
        t += " " + g.f("{haha}")
    elif x < 0.15:
        t += " " + g.f("{sam_emoji}")
    if g.chance(0.03) and len(t) > 15:
        t = g.p(["ngl ", "honestly ", "tbh "]) + t
    if kisses and g.chance(0.08) and not t.endswith("x") and " x " not in t:
        t += " x"
    return t


def sam_formal(g: Gen, text: str) -> str:
    return text


# --------------------------------------------------------------------------------------
# Topics. Each returns a list of (who, text); text markers: "<photo>" etc. for media.

Convo = list[tuple[str, str]]


def media(kind: str) -> str:
    return f"<{kind}>"


# A script is a small dialogue: one line per turn, "M:" Sam, "T:" the contact; a leading
# "?" makes the turn optional; " ~ " separates alternatives that all fit the same place;
# "||" splits a turn into a burst of messages; a literal backslash-n is a line break inside
# one message; {slots} are filled per message.


def script(g: Gen, text: str) -> Convo:
    out: Convo = []
    memo: dict[str, str] = {}
    for line in text.strip().splitlines():
        line = line.strip()
        if line.startswith("?"):
            if not g.chance(0.55):
                continue
            line = line[1:]
        who_code, _, alts = line.partition(":")
        who = {"M": ME, "T": THEM}[who_code.strip()]
        out += turn(who, g.f(g.p(alts.split(" ~ ")), memo).replace("\\n", "\n"))
    return out


def scripted(*scripts: str) -> Callable[[Gen], Convo]:
    def topic(g: Gen) -> Convo:
        return script(g, g.p(scripts))
    return topic


# ---- partner (Alex, a nurse on shifts) ----

p_morning = scripted(
    """T: morning sleepyhead ☀️ ~ Morning {pet_name} x ~ morning! did you sleep ok?
    M: morning 🥱 || slept like a log haha ~ morning x || not really, Miso was {cat_act} ~ morning || need coffee immediately ☕
    ?T: Haha poor you x ~ Coffee is in the cupboard above the kettle x ~ have a good day {pet_name} 😘
    ?M: {love} ~ x ~ you too x""",
    """T: Morning!! made it to work? ~ morning x how's the commute
    M: made it in || the 8:12 was rammed again ~ just about || {weather} ~ yes!! got a seat for once ✨
    ?T: Good luck today x ~ Ugh same, {weather} ~ don't forget {work_thing} is today!
    ?M: thanks x ~ oh god i'd forgotten || thanks 🙈 ~ {love}""",
    """M: morning! you left before i woke up 🥲 ~ morning x || you were up early
    T: Sorry didn't want to wake you x ~ early start on the ward 😩
    ?M: you're too nice || have a good shift x ~ text me on your break x""",
    """M: morning || how was the night shift? ~ you home yet? x
    T: long night, just got home 😴 ~ Bit mad tbh. Going to bed x ~ Quiet for once!
    M: get some sleep x ~ i'll be quiet when i get in || promise ~ sleep well x || {love}""",
    """M: you left the kettle on haha || don't worry i turned it off ~ you left your keys on the side 🙈
    T: oops 🙈 thank you x ~ omg I'm a mess ~ what would I do without you
    ?M: {haha} || {love} ~ starve probably""",
)

p_shift = scripted(
    """T: On a late again tonight 😩 won't be back till {late_time} ~ Got asked to stay on, short staffed again ~ Long day on the ward, feet are killing me
    M: noo || i'll keep the bed warm x ~ ugh that's rubbish || i'll save you some tea ~ they take the mick honestly || {love} ~ you're a hero || bath when you get in?
    ?T: You're the best x ~ Just need sleep tbh 😴 ~ Bath sounds amazing""",
    """T: They've put me on nights next week || all of them
    M: noooo ~ ugh again?? ~ that's so rubbish
    T: I know 😩 ~ I'll survive ~ At least it's extra money
    ?M: i'll do you packed lunches ✨ ~ we'll do something nice the week after x""",
    """T: Swapped my {Day} shift so we can do something x
    M: yesss ✨ what shall we do? ~ amazing!! {walk}?
    T: Let's go to {place}? ~ Sleep first 😂 then {walk}
    ?M: {ok} ~ deal x ~ sounds perfect""",
    """M: do you want me to pick you up after your shift? ~ want a lift home tonight?
    T: Yes please 🥺 ~ Would you? I finish at {late_time} ~ No it's ok, getting a lift with Maya
    M: {ok} || text me when you're out ~ no problem x""",
)

p_dinner = scripted(
    """M: what do you fancy for tea tonight? ~ any thoughts on dinner? ~ what are we having for tea?
    T: Ooh {food}? ~ Could we just get {takeaway}? 🥺 ~ Not fussed, surprise me x ~ Can we do {food}, had a rubbish day
    M: {ok} || i'll grab {item} on the way home ~ deal x ~ ok but you're washing up haha ~ {yes} || i'll start it about {time}""",
    """T: shall I do {food} tonight? ~ I'm making {food}, home for {time}?
    M: {yes} please x ~ ooh lovely || i'll be back about {time} ~ you're the best
    ?T: 😘 ~ Perfect ~ Don't be late!""",
    """T: Tea tonight: {food} or {food}? ~ What do you fancy for tea?
    M: i was thinking {food} || we need {item} though ~ whatever's easiest tbh ~ honestly beans on toast and an early night 😅
    T: Done! I'll pick up bits on the way ~ Perfect x ~ Love that idea
    ?M: {time} hopefully ~ about {time} ~ leaving now x""",
    """M: i've eaten my lunch at 10:30 again ~ what did you have for lunch?
    T: Haha every time ~ Toast at 3pm 😩 ~ Didn't get a break...
    M: {haha} classic ~ i'll make something nice tonight x ~ we're having {food} then, no arguments""",
    """T: Too tired to cook 🥲 ~ can we get a takeaway tonight
    M: {takeaway}? ~ say no more || {takeaway}? ~ yes!! i'll order
    T: Yesss ~ Perfect x ~ You know me so well
    ?M: ordered, 40 mins ~ on its way ✨""",
)

p_weekend = scripted(
    """M: what are we doing {day}? ~ any plans for the weekend? ~ shall we do something {day}?
    T: I'm off! Maybe {walk}? ~ Could go to {place}? ~ Sleep 😂 and then {place}?
    M: {yes} || let's do that ~ ooh {place} sounds good ~ if the weather holds 🤞 ~ deal || i'll book a table somewhere
    ?T: Yay 🥰 ~ Can't wait x ~ Booked!""",
    """M: fancy a walk at {walk} at the weekend?
    T: Yes!! if it's nice ~ Working sat but sunday's free ~ Only if there's a pub at the end 😂
    M: perfect, i'll check the trains ~ there's always a pub ~ sunday it is
    ?T: 🥾 ~ Yay x""",
    """T: Jess wanted to meet up this weekend? x ~ Priya's asked us round {day}
    M: ooh yes i'm free ~ yes! what shall we bring? ~ can we do {day} instead?
    T: I'll ask x ~ Wine obviously 🍷 ~ Will check""",
)

p_tv = scripted(
    """M: shall we carry on with {show} tonight? ~ episode 4 of {show} tonight?
    T: Yes!! ~ Maybe one ep, I'm so tired ~ Ooh yes
    ?M: ok one ep || or three ~ popcorn is ready ~ i'll get the blanket""",
    """M: you haven't watched {show} without me have you 👀
    T: I would never 😇 ~ ...maybe 10 mins at lunch 🙈
    M: the betrayal ~ i knew it ~ cheater 😂""",
    """T: Just heard there's a new series of {show}!! ~ Have you seen the trailer for {show}?
    M: NO WAY ~ yes!! it looks so good ~ ooh when's it out?
    ?T: {Day}! ~ Next month I think ~ Date night x""",
)

p_weather = scripted(
    """M: {weather}
    T: Take the umbrella it's by the door ~ Same here! ~ Nooo ~ Wrap up warm x ~ Ugh typical""",
    """T: Is it raining where you are? ~ It's so cold on the ward today
    M: {weather} ~ chucking it down, got soaked ~ it's freezing in the office too
    ?T: Nooo ~ Hot chocolate when we're home x""",
)

p_affection = scripted(
    """T: Miss you x ~ Thinking about you x ~ Can't wait to see you later 😘 ~ I love you, that's all
    M: miss you more x ~ {love} ~ me too x ~ aw 🥰 || see you soon ~ {love} || only {num} hours to go""",
    """M: miss you x ~ hope your day's going ok x ~ thinking of you x ~ can't wait for the weekend with you ✨
    T: Miss you too {alex_emoji} ~ Love you x ~ Aw you x ~ Same {alex_emoji}""",
)

p_admin = scripted(
    """T: Did you pay {bill}? ~ Reminder {bill} is due this week
    M: yep done || £{amount} this month 🙈 ~ oh god no || doing it now ~ paid it yesterday x ~ i'll sort it tonight""",
    """T: Think {bill} went up again ~ Have you seen how much {bill} is now
    M: £{amount}?? daylight robbery ~ ugh i saw 🥲 ~ we should switch
    ?T: I'll look at switching ~ Shocking""",
)

p_climbing = scripted(
    """M: going climbing with Priya after work, back about {late_time} ~ Priya's dragging me to {hobby_place} tonight
    T: Have fun! Don't break anything x ~ Ok x I'll save you some tea ~ My little monkey 🐒""",
    """M: got {grade} at {hobby_place} tonight!! ~ finally sent {grade} ✨
    T: Yesss proud of you!! ~ Show off 😂 ~ Amazing!!""",
    """M: fingers are wrecked from {hobby_place} 🥲 ~ my arms don't work anymore
    T: Poor baby 😂 ~ Want me to run you a bath? ~ That's what you get x
    ?M: yes please 🥺 ~ rude""",
)

p_news = scripted(
    """M: Jess says hi || and she wants to know if we're coming for {occasion} ~ Mum's asking about {occasion} again
    T: Yes of course! ~ Depends on my rota 😩 ~ Tell her yes x
    ?M: i said we'd let her know ~ said yes x""",
    """M: Priya got the job!! ~ Tom's finally proposed 😭
    T: Aww amazing ~ Omg finally ~ Tell them congrats!!
    ?M: i know!! || drinks friday to celebrate""",
    """M: Dev's moving to Manchester apparently ~ Tom's leaving the quiz team 😭
    T: Noooo ~ What?? why ~ We'll miss him
    ?M: sad times 🥲 ~ new job i think""",
)

p_work_day = scripted(
    """T: How's your day going? ~ Survived today? ~ How was work x
    M: {feeling} || {work_thing} took all morning ~ long || {work_thing} and then {work_thing} ~ honestly a lot || tell you later x
    T: Ugh sorry x ~ Glass of wine tonight then 🍷 ~ Tell me everything later""",
    """T: How did {work_thing} go? ~ How did it go with {client}?
    M: not bad! went well actually ✨ ~ good!! the {client} lot liked the designs ~ they loved it 🥲
    T: Proud of you x ~ Yay!! ~ Told you x""",
)

p_goodnight = scripted(
    """T: Night {pet_name} x ~ Going to sleep, love you x ~ Night night 😴 ~ Home safe, night x
    M: night x ~ night love x 😴 ~ sleep well x ~ {love}""",
    """M: night x ~ going to bed, hope the shift's ok x ~ night love x ~ sleep well x see you in the morning
    T: Night x ~ Night {alex_emoji} ~ Love you x""",
)

p_running_late = scripted(
    """M: running late, {reason} || home by {time} ~ gonna be about {mins} mins late sorry ~ {reason} 🙄 || sorry x
    T: No worries x ~ Typical 🙄 see you soon ~ Tea will be ready x ~ no rush x""",
    """T: Running late, handover took ages ~ Going to be late sorry x ~ Stuck in traffic, {mins} mins
    M: no worries x ~ no rush, {show} will wait ~ ok x drive safe ~ i'll put the oven on""",
)


def p_shopping(g: Gen) -> Convo:
    items = g.r.sample(SLOTS["item"], g.r.randint(3, 6))  # type: ignore[arg-type]
    lst = "\n".join(f"- {i}" for i in items)
    if g.chance(0.5):
        c: Convo = [(ME, g.p(["can you grab:", "could you pick up:", "shopping list for later:"]) + "\n" + lst)]
        c += script(g, """T: On it 🫡 ~ Yep! anything else? ~ Will do x ~ Got it all 🛒
        ?M: oh and {item} please ~ that's it x ~ you're a star""")
    else:
        c = script(g, "T: In Tesco, need anything? ~ At the shop, anything we need? ~ Popping to the big Sainsbury's, list?")
        c += [(ME, lst)]
        c += script(g, "T: Anything else? 😂 ~ Bossy ~ Got it x")
    return c


p_cat = scripted(
    """M: <photo>
    M: look at her 😭 ~ Miso is {cat_act} ~ your cat is {cat_act}
    T: MISO 😍 ~ she's so naughty 😂 ~ give her a squish from me ~ Why is she like this 😂""",
    """T: Has Miso been fed? she's acting like she's starving
    M: she's lying || fed her at 7 ~ she's had two breakfasts don't fall for it
    ?T: Haha knew it ~ Little liar""",
    """T: Did you give Miso her flea stuff?
    M: oh no i forgot || will do tonight ~ yep did it this morning
    ?T: Thank you x""",
    """T: Miso just brought a slug in 🤢 ~ Miso has been sick on the rug 🤢
    M: nooo 😂 || where is it now ~ oh no || sorry you had to deal with that
    ?T: I'm not looking for it 😂 ~ Cleaned it up, she's fine""",
)

p_baking = scripted(
    """M: the starter has ESCAPED the jar 😂 ~ {bake} attempt number {num}
    ?M: <photo>
    T: It's alive 😂 ~ Looks amazing ~ Yum 🤤""",
    """M: making {bake} tonight ~ do we have any flour left? want to make {bake}
    T: Save me some!! ~ We're out of flour sorry x ~ Bake for me always""",
)

p_holiday = scripted(
    """T: What about this place? https://www.example.com/stays/{url_id} ~ Found a cottage for October https://www.example.com/stays/{url_id} ~ Look!! https://www.example.org/cottages/{url_id}
    M: ooh that's gorgeous ~ how much?? 👀 ~ hot tub 👀👀 ~ can we take Miso? haha
    T: £{amount} a night ~ It's dog friendly but not cat 😂 ~ Booking it!!
    ?M: book it ✨ ~ i'll transfer you half x ~ ok sold""",
)

p_call = scripted(
    """T: <call>
    M: sorry was in a meeting, call you at {time}? ~ sorry!! in the shop, ring you back ~ missed you, everything ok?
    T: Nothing urgent x ~ Yep! just wanted to hear your voice ~ Ok x""",
    """M: <call>
    M: call me when you're on break x ~ ring me when you can, nothing bad
    T: On break in 20 x ~ Will do x""",
)

p_contact = scripted(
    """T: What's the plumber's number again? ~ Have you got the landlord's number?
    M: {phone_uk} ~ it's {phone_uk} || ask for Gary ~ landlord is {phone_uk} || email is lettings@example.com
    T: Ta x ~ Thanks {pet_name} ~ Got it""",
    """T: What's Priya's email? want to send her the photos
    M: priya.shah@example.com
    T: Ta x""",
)


def p_location(g: Gen) -> Convo:
    lat, lon = 53.79 + g.r.randint(0, 999) / 10000, -1.55 + g.r.randint(0, 999) / 10000
    c = script(g, "T: Where are you? ~ Here, by the entrance ~ Which door are you at?")
    c += [(ME, f"location: https://maps.google.com/?q={lat:.6f},{lon:.6f}")]
    c += script(g, "T: Coming! ~ Omw x ~ See you")
    return c


def p_rant(g: Gen) -> Convo:
    c: Convo = [(ME, g.p([
        "ok so\n{client} want the whole thing redone\nthe WHOLE thing\nafter we signed it off 🙃",
        "update:\nthe train was cancelled\nthe replacement bus was full\ni am walking home in the rain",
        "things i have done today:\n- fixed the wifi\n- made {bake}\n- lost to Miso in a staring contest",
        "so the landlord finally replied\nhe says the boiler man can come {day}\nbetween 8 and 6 🙄",
    ]))]
    c += script(g, """T: Noooo 😂 ~ Oh no 😭 ~ Hero x ~ Classic
    M: {haha} || anyway ~ living the dream ~ it's fine everything is fine ~ right then || onwards""")
    return c


PARTNER_TOPICS: list[tuple[Callable[[Gen], Convo], float]] = [
    (p_dinner, 9), (p_shift, 4), (p_shopping, 4), (p_running_late, 4), (p_cat, 5),
    (p_weekend, 4), (p_tv, 4), (p_weather, 3), (p_affection, 6), (p_admin, 2),
    (p_climbing, 3), (p_baking, 2), (p_holiday, 1.5), (p_news, 3), (p_call, 2),
    (p_contact, 0.7), (p_location, 0.8), (p_work_day, 6), (p_rant, 1.5),
]


# Topics that only make sense at some times of day: (from hour, to hour).
TOPIC_HOURS = {p_work_day: (15, 24), p_dinner: (11, 20), p_running_late: (16, 20), p_tv: (12, 22),
               p_shopping: (12, 20), p_rant: (12, 24)}


# ---- Mum: full sentences, capitals, "Love Mum xx" ----

MUM_TOPICS = [
    (scripted(
        """T: Are you free for a call on Sunday love? ~ Are you about for a chat this evening?
        M: yes! after lunch? x ~ can we do {time}? x ~ yep any time after 2 x
        T: Lovely. Speak then xx ~ Perfect 👍 Love Mum xx ~ Ok love 😊""",
        """T: Can we FaceTime later? Dad wants to show you the shed.
        M: haha yes, about {time}? x ~ go on then 😂
        T: Lovely xx ~ He's very proud of it."""), 3),
    (scripted(
        """T: Dad's been in the garden all day. The tomatoes are coming on nicely 🍅 ~ Dad fixed the gate at last! Only took him 3 years 😂
        ?T: <photo>
        M: haha tell him well done x ~ amazing 😂 ~ classic Dad""",
        """T: Your Dad has bought ANOTHER bird feeder... ~ Dad's joined a walking group. He's bought poles.
        M: he's obsessed haha ~ of course he has 😂 ~ love that || send pics x
        ?T: I'll send you a photo. ~ Don't encourage him!"""), 3),
    (scripted(
        """T: <photo>
        T: Biscuit after his walk. Muddy boy! ~ Biscuit says hello 🐶 ~ Look who got a new toy
        M: BISCUIT 😍 ~ give him a cuddle from me ~ good boy!!""",
        """T: Biscuit has eaten one of Dad's slippers...
        M: ha he looks so guilty in every photo ~ good boy 😂 ~ not the slippers!!
        T: Dad is not amused. ~ He's in the doghouse 😂"""), 2),
    (scripted(
        """T: Are you and Alex coming up for {occasion}? ~ Don't forget {occasion} is coming up!
        M: yes! Alex is off so we'll come friday night x ~ hopefully! Alex might be working though ~ we'll be there x
        T: Lovely! I'll make up the spare room 😊 ~ That's fine love, just let me know. ~ Wonderful. I'll do a roast xx""",
        """T: When are we seeing you next love?
        M: can we come the weekend after next? work is mad ~ soon i promise x || maybe {day} week?
        T: That's fine. Dad will pick you up from the station. ~ Ok love. Let me know xx"""), 2),
    (scripted(
        """T: How's work going love? ~ Hope you're not working too hard. x
        M: busy but good x ~ a bit tired but fine x || how are you? ~ good! {work_thing} went well this week
        ?T: Good. Don't overdo it. Love Mum xx ~ We're fine. Dad's knee is playing up again but otherwise ok.""",
        """T: Are you eating properly? 😊 ~ Are you both well?
        M: yes Mum 😂 made {food} last night ~ all good here! Alex is on nights this week
        ?T: Good. Make sure Alex gets some rest too xx ~ Glad to hear it 😊"""), 4),
    (scripted(
        """T: Hi love,\\nJust to let you know {relative} is in hospital for her hip. She's fine, just a bit sore.\\nI'll keep you posted.\\nLove Mum xx
        M: oh no, send her my love x ~ thanks for letting me know x || is she ok?
        ?T: She's fine, just grumpy about the food. xx""",
        """T: Hello both,\\nWe've booked the cottage for the summer. It sleeps 6 so you're both very welcome.\\nDates are the last week of July.\\nLet me know!\\nMum xx
        M: ooh yes please!! will check with Alex x ~ that sounds lovely x""",
        """T: Sam,\\nCan you send me that recipe for the {bake}? Mine came out flat.\\nThanks love\\nxx
        M: will send it tonight x ~ it's all about the oven temp || will send it x
        ?M: https://www.example.com/recipes/{url_id}""",
        """T: Morning!\\nDad's birthday is on the 14th. We're thinking a meal at {pub}.\\nAre you free?\\nxx
        M: yes we're free!! x ~ we'll be there x"""), 1.5),
    (scripted(
        """T: Did you get my parcel? ~ Has the parcel come yet? It says delivered.
        M: yes!! thank you x ~ not yet, will keep an eye out ~ it came! Miso has already claimed the box 😂""",
        """T: I've posted your birthday card, let me know when it arrives.
        M: will do x ~ it came today!! thank you x"""), 1),
    (scripted(
        """T: Don't forget it's {relative}'s birthday on {Day}. ~ Remember to ring {relative}, she's been asking after you.
        M: thanks for the reminder x ~ will do x ~ oh thanks i'd totally forgotten 🙈""",
        """T: {relative}'s new number is {phone_uk} x
        M: saved x ~ thanks x"""), 1.2),
    (scripted(
        """T: Terrible weather here. Hope you're keeping dry. ~ Snow forecast for the weekend, be careful on the roads.
        M: {weather} ~ will do x ~ same here, got soaked this morning""",
        """T: Lovely sunny day here 😎
        M: jealous, {weather} ~ enjoy it x"""), 2),
]


# ---- Jess (younger sister): all caps, 💀, banter ----

JESS_TOPICS = [
    (scripted(
        """T: SAM what are we getting mum for her birthday ~ ok we need to sort dad's present ~ halves on a present for {occasion}??
        M: no idea || a nice plant? ~ that spa voucher thing? ~ i was gonna ask you haha
        T: a plant. groundbreaking 💀 ~ ok i'll order it, send me £{amount} ~ fine but i'm choosing the card
        ?M: sent ✨ ~ i'm broke but ok ~ deal"""), 2),
    (scripted(
        """T: did you see mum's facebook post 💀
        M: i can't 😂 ~ no what
        T: CRYING ~ go look ~ she tagged the whole family""",
        """T: why does dad text like a telegram
        M: he signs them 'Dad' as well ~ {haha} he's fine
        T: 'regards, Dad' ~ it's unhinged""",
        """T: you left your hoodie at mum's btw
        M: keep it safe for me haha ~ nooo i've been looking for that
        T: it's mine now ~ finders keepers"""), 3),
    (scripted(
        """T: <photo>
        T: this is you ~ literally us ~ SAM ~ lmaooo
        M: rude ~ {haha} accurate ~ i feel attacked ~ 🙈"""), 2),
    (scripted(
        """M: how's the new job going? ~ you alive? x
        T: ok i think!! my manager is weird ~ barely 😂 ~ busy but good
        ?M: proud of you x ~ classic""",
        """M: how did the interview go??
        T: GOT IT ~ no idea honestly
        M: yesss 🎉 ~ fingers crossed x""",
        """M: how was the gig?
        T: so good, lost my voice ~ AMAZING
        M: drink water x ~ jealous"""), 2),
    (scripted(
        """T: can i borrow your tent ~ can i borrow your car on {day} ~ can i crash at yours {day}?
        M: if you bring it back this time ~ yes x ~ hmm what's it worth ~ sure, ask Alex about the sofa
        T: love you 🥰 ~ one time!! ~ favourite sibling"""), 1),
]


# ---- Helen (boss): polite, capitalised ----

BOSS_TOPICS = [
    (scripted(
        """T: Hi Sam, are you OK to join the {client} call at {work_time} tomorrow?
        M: Hi Helen, yes that's fine. I'll bring the latest designs. ~ Yes, no problem. Is there anything specific you'd like me to prepare?
        T: Great, thanks. ~ Just the user testing summary would be ideal. Thanks.""",
        """T: Morning Sam. Could you send me the latest {client} mockups before 10?
        M: Morning! Yes, I'll send them over shortly. ~ Morning Helen, will do.
        ?T: Thanks Sam, H""",
        """T: Hi Sam, quick one: can we move our 1:1 to {WkDay}?
        M: Of course, {WkDay} works for me. ~ Yes, that's fine.
        ?T: Perfect, thank you!"""), 4),
    (scripted(
        """M: Hi Helen, I'm not feeling great today so I'm going to take a sick day. I'll keep an eye on emails if anything urgent comes up.
        T: Of course, feel better soon. ~ No problem at all, thanks for letting me know.
        ?M: Thank you.""",
        """M: Morning Helen, my train has been cancelled so I'll work from home today if that's OK?
        T: That's fine, thanks Sam. ~ No problem.""",
        """M: Hi Helen, I've got a dentist appointment at 2 tomorrow, is it OK if I make the time up later in the week?
        T: That's fine, thanks for letting me know."""), 1),
    (scripted(
        """T: Great work on the {client} pitch today. ~ Just had lovely feedback from {client} about your workshop. Well done!
        M: Thank you! The whole team put a lot into it. ~ Thanks Helen, that's really nice to hear.""",
        """T: Thanks for staying late yesterday, much appreciated.
        M: No problem, happy to help."""), 1.5),
    (scripted(
        """T: Sam, where are we with the {client} wireframes? They're asking for an update. ~ Can you give me an ETA on the onboarding flow?
        M: They should be ready by {WkDay}. I'm just finishing the last two screens. ~ I'm aiming for end of day {WkDay}. I'll let you know if anything changes. ~ Almost there. I'll send a draft this afternoon.
        T: Thanks, I'll let them know. ~ Sounds good. ~ Great, thank you."""), 2),
    (scripted(
        """T: Could you send me your details for the conference booking? ~ What's the best number to reach you on while you're at the client site?
        M: Of course. It's {phone_uk} and sam.kellett@example.com. ~ My mobile is {phone_uk}. Thanks!
        T: Thanks Sam. ~ Perfect, thank you."""), 0.5),
]


# ---- Priya (friend, Telegram): climbing partner, book club ----

PRIYA_TOPICS = [
    (scripted(
        """T: climbing tonight?? 🧗 ~ wall after work? ~ new set at {hobby_place}!!
        M: {yes} || meet you there at {time} ~ YES ~ my fingers are still recovering 🥲 || go on then
        T: see you there x ~ yesss ~ don't be late this time
        ?M: i'm never late ~ ok that was ONE time""",
        """T: climbing {day}?
        M: can't {day}, {day}? ~ i'm in
        T: {day} it is ~ 🧗"""), 4),
    (scripted(
        """T: have you finished {book} yet
        M: nearly!! no spoilers ~ haven't started it 🙈
        T: you've had a month 😂 ~ sam.""",
        """T: book club is at mine {day}, bring snacks
        M: i'll bring {bake} ~ on it
        T: perfect ~ 🙌""",
        """T: ok i need to talk about the ending of {book}
        M: THE ENDING ~ i cried on the bus
        T: i'm still not over it ~ same"""), 2),
    (scripted(
        """T: ok so you'll never guess who i saw at the market ~ did you hear about Tom and the wedding venue ~ i have NEWS
        M: who?? ~ no tell me ~ go on ~ omg what
        T: voice note incoming ~ too long to type
        ?T: <voice>
        M: NO ~ i can't believe it ~ {haha} amazing"""), 2),
    (scripted(
        """T: look at this https://www.example.com/blog/{url_id} ~ this is so us https://example.org/v/{url_id} ~ https://www.example.com/events/{url_id} we should go
        M: {haha} yes ~ i'm in ~ how much are tickets? ~ sending to Alex"""), 1.5),
    (scripted(
        """M: drinks friday? ~ brunch {day}? ~ coming to quiz thursday?
        T: yes pls ~ can't, visiting my parents 😩 ~ obviously ~ only if we go to {place}
        M: {ok} ~ next week then x ~ deal"""), 3),
    (scripted(
        """M: i have done nothing productive today ~ just fell asleep on the sofa at 8pm ~ ate a whole packet of biscuits
        T: <sticker>
        ?T: mood ~ iconic ~ same"""), 1),
    (scripted(
        """T: what's your new number again? ~ can you send me Alex's number for the surprise?
        M: {phone_uk} ~ it's {phone_uk} || don't tell them 🤫
        T: saved ~ 🤫"""), 0.4),
]


# ---- Quiz team group (Discord) ----

GROUP = ["Dev", "Tom", "Priya"]


def g_quiz_in(g: Gen) -> Convo:
    asker = g.p(GROUP + [ME])
    c = turn(asker, g.p(["who's in for quiz thursday?", "quiz tomorrow? need numbers", "quiz roll call 📋"]))
    for who in g.r.sample([ME] + GROUP, 3):
        if who == asker:
            continue
        if who == ME:
            c += turn(ME, g.p(["me!", "in ✨", "yes but might be late", "can't this week 🥲"]))
        else:
            c += turn(who, g.p(["in", "yep", "can't, work thing", "in if Tom's buying" if who != "Tom" else "in if Dev's buying", "👍"]))
    c += turn(asker, g.p(["team name this week: {team_name}", "booking a table for 4", "nice"]))
    return c


def g_quiz_result(g: Gen) -> Convo:
    c = turn(g.p(GROUP + [ME]), g.p(["we came {place_n}!! lost on the {quiz_round} round again",
                                     "{score} points, {place_n} place 🎉", "robbed on the {quiz_round} round"]))
    c += turn(ME, g.p(["i maintain that was the right answer", "we need someone who knows {quiz_round}",
                       "{haha} next week", "it was Dev's fault"]))
    c += turn(g.p(GROUP), g.p(["it was NOT", "agreed", "😂😂", "the picture round was cursed"]))
    return c


def g_football(g: Gen) -> Convo:
    c = turn("Tom", g.p(["did you see {team} last night", "{team} are killing me", "anyone want to watch {team} at {pub}?"]))
    c += turn(g.p(["Dev", ME]), g.p(["don't talk to me about it", "i'm in", "who?", "maybe"]))
    c += turn("Tom", g.p(["heathens", "pint at 7 then", "unbelievable"]))
    return c


def g_games(g: Gen) -> Convo:
    c = turn("Dev", g.p(["{game} tonight?", "anyone up for {game}", "new patch for {game} dropped"]))
    c += turn(ME, g.p(["give me 20 mins", "yes", "i'm rubbish but ok", "after tea"])) if g.chance(0.6) else []
    c += turn(g.p(["Tom", "Priya"]), g.p(["in", "not tonight", "gg already"]))
    return c


def g_meme(g: Gen) -> Convo:
    poster = g.p(GROUP + [ME])
    c = [(poster, media("photo"))]
    c += turn(g.p([x for x in GROUP + [ME] if x != poster]), g.p(["😂😂", "why is this so accurate", "stop", "dead"]))
    return c


def g_birthday(g: Gen) -> Convo:
    who = g.p(GROUP)
    c = turn(g.p([ME] + [x for x in GROUP if x != who]), f"happy birthday @{who}!! 🎂")
    c += turn(ME, g.p(["happy birthday!! 🎉", "hbd x", "drinks on you haha"])) if g.chance(0.5) else []
    c += turn(who, g.p(["thank you all ❤️", "cheers team", "ty ty"]))
    return c


def g_plans(g: Gen) -> Convo:
    c = turn(g.p(GROUP + [ME]), g.p(["{pub} saturday?", "who's around this weekend", "picnic at {place} if it's sunny?"]))
    c += turn(ME, g.p(["yes!! Alex is working so i'm free", "maybe, let me check with Alex", "count me in"]))
    c += turn(g.p(GROUP), g.p(["sorted", "booking it", "bring a frisbee"]))
    return c


GROUP_TOPICS = [(g_quiz_in, 3), (g_quiz_result, 2), (g_football, 2), (g_games, 2.5),
                (g_meme, 2), (g_birthday, 0.4), (g_plans, 2)]


# --------------------------------------------------------------------------------------
# Timing: sessions through the day, bursts, long gaps.


@dataclass(frozen=True)
class ChatSpec:
    key: str
    topics: list
    rate: Callable[[date], float]  # mean sessions that day
    hours: dict[int, float]  # start-hour weights
    topics_per_session: tuple[int, int]
    sam_style: Callable[[Gen, str], str]
    start: date = START
    members: tuple[str, ...] = ()
    media_share: float = 0.015  # random stickers/photos sprinkled in


HOLIDAYS = [(date(2023, 8, 12), date(2023, 8, 20)), (date(2024, 5, 25), date(2024, 6, 1))]


def _on_holiday(d: date) -> bool:
    return any(a <= d <= b for a, b in HOLIDAYS)


def partner_rate(d: date) -> float:
    if _on_holiday(d):
        return 0.15  # together all day: hardly any messages
    return 4.0 if d.weekday() < 5 else 2.3


def mum_rate(d: date) -> float:
    return 0.75 if d.weekday() == 6 else 0.3


def jess_rate(d: date) -> float:
    return 0.32


def boss_rate(d: date) -> float:
    return 0.0 if d.weekday() >= 5 or _on_holiday(d) else 0.45


def priya_rate(d: date) -> float:
    return 0.55 if d.weekday() < 5 else 0.4


def group_rate(d: date) -> float:
    return {2: 0.9, 3: 1.3, 4: 0.9}.get(d.weekday(), 0.5)


EVENING = {17: 3, 18: 4, 19: 4, 20: 4, 21: 3, 22: 2}
PARTNER_HOURS = {7: 3, 8: 4, 9: 1, 10: 1, 11: 1, 12: 3, 13: 3, 14: 1, 15: 1, 16: 2, 17: 4,
                 18: 3, 19: 2, 20: 2, 21: 3, 22: 3, 23: 1}
OFFICE = {8: 3, 9: 4, 10: 3, 11: 3, 12: 1, 13: 2, 14: 3, 15: 3, 16: 2, 17: 1}
DAYTIME = {9: 2, 10: 3, 11: 3, 12: 3, 13: 2, 14: 2, 15: 2, 16: 2, 17: 2, 18: 3, 19: 3, 20: 2}


def sam_partner(g: Gen, t: str) -> str:
    return sam_casual(g, t, kisses=True)


def sam_plain(g: Gen, t: str) -> str:
    return sam_casual(g, t)


SPECS = {
    "alex": ChatSpec("alex", PARTNER_TOPICS, partner_rate, PARTNER_HOURS, (1, 3), sam_partner),
    "mum": ChatSpec("mum", MUM_TOPICS, mum_rate, DAYTIME, (1, 2), sam_plain, start=date(2023, 2, 2)),
    "jess": ChatSpec("jess", JESS_TOPICS, jess_rate, EVENING, (1, 2), sam_plain, start=date(2023, 1, 20)),
    "helen": ChatSpec("helen", BOSS_TOPICS, boss_rate, OFFICE, (1, 1), sam_formal, start=date(2023, 4, 3),
                      media_share=0.0),
    "priya": ChatSpec("priya", PRIYA_TOPICS, priya_rate, EVENING, (1, 2), sam_plain, start=date(2023, 3, 14)),
    "group": ChatSpec("group", GROUP_TOPICS, group_rate, EVENING, (1, 3), sam_plain, start=date(2023, 4, 6),
                      members=tuple(GROUP)),
}


def _poisson(r: random.Random, lam: float) -> int:
    n, p, limit = 0, 1.0, pow(2.718281828459045, -lam)
    while True:
        p *= r.random()
        if p <= limit:
            return n
        n += 1


def _weighted(r: random.Random, weights: dict[int, float]) -> int:
    keys = sorted(weights)
    return r.choices(keys, [weights[k] for k in keys])[0]


def _pick_topic(g: Gen, topics, hour: int) -> Callable[[Gen], Convo]:
    fits = [(t, w) for t, w in topics if _fits(t, hour)] or topics
    return g.r.choices([t for t, _ in fits], [w for _, w in fits])[0]


def _fits(topic: Callable[[Gen], Convo], hour: int) -> bool:
    lo, hi = TOPIC_HOURS.get(topic, (0, 24))
    return lo <= hour < hi


def generate_chat(spec: ChatSpec, seed: int) -> list[Msg]:
    g = Gen(seed)
    msgs: list[Msg] = []
    clock = datetime.combine(spec.start, datetime.min.time())
    d = spec.start
    while d <= END:
        n = _poisson(g.r, spec.rate(d))
        starts = sorted(_weighted(g.r, spec.hours) * 60 + g.r.randrange(60) for _ in range(n))
        for minute in starts:
            t = datetime.combine(d, datetime.min.time()) + timedelta(minutes=minute, seconds=g.r.randrange(60))
            if t <= clock:
                t = clock + timedelta(minutes=g.r.randint(20, 90))
            session = _session(g, spec, t)
            _decorate(g, spec, session)
            clock = _stamp(g, session, t)
            msgs.extend(session)
        d += timedelta(days=1)
    return msgs


def _session(g: Gen, spec: ChatSpec, t: datetime) -> list[Msg]:
    convo: Convo = []
    if spec.key == "alex" and t.hour < 10 and g.chance(0.6):
        convo += p_morning(g)
    k = g.r.randint(*spec.topics_per_session)
    for _ in range(k):
        convo += _pick_topic(g, spec.topics, t.hour)(g)
    if spec.key == "alex" and t.hour >= 21 and g.chance(0.5):
        convo += p_goodnight(g)
    out: list[Msg] = []
    for who, text in convo:
        text = g.f(text)
        if text.startswith("<") and text.endswith(">") and text[1:-1] in {"photo", "video", "voice", "sticker", "gif"}:
            out.append(Msg(who, "", kind="media", media=text[1:-1]))
        elif text == "<call>":
            out.append(Msg(who, "", kind="call"))
        else:
            out.append(Msg(who, spec.sam_style(g, text) if who == ME else text))
    return out


def _decorate(g: Gen, spec: ChatSpec, session: list[Msg]) -> None:
    """Sprinkle deletions, edits, stray media and replies the way real chats have them."""
    for i, m in enumerate(session):
        if m.kind != "text":
            continue
        if spec.media_share and g.chance(spec.media_share):
            session[i] = Msg(m.who, "", kind="media", media=g.p(["photo", "photo", "sticker", "gif", "video"]))
        elif g.chance(0.006):
            session[i] = Msg(m.who, "", kind="deleted")
        elif g.chance(0.012) and len(m.text) > 12:
            m.edited = True
        if i and session[i - 1].who != m.who and g.chance(0.05):
            session[i].reply = True


def _stamp(g: Gen, session: list[Msg], t: datetime) -> datetime:
    prev = None
    for m in session:
        if prev is not None:
            if m.who == prev:
                t += timedelta(seconds=g.r.randint(3, 45))
            elif g.chance(0.07):
                t += timedelta(minutes=g.r.randint(20, 95), seconds=g.r.randrange(60))
            else:
                t += timedelta(seconds=g.r.randint(15, 420))
        m.ts = t
        prev = m.who
    return t


# --------------------------------------------------------------------------------------
# UK wall clock <-> UTC (the exporting machines were in Leeds).


def _last_sunday(year: int, month: int) -> date:
    d = date(year, month, 31)
    return d - timedelta(days=(d.weekday() + 1) % 7)


def uk_offset(local: datetime) -> timedelta:
    start = datetime.combine(_last_sunday(local.year, 3), datetime.min.time()) + timedelta(hours=1)
    end = datetime.combine(_last_sunday(local.year, 10), datetime.min.time()) + timedelta(hours=1)
    return timedelta(hours=1) if start <= local < end else timedelta(0)


def to_unix(local: datetime) -> int:
    return int((local - uk_offset(local)).replace(tzinfo=timezone.utc).timestamp())


# --------------------------------------------------------------------------------------
# Writers


def _hdr_android(t: datetime) -> str:
    return t.strftime("%d/%m/%Y, %H:%M - ")


def write_whatsapp_android(msgs: list[Msg], contact: str, first: datetime, g: Gen) -> str:
    lines = [_hdr_android(first) + "Messages and calls are end-to-end encrypted. No one outside of this "
             "chat, not even WhatsApp, can read or listen to them. Tap to learn more."]
    sys_at = sorted(g.r.sample(range(len(msgs)), 3))
    for i, m in enumerate(msgs):
        if i in sys_at:
            lines.append(_hdr_android(m.ts) + g.p([
                f"Your security code with {contact} changed. Tap to learn more.",
                f"{contact} changed their phone number to a new number. Tap to message or add the new number.",
                f"Your security code with {contact} changed. Tap to learn more.",
            ]))
        name = SAM_WHATSAPP if m.who == ME else contact
        if m.kind == "media":
            body = "<Media omitted>"
        elif m.kind == "deleted":
            body = "You deleted this message" if m.who == ME else "This message was deleted"
        elif m.kind == "call":
            body = g.p(["Missed voice call", "Missed voice call", "Missed video call"])
        else:
            body = m.text + (" <This message was edited>" if m.edited else "")
        lines.append(f"{_hdr_android(m.ts)}{name}: {body}")
    return "\n".join(lines) + "\n"


def _hdr_ios(t: datetime) -> str:
    h12 = t.hour % 12 or 12
    ampm = "AM" if t.hour < 12 else "PM"
    return f"[{t.month}/{t.day}/{t.strftime('%y')}, {h12}:{t.minute:02d}:{t.second:02d}\u202f{ampm}] "


IOS_MEDIA = {"photo": "image omitted", "video": "video omitted", "voice": "audio omitted",
             "sticker": "sticker omitted", "gif": "GIF omitted"}


def write_whatsapp_ios(msgs: list[Msg], contact: str, first: datetime, g: Gen) -> str:
    lines = [_hdr_ios(first) + f"{contact}: \u200eMessages and calls are end-to-end encrypted. No one "
             "outside of this chat, not even WhatsApp, can read or listen to them."]
    sys_at = set(g.r.sample(range(len(msgs)), 2))
    for i, m in enumerate(msgs):
        if i in sys_at:
            lines.append(_hdr_ios(m.ts) + f"{contact}: \u200e\u200eYour security code with {contact} changed. "
                         "\u200eTap to learn more.")
        name = SAM_WHATSAPP if m.who == ME else contact
        if m.kind == "media":
            lines.append(f"\u200e{_hdr_ios(m.ts)}{name}: \u200e{IOS_MEDIA[m.media]}")
            continue
        if m.kind == "deleted":
            body = "\u200eYou deleted this message." if m.who == ME else "\u200eThis message was deleted."
        elif m.kind == "call":
            body = "\u200eMissed voice call"
            lines.append(f"\u200e{_hdr_ios(m.ts)}{name}: {body}")
            continue
        else:
            body = m.text + (" \u200e<This message was edited>" if m.edited else "")
        lines.append(f"{_hdr_ios(m.ts)}{name}: {body}")
    return "\r\n".join("\r\n".join(line.split("\n")) for line in lines) + "\r\n"


TG_FILE_MISSING = "(File not included. Change data exporting settings to download.)"
TG_SAM_ID, TG_PRIYA_ID = 5550100731, 5550100388


def _tg_entities(text: str) -> list[dict]:
    """Split a text into Telegram entities: links, e-mails, phone numbers, the odd bold word."""
    out: list[dict] = []
    for word in _split_keep(text):
        if word.startswith(("http://", "https://")):
            out.append({"type": "link", "text": word})
        elif "@" in word and word.endswith((".com", ".org")) and not word.startswith("@"):
            out.append({"type": "email", "text": word})
        elif word.isupper() and len(word) >= 3 and word.isalpha():
            out.append({"type": "bold", "text": word})
        else:
            if out and out[-1]["type"] == "plain":
                out[-1]["text"] += word
            else:
                out.append({"type": "plain", "text": word})
    return out


def _split_keep(text: str) -> list[str]:
    parts: list[str] = []
    cur = ""
    for ch in text:
        if ch in " \n":
            if cur:
                parts.append(cur)
            parts.append(ch)
            cur = ""
        else:
            cur += ch
    if cur:
        parts.append(cur)
    return parts


def write_telegram(msgs: list[Msg], g: Gen) -> str:
    out: list[dict] = []
    mid = 1
    first = msgs[0].ts - timedelta(days=3, hours=2)
    out.append({"id": mid, "type": "service", "date": first.isoformat(), "date_unixtime": str(to_unix(first)),
                "actor": "Priya Shah", "actor_id": f"user{TG_PRIYA_ID}", "action": "joined_telegram",
                "text": "", "text_entities": []})
    last_id_by_who: dict[str, int] = {}
    for m in msgs:
        mid += 1 + (1 if g.chance(0.01) else 0)  # gaps: messages deleted before the export
        base = {"id": mid, "type": "message", "date": m.ts.isoformat(), "date_unixtime": str(to_unix(m.ts))}
        who_name, who_id = (SAM_TELEGRAM, TG_SAM_ID) if m.who == ME else ("Priya Shah", TG_PRIYA_ID)
        if m.kind == "call":
            rec = {**base, "type": "service", "actor": who_name, "actor_id": f"user{who_id}",
                   "action": "phone_call", "duration_seconds": g.r.randint(40, 1900),
                   "discard_reason": "hangup", "text": "", "text_entities": []}
            out.append(rec)
            continue
        if m.kind == "deleted":
            continue  # Telegram drops deleted messages; the id gap is all that remains
        if m.edited:
            e = m.ts + timedelta(seconds=g.r.randint(20, 300))
            base.update({"edited": e.isoformat(), "edited_unixtime": str(to_unix(e))})
        base.update({"from": who_name, "from_id": f"user{who_id}"})
        other = "priya" if m.who == ME else "sam"
        if m.reply and other in last_id_by_who:
            base["reply_to_message_id"] = last_id_by_who[other]
        if m.kind == "media":
            if m.media == "photo":
                base.update({"photo": TG_FILE_MISSING, "width": 1280, "height": g.p([960, 1706, 1280])})
            elif m.media == "voice":
                base.update({"file": TG_FILE_MISSING, "media_type": "voice_message", "mime_type": "audio/ogg",
                             "duration_seconds": g.r.randint(4, 95)})
            elif m.media == "sticker":
                base.update({"file": TG_FILE_MISSING, "thumbnail": TG_FILE_MISSING, "media_type": "sticker",
                             "sticker_emoji": g.p(["😂", "👍", "❤️", "😭", "🙈"]), "width": 512, "height": 512})
            elif m.media == "gif":
                base.update({"file": TG_FILE_MISSING, "thumbnail": TG_FILE_MISSING, "media_type": "animation",
                             "mime_type": "video/mp4", "width": 320, "height": 240, "duration_seconds": 3})
            else:
                base.update({"file": TG_FILE_MISSING, "thumbnail": TG_FILE_MISSING, "media_type": "video_file",
                             "mime_type": "video/mp4", "duration_seconds": g.r.randint(5, 60),
                             "width": 720, "height": 1280})
            base.update({"text": "", "text_entities": []})
        else:
            ents = _tg_entities(m.text)
            if len(ents) == 1 and ents[0]["type"] == "plain":
                base["text"] = m.text
            else:
                base["text"] = [e["text"] if e["type"] == "plain" else e for e in ents]
            base["text_entities"] = ents
        out.append(base)
        last_id_by_who["sam" if m.who == ME else "priya"] = mid
        if g.chance(0.002) and m.kind == "text":
            mid += 1
            out.append({"id": mid, "type": "service", "date": m.ts.isoformat(),
                        "date_unixtime": str(to_unix(m.ts)), "actor": who_name, "actor_id": f"user{who_id}",
                        "action": "pin_message", "message_id": mid - 1, "text": "", "text_entities": []})
    chat = {"name": "Priya Shah", "type": "personal_chat", "id": TG_PRIYA_ID, "messages": out}
    return json.dumps(chat, ensure_ascii=False, indent=1) + "\n"


DISCORD_EPOCH_MS = 1420070400000
DC_USERS = {
    ME: ("402291577114509312", SAM_DISCORD_NAME, SAM_DISCORD_NICK, "#3BA55C"),
    "Dev": ("288170337452523521", "devwrites", "Dev", "#5865F2"),
    "Tom": ("519904817263181824", "tombola_tom", "Tom", None),
    "Priya": ("611280015930834944", "priyashah", "Priya", "#EB459E"),
}


def _snowflake(local: datetime, seq: int) -> str:
    ms = to_unix(local) * 1000 + seq % 1000
    return str(((ms - DISCORD_EPOCH_MS) << 22) | (seq % 4096))


def _dc_time(local: datetime, ms: int) -> str:
    off = uk_offset(local)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms:03d}+{int(off.total_seconds()) // 3600:02d}:00"


def _dc_author(who: str) -> dict:
    uid, name, nick, colour = DC_USERS[who]
    return {"id": uid, "name": name, "discriminator": "0000", "nickname": nick, "color": colour,
            "isBot": False, "roles": [], "avatarUrl": f"https://cdn.discordapp.com/embed/avatars/{int(uid) % 5}.png"}


EMOJI_CODES = {"😂": ("joy", "1f602"), "❤️": ("heart", "2764"), "👍": ("thumbsup", "1f44d"),
               "🎉": ("tada", "1f389"), "💀": ("skull", "1f480")}


def write_discord(msgs: list[Msg], g: Gen) -> str:
    out: list[dict] = []
    seq = 0
    last_by_who: dict[str, str] = {}
    joins = [(msgs[0].ts - timedelta(days=1, minutes=i * 7), who) for i, who in enumerate(["Tom", "Priya", ME, "Dev"])]
    for t, who in sorted(joins):
        seq += 1
        out.append(_dc_msg(_snowflake(t, seq), "GuildMemberJoin", t, g.r.randrange(1000), "Joined the server.", who))
    for m in msgs:
        seq += 1
        ms = g.r.randrange(1000)
        sid = _snowflake(m.ts, seq)
        if m.kind == "deleted":
            continue  # Discord removes deleted messages outright
        if m.kind == "call":
            continue
        content = m.text if m.kind == "text" else g.p(["", "", "look", "lol"])
        kind = "Default"
        ref = None
        if m.reply:
            prev = [v for k, v in last_by_who.items() if k != m.who]
            if prev:
                kind, ref = "Reply", {"type": "Default", "messageId": prev[-1], "channelId": DISCORD_CHANNEL_ID,
                                      "guildId": DISCORD_GUILD_ID}
        rec = _dc_msg(sid, kind, m.ts, ms, content, m.who)
        if m.edited:
            rec["timestampEdited"] = _dc_time(m.ts + timedelta(seconds=g.r.randint(10, 200)), g.r.randrange(1000))
        if m.kind == "media":
            ext = {"photo": "png", "video": "mp4", "gif": "gif", "sticker": "png", "voice": "ogg"}[m.media]
            fname = g.p(["image", "IMG_" + str(g.r.randint(1000, 9999)), "unknown", "screenshot"]) + "." + ext
            aid = _snowflake(m.ts, seq + 7)
            rec["attachments"] = [{"id": aid, "url": f"https://cdn.discordapp.com/attachments/{DISCORD_CHANNEL_ID}/{aid}/{fname}",
                                   "fileName": fname, "fileSizeBytes": g.r.randint(40_000, 4_000_000)}]
        if g.chance(0.08):
            emoji = g.p(sorted(EMOJI_CODES))
            code, hexcode = EMOJI_CODES[emoji]
            n = g.r.randint(1, 3)
            rec["reactions"] = [{"emoji": {"id": None, "name": emoji, "code": code, "isAnimated": False,
                                           "imageUrl": f"https://cdn.jsdelivr.net/gh/twitter/twemoji@latest/assets/svg/{hexcode}.svg"},
                                 "count": n, "users": [_dc_author(w) for w in [x for x in DC_USERS if x != m.who][:n]]}]
        if "@" in content:
            rec["mentions"] = [_dc_author(w) for w in DC_USERS if w != ME and f"@{w}" in content]
        if ref:
            rec["reference"] = ref
        out.append(rec)
        last_by_who[m.who] = sid
        if g.chance(0.003):
            seq += 1
            out.append(_dc_msg(_snowflake(m.ts, seq), "ChannelPinnedMessage", m.ts, ms + 1 if ms < 999 else ms,
                               "Pinned a message.", g.p(GROUP)) | {"reference": {"type": "Default", "messageId": sid,
                                                                               "channelId": DISCORD_CHANNEL_ID,
                                                                               "guildId": DISCORD_GUILD_ID}})
    doc = {
        "guild": {"id": DISCORD_GUILD_ID, "name": DISCORD_GUILD,
                  "iconUrl": "https://cdn.discordapp.com/embed/avatars/2.png"},
        "channel": {"id": DISCORD_CHANNEL_ID, "type": "GuildTextChat", "categoryId": DISCORD_CATEGORY_ID,
                    "category": DISCORD_CATEGORY, "name": DISCORD_CHANNEL, "topic": "quiz, pub, nonsense"},
        "dateRange": {"after": None, "before": None},
        "exportedAt": _dc_time(EXPORTED_AT, 512),
        "messages": out,
        "messageCount": len(out),
    }
    return json.dumps(doc, ensure_ascii=True, indent=2) + "\n"


def _dc_msg(sid: str, kind: str, t: datetime, ms: int, content: str, who: str) -> dict:
    return {"id": sid, "type": kind, "timestamp": _dc_time(t, ms), "timestampEdited": None,
            "callEndedTimestamp": None, "isPinned": False, "content": content, "author": _dc_author(who),
            "attachments": [], "embeds": [], "stickers": [], "reactions": [], "mentions": []}


# --------------------------------------------------------------------------------------
# Assembly


def _zip_bytes(members: Iterable[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data, compresslevel=9)
    return buf.getvalue()


def build_exports() -> dict[str, bytes]:
    """Every demo export, as {path inside demo_exports.zip: bytes}. Deterministic."""
    chats = {key: generate_chat(spec, SEED + i) for i, (key, spec) in enumerate(SPECS.items())}
    g = Gen(SEED - 1)
    files: dict[str, bytes] = {}
    for key, contact in (("alex", "Alex"), ("helen", "Helen Marsh")):
        msgs = chats[key]
        text = write_whatsapp_android(msgs, contact, msgs[0].ts - timedelta(minutes=3), g)
        files[f"WhatsApp Chat with {contact}.txt"] = text.encode("utf-8")
    for key, contact in (("mum", "Mum"), ("jess", "Jess")):
        msgs = chats[key]
        text = write_whatsapp_ios(msgs, contact, msgs[0].ts - timedelta(minutes=2, seconds=11), g)
        files[f"WhatsApp Chat - {contact}.zip"] = _zip_bytes([("_chat.txt", text.encode("utf-8"))])
    files[f"{TELEGRAM_FOLDER}/result.json"] = write_telegram(chats["priya"], g).encode("utf-8")
    dc_name = f"discord/{DISCORD_GUILD} - {DISCORD_CATEGORY} - {DISCORD_CHANNEL} [{DISCORD_CHANNEL_ID}].json"
    files[dc_name] = write_discord(chats["group"], g).encode("utf-8")
    return files


def corpus_text(files: dict[str, bytes]) -> list[str]:
    """Plain message texts (no headers) to train the tokenizer on."""
    chats = {key: generate_chat(spec, SEED + i) for i, (key, spec) in enumerate(SPECS.items())}
    texts = [m.text for msgs in chats.values() for m in msgs if m.kind == "text"]
    return texts


def train_tokenizer(texts: list[str]) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, min_frequency=1, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    # Chat-template scaffolding so role words merge into tokens the trainer will see.
    scaffold = [f"<|im_start|>{role}\n" for role in ("system", "user", "assistant")] * 50
    tok.train_from_iterator(texts + scaffold, trainer=trainer)
    return tok.to_str(pretty=True) + "\n"


def build_all() -> dict[str, bytes]:
    files = build_exports()
    return {
        EXPORTS_ZIP: _zip_bytes(sorted(files.items())),
        TOKENIZER_JSON: train_tokenizer(corpus_text(files)).encode("utf-8"),
    }


def content_digest(files: dict[str, bytes]) -> str:
    """sha256 over member names and uncompressed bytes (zlib builds differ in output)."""
    h = hashlib.sha256()
    for name in sorted(files):
        data = files[name]
        h.update(name.encode() + b"\0")
        if name.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for inner in sorted(zf.namelist()):
                    h.update(inner.encode() + b"\0" + zf.read(inner))
        else:
            h.update(data)
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default: builder/sample_data)")
    ap.add_argument("--check", action="store_true", help="compare with the files in --out instead of writing")
    args = ap.parse_args(argv)
    built = build_all()
    if args.check:
        bad = [n for n, data in built.items() if not (args.out / n).is_file() or (args.out / n).read_bytes() != data]
        for n in bad:
            print(f"differs: {args.out / n}")
        return 1 if bad else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in built.items():
        tmp = args.out / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(args.out / name)
        print(f"wrote {args.out / name} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
